"""Reads one event from the team's MISP over its REST API: `GET /events/view/{id or uuid}`
with the key in `Authorization` and `Accept: application/json` (what PyMISP's
`get_event` sends).

Plain aiohttp through the sources' HTTP client, not PyMISP: one GET needs none of
PyMISP's model, PyMISP's `requests` session would block the event loop (or a thread per
call) and follows redirects unless told otherwise, and this client already gives
timeouts, a body limit and errors that never carry the request's headers. The URL the
operator configured is trusted as written (an internal MISP is the usual case);
redirects are never followed; TLS is verified unless WATCHPOST_MISP_VERIFY_TLS is off.
Every failure is a SourceError whose message says what to fix, never with the key.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from bot.core.errors import SourceError, UserInputError
from bot.monitoring.sources.http import SourceHttpClient

SOURCE = "MISP"
TIMEOUT_SECONDS = 30.0
MAX_EVENT_BYTES = 32 * 1024 * 1024  # a big event with its objects, not an export of everything
_EVENT_ID = re.compile(r"[0-9]{1,12}")
# MISP answers these with a JSON body worth reading ({"name", "message", "url"}).
_READ_STATUSES = (200, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405)


def event_reference(text: str) -> str:
    """An event id (`42`) or UUID as MISP takes it; UserInputError for anything else."""
    value = text.strip()
    if _EVENT_ID.fullmatch(value):
        return value
    if len(value) in (32, 36):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise UserInputError(
        "Say which MISP event by its number or UUID, e.g. `/monitor misp 1234` or "
        "`/monitor misp 5f8e2d1c-0b6a-4c3e-9f1d-2a7b8c9d0e1f`."
    )


class MispClient:
    """The configured MISP: `event(reference)` returns its JSON (`{"Event": {…}}`)."""

    def __init__(
        self, url: str, key: str, *, verify_tls: bool = True, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.url = url.rstrip("/")
        self.host = urlsplit(self.url).hostname or self.url
        self._http = SourceHttpClient(
            SOURCE,
            timeout=timeout,
            concurrency=2,
            headers={"Authorization": key, "Accept": "application/json", "Content-Type": "application/json"},
            max_body=MAX_EVENT_BYTES,
            verify_tls=verify_tls,
        )

    def __repr__(self) -> str:
        return f"MispClient({self.host!r})"  # never the key

    async def event(self, reference: str) -> dict[str, Any]:
        """The event named by `reference` (from `event_reference`), as MISP gives it."""
        reply = await self._http.get(
            f"{self.url}/events/view/{quote(reference, safe='')}", ok_statuses=_READ_STATUSES
        )
        if 300 <= reply.status < 400:
            raise SourceError(
                SOURCE,
                f"{self.host} answered with a redirect (HTTP {reply.status}), which is never followed: "
                "set WATCHPOST_MISP_URL to the address MISP is served at",
                transient=False,
            )
        said = _said(reply.body)
        if reply.status in (401, 403):
            raise SourceError(
                SOURCE,
                f"{self.host} refused the key (HTTP {reply.status}{said}): check WATCHPOST_MISP_KEY, and "
                "that its user may use the API and see this event",
                transient=False,
            )
        if reply.status == 404:
            raise SourceError(
                SOURCE, f"{self.host} has no event {reference} that this key may see{said}", transient=False
            )
        if reply.status != 200:
            raise SourceError(SOURCE, f"{self.host} answered HTTP {reply.status}{said}", transient=False)
        document = reply.json(SOURCE)
        if not isinstance(document, dict) or not isinstance(document.get("Event"), dict):
            raise SourceError(SOURCE, f"{self.host} answered without an event (no `Event` object)")
        return document

    async def close(self) -> None:
        await self._http.close()


def _said(body: bytes) -> str:
    """MISP's own words from an error body (`{"name", "message", "url"}`), short and plain."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    message = document.get("message") or document.get("name") if isinstance(document, dict) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    text = " ".join(message.split())[:160]
    return f": “{''.join(c for c in text if c.isprintable())}”"
