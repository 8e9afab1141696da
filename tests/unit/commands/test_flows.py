"""The one dispatcher's table: every /monitor command reaches a use case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

import pytest
from sqlalchemy import create_engine

from bot.commands.flows import MonitorFlows
from bot.commands.grammar import Command
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
