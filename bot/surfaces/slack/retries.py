"""Each request from Slack served once, however often Slack delivers it.

Slack redelivers an Events API event it thinks was not taken (HTTP: the same body with
`X-Slack-Retry-Num`, freshly signed; Socket Mode: a new envelope with `retry_attempt`),
nearly at once, after a minute and after five. A redelivery keeps its `event_id`; a
slash command, a click and a modal submission keep their `trigger_id`, unique to the
person's one gesture. That identity is what is remembered here, in the memory every
process shares when there is one (bot/surfaces/slack/front.py, `SharedReplayMemory`), so a
redelivery that reaches another process is dropped too. The same Bolt middleware runs in
HTTP mode and in Socket Mode; slash commands, which bypass Bolt in both modes, ask the
same memory with the same key through their one entry (bot/surfaces/slack/front.py).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

# Slack's last retry comes some six minutes after the first delivery: remembered well past it.
REMEMBER_SECONDS = 20 * 60
# The shared memory forgets a key once its stamp is five minutes old; a stamp this far
# ahead keeps it for REMEMBER_SECONDS.
_SHARED_WINDOW = 300


class RequestMemory(Protocol):
    async def first_sight(self, signature: str, stamp: int) -> bool: ...

    def close(self) -> None: ...


class ProcessMemory:
    """The memory of one process (SQLite: one `watchpost serve` serves Slack): the keys
    seen in the last REMEMBER_SECONDS."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when first seen

    async def first_sight(self, signature: str, stamp: int) -> bool:
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now - REMEMBER_SECONDS:
            self._seen.popitem(last=False)
        if signature in self._seen:
            return False
        self._seen[signature] = now
        return True

    def close(self) -> None:
        self._seen.clear()


def request_identity(body: dict[str, Any]) -> str | None:
    """What stays the same across Slack's deliveries of one request: an event's
    `event_id`, else the `trigger_id` of a command, click or submission. None for what has
    neither (the URL challenge, an ssl_check): always served."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    trigger = body.get("trigger_id")
    if trigger:
        return f"trigger:{trigger}"
    return None


async def first_delivery(memory: RequestMemory, key: str, *, now: float | None = None) -> bool:
    """Whether no process has served the request `key` before. If the memory cannot be
    asked (the database is away), the request is served: twice is better than never."""
    stamp = int(time.time() if now is None else now) + REMEMBER_SECONDS - _SHARED_WINDOW
    try:
        return await memory.first_sight(key, stamp)
    except Exception as exc:
        log.warning("Slack redeliveries not checked (%s): serving the request", exc.__class__.__name__)
        return True


def once_per_request(memory: RequestMemory) -> Callable[..., Awaitable[BoltResponse]]:
    """Bolt middleware: a request already served is answered 200 (so Slack stops
    redelivering) and goes no further."""

    async def served_once(
        body: dict[str, Any],
        request: AsyncBoltRequest,
        response: BoltResponse,
        next_: Callable[[], Awaitable[None]],
    ) -> BoltResponse:
        key = request_identity(body)
        if key is None or await first_delivery(memory, key):
            await next_()
            return response
        retry = request.headers.get("x-slack-retry-num", ["?"])
        reason = request.headers.get("x-slack-retry-reason", [""])
        log.info(
            "Slack delivered %s again (retry %s%s): served once already, dropped",
            key,
            retry[0] if retry else "?",
            f", {reason[0]}" if reason and reason[0] else "",
        )
        return BoltResponse(status=200, body="")

    return served_once
