"""Where messages go, as the outbox and the digests see it: the Transport protocol (Slack's
Web API, or the terminal in console mode) and the errors a delivery can end in."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.core.message import Message


class DeliveryError(Exception):
    """The transport could not deliver. `permanent`: retrying cannot help (channel gone)."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Transport(Protocol):
    """Where messages go: Slack's Web API, or the terminal in console mode."""

    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        """Post a message; return its id (Slack's ts). Raise DeliveryError on failure."""
        ...

    async def upload_file(
        self, channel_id: str, *, thread_ts: str | None, filename: str, content: bytes, title: str
    ) -> None:
        """Attach a file (a digest CSV) to the channel, in a thread when `thread_ts` is set."""
        ...


# The metadata event type of alert messages; its payload names the outbox row.
ALERT_EVENT = "watchpost_alert"


@runtime_checkable
class MessageFinder(Protocol):
    """A transport that can tell whether a message it posted earlier is in a channel."""

    async def find_posted(
        self, channel_id: str, metadata: dict[str, Any], *, since: datetime, thread_ts: str | None = None
    ) -> str | None:
        """The id (ts) of a message posted since `since` carrying exactly this metadata,
        or None. Raise DeliveryError when the channel cannot be read right now."""
        ...


def retry_after_seconds(headers: Any) -> float:
    """Retry-After as seconds (1 when absent or unreadable); header lists or strings."""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(0.0, float(str(raw)))
            except ValueError:
                return 1.0
    return 1.0


@runtime_checkable
class MessageEditor(Protocol):
    """A transport that can edit a message it posted (Slack's chat.update)."""

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        """Replace the message's text and blocks. Raise DeliveryError on failure."""
        ...
