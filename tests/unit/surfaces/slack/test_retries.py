"""Each request Slack delivers is served once: its identity, the memory, the middleware."""

from __future__ import annotations

from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.surfaces.slack.retries import (
    REMEMBER_SECONDS,
    ProcessMemory,
    first_delivery,
    once_per_request,
    request_identity,
)

EVENT = {
    "type": "event_callback",
    "team_id": "T0WATCH",
    "event_id": "Ev0H0MEOPEN1",
    "event_time": 1733480000,
    "event": {"type": "app_home_opened", "user": "U0ANALYST", "tab": "home", "event_ts": "1733480000.1"},
}


def test_a_request_is_known_by_what_slack_keeps_across_deliveries() -> None:
    assert request_identity(EVENT) == "event:Ev0H0MEOPEN1"
    click = {"type": "block_actions", "trigger_id": "1337.4242.abc", "actions": [{"action_id": "ack"}]}
    assert request_identity(click) == "trigger:1337.4242.abc"
    submission = {"type": "view_submission", "trigger_id": "1337.77.def", "view": {"id": "V1"}}
    assert request_identity(submission) == "trigger:1337.77.def"
    command = {"command": "/monitor", "text": "evil.com", "trigger_id": "1337.99.fed"}
    assert request_identity(command) == "trigger:1337.99.fed"
    assert request_identity({"type": "url_verification", "challenge": "x"}) is None
    assert request_identity({"ssl_check": "1", "token": "t"}) is None


async def test_the_memory_forgets_long_after_slacks_last_retry() -> None:
    now = [1_800_000_000.0]
    memory = ProcessMemory(clock=lambda: now[0])
    assert await first_delivery(memory, "event:Ev1")
    now[0] += 6 * 60 + 30  # Slack's third retry comes about six minutes after the first delivery
    assert not await first_delivery(memory, "event:Ev1")
    assert await first_delivery(memory, "event:Ev2")
    now[0] += REMEMBER_SECONDS
    assert await first_delivery(memory, "event:Ev1")


class AwayMemory:
    async def first_sight(self, signature: str, stamp: int) -> bool:
        raise ConnectionError("database away")

    def close(self) -> None:
        pass


async def test_a_memory_that_cannot_be_asked_serves_the_request() -> None:
    assert await first_delivery(AwayMemory(), "event:Ev1")


async def served(middleware: Any, body: dict[str, Any], headers: dict[str, str]) -> tuple[bool, BoltResponse]:
    """Run the middleware on one request: whether it let it on, and what it answered."""
    passed: list[bool] = []

    async def next_() -> None:
        passed.append(True)

    request = AsyncBoltRequest(mode="socket_mode", body=body, headers=headers)
    answered = await middleware(body=body, request=request, response=BoltResponse(status=200), next_=next_)
    return bool(passed), answered


async def test_a_redelivered_event_is_answered_and_goes_no_further() -> None:
    middleware = once_per_request(ProcessMemory())
    assert (await served(middleware, EVENT, {}))[0]
    let_on, answer = await served(
        middleware, EVENT, {"x-slack-retry-num": "1", "x-slack-retry-reason": "timeout"}
    )
    assert not let_on and answer.status == 200 and answer.body == ""
    other = {**EVENT, "event_id": "Ev0H0MEOPEN2"}
    assert (await served(middleware, other, {}))[0]
    challenge = {"type": "url_verification", "challenge": "abc"}
    assert (await served(middleware, challenge, {}))[0] and (await served(middleware, challenge, {}))[0]
