"""What a use case is asked with (`Caller`) and answers (`CommandResult`): the values every
surface (Slack, the console, the REST API) exchanges with bot/commands/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.message import FileUpload, Message

FollowUp = Callable[[], Awaitable[list[Message]]]


@dataclass(frozen=True)
class Caller:
    """Who asks, and where. `trusted` callers (an API token) may change any monitor, as
    an admin may; their `user_id` names the token (`api:<name>`)."""

    team_id: str
    channel_id: str
    user_id: str
    trusted: bool = False


@dataclass(frozen=True)
class CommandResult:
    """`reply` answers at once (Slack's 3-second window); `follow_up`, when set, does the
    slow part (checks) and returns what to show after it. `public` replies are said in
    the channel (who muted what), the rest only to the user."""

    reply: Message
    follow_up: FollowUp | None = None
    public: bool = False
    # Files that go with the reply (a timeline picture): the surface uploads them to the
    # channel, or to the thread the reply goes to; the console saves them.
    files: tuple[FileUpload, ...] = ()
