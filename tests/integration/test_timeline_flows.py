"""Timeline pictures through the flows and the button use case, over real storage: drawn
from the stored intervals and changes, offered by /monitor status, attached to the
investigation of a monitored indicator."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest_asyncio
from matplotlib.image import imread

from bot.commands.buttons import ButtonDispatcher, Press
from bot.commands.flows import MonitorFlows
from bot.core.results import Caller
from bot.core.text import render_text
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from tests.fakes.clock import FakeClock
from tests.fakes.conversation import Conversation
from tests.integration.test_flows import CALLER, IP, TableDataset


@pytest_asyncio.fixture
async def setup(store: Database) -> AsyncIterator[tuple[MonitorFlows, TableDataset, FakeClock]]:
    clock = FakeClock()
    dataset = TableDataset()
    async_store = store
    runner = Runner([dataset], async_store, clock=clock)
    # No outbox worker here: a check's reply need not wait for Slack to confirm its alerts.
    yield MonitorFlows(async_store, runner, clock=clock, delivery_wait=0.0), dataset, clock
    async_store.close()


def size(png: bytes) -> tuple[int, int]:
    height, width = imread(io.BytesIO(png), format="png").shape[:2]
    return width, height


async def test_timeline_command_and_status_button_draw_the_stored_history(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, clock = setup
    dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    await Conversation(flows, CALLER).say(IP)
    first = (await flows.execute(f"timeline {IP}", CALLER)).files
    for n in range(2, 8):  # new names appear, one goes away: more rows, more marks
        clock.advance(hours=6)
        dataset.facts[IP] = {("domain", f"h{m}.interfaxru.com") for m in range(n)}
        await Conversation(flows, CALLER).say(f"check {IP}")

    result = await flows.execute(f"timeline {IP}", CALLER)
    assert "Timeline of 98.126.38.107" in render_text(result.reply)
    (picture,) = result.files
    assert picture.filename.startswith("watchpost-timeline-98.126.38.107-") and picture.filename.endswith(
        ".png"
    )
    assert picture.content.startswith(b"\x89PNG") and "changes" in picture.title
    (before,) = first
    assert size(picture.content)[0] == size(before.content)[0] == 1000
    assert size(picture.content)[1] > size(before.content)[1]  # eight values drawn, not one

    status = await flows.execute(f"status {IP}", CALLER)
    (timeline_button,) = [
        e
        for b in status.reply.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "timeline"
    ]
    pressed = await ButtonDispatcher(flows).press(
        Press(timeline_button["action_id"], timeline_button["value"], CALLER, message=status.reply)
    )
    assert (
        pressed.result is not None
        and len(pressed.result.files) == 1
        and pressed.result.files[0].content.startswith(b"\x89PNG")
    )

    refused = await flows.execute("timeline 45.77.10.20", CALLER)
    assert refused.files == () and "not monitored in this channel" in render_text(refused.reply)
    elsewhere = await ButtonDispatcher(flows).press(Press("timeline", IP, Caller("T1", "C0OTHER", "U2")))
    assert elsewhere.result is not None and elsewhere.result.files == ()


async def test_investigating_a_monitored_indicator_attaches_its_timeline(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, _ = setup
    dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    await Conversation(flows, CALLER).say(IP)
    monitored = await flows.pivots.investigate(IP, team_id="T1", channel_id=CALLER.channel_id)
    assert monitored.public and len(monitored.files) == 1
    unmonitored = await flows.pivots.investigate(
        "www.interfaxru.com", team_id="T1", channel_id=CALLER.channel_id
    )
    assert unmonitored.public and unmonitored.files == ()
