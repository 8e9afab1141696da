"""The HTTP front's two decisions: what is a slash command (answered at once), and when
the work of answered commands starts (once the burst they came in is answered)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from bot.surfaces.slack.front import AfterAnswers, slash_command_fields

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_a_slash_command_form_is_read_as_bolt_reads_it() -> None:
    body = urlencode({"command": "/monitor", "text": "evil[.]com", "response_url": "https://hooks.test/1"})
    fields = slash_command_fields(body.encode(), FORM)
    assert fields == {"command": "/monitor", "text": "evil[.]com", "response_url": "https://hooks.test/1"}
    empty_text = slash_command_fields(b"command=%2Fmonitor&text=", FORM)
    assert empty_text == {"command": "/monitor", "text": ""}


def test_buttons_events_and_malformed_bodies_are_not_slash_commands() -> None:
    button = urlencode({"payload": '{"type": "block_actions"}'}).encode()
    assert slash_command_fields(button, FORM) is None
    both = urlencode({"payload": "{}", "command": "/monitor"}).encode()
    assert slash_command_fields(both, FORM) is None  # an interactive payload goes to Bolt
    assert slash_command_fields(b'{"type": "event_callback"}', {"Content-Type": "application/json"}) is None
    assert slash_command_fields(b"command=%2Fmonitor", {}) is None  # no form content type
    assert slash_command_fields(b"\xff\xfe", FORM) is None  # not UTF-8: Bolt answers it


async def test_work_waits_until_requests_stop_arriving() -> None:
    started: list[str] = []
    after = AfterAnswers(quiet=0.2, longest=5.0)

    async def work(name: str) -> None:
        started.append(name)

    after.arrived()
    after.later(lambda: work("first"))
    for _ in range(8):  # a burst still coming in: nothing starts
        await asyncio.sleep(0.03)
        after.arrived()
        assert started == []
    await asyncio.sleep(0.6)
    assert started == ["first"]


async def test_a_steady_stream_of_requests_holds_work_back_only_so_long() -> None:
    started: list[float] = []
    after = AfterAnswers(quiet=0.2, longest=0.3)
    loop = asyncio.get_running_loop()
    queued_at = loop.time()

    async def work() -> None:
        started.append(loop.time() - queued_at)

    after.later(work)
    while loop.time() - queued_at < 1.5:  # a request every 20 ms, never 200 ms of quiet
        after.arrived()
        await asyncio.sleep(0.02)
    assert len(started) == 1 and started[0] < 1.2  # it started while requests kept coming


async def test_drain_runs_what_was_answered_and_stops_what_outlives_the_grace() -> None:
    done: list[str] = []
    after = AfterAnswers(quiet=10.0, longest=10.0)

    async def quick() -> None:
        done.append("quick")

    async def endless() -> None:
        await asyncio.sleep(60)
        done.append("endless")

    after.later(quick)
    after.later(endless)
    await asyncio.wait_for(after.drain(grace=0.2), 5)
    assert done == ["quick"]


async def test_one_failing_command_does_not_stop_the_others() -> None:
    done: list[str] = []
    after = AfterAnswers(quiet=0.01, longest=0.05)

    async def broken() -> None:
        raise RuntimeError("bug")

    async def fine() -> None:
        done.append("fine")

    after.later(broken)
    after.later(fine)
    await asyncio.sleep(0.2)
    assert done == ["fine"]
