"""The one dispatcher: every /monitor command reaches a use case through its table, and a
failure, the command's or its follow-up's, is answered with an apology naming an incident."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import get_args

import pytest
from sqlalchemy import create_engine

from bot.commands.flows import MonitorFlows
from bot.commands.grammar import Command
from bot.core.results import Caller
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from tests.fakes.clock import FakeClock


@pytest.fixture
def flows() -> Iterator[MonitorFlows]:
    db = Database(create_engine("sqlite://"))  # never read: only the table is looked at
    clock = FakeClock()
    try:
        yield MonitorFlows(db, Runner([], db, clock=clock), clock=clock)
    finally:
        db.close()


@pytest.mark.parametrize("command", get_args(Command), ids=lambda kind: kind.__name__)
def test_flows_every_command_has_a_route(flows: MonitorFlows, command: type) -> None:
    assert flows.routes[command].command is command


def test_flows_routes_nothing_but_commands(flows: MonitorFlows) -> None:
    assert set(flows.routes) == set(get_args(Command))


CALLER = Caller("T1", "C1", "U0ANALYST")


async def test_flows_a_failing_command_is_answered_with_an_incident(
    flows: MonitorFlows, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        result = await flows.execute("list", CALLER)  # the database has no tables
    assert "Sorry, something went wrong on our side (incident `" in result.reply.text
    [record] = caplog.records
    assert record.getMessage().startswith("command failed (incident ")
    assert record.getMessage()[-9:-1] in result.reply.text


class BrokenDigests:
    async def post_digest_now(self, team_id: str, channel_id: str) -> str:
        raise RuntimeError("SMTP on fire")


async def test_flows_a_failing_follow_up_is_answered_with_an_incident(flows: MonitorFlows) -> None:
    flows.digests = BrokenDigests()
    result = await flows.execute("digest", CALLER)
    assert result.reply.text == "Posting today's digest for this channel…"
    assert result.follow_up is not None
    [apology] = await result.follow_up()
    assert "Sorry, something went wrong on our side (incident `" in apology.text
