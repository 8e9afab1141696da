"""Socket Mode's slash commands: the envelope acknowledged before any work, then the one
entry HTTP mode uses (its replay memory, its wait for the answers, its drain)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.surfaces.slack.front import AfterAnswers, SlashCommandEntry
from bot.surfaces.slack.retries import ProcessMemory
from bot.surfaces.slack.socket_mode import CommandsFirstSocketModeHandler

FIELDS = {"command": "/monitor", "text": "evil[.]com", "trigger_id": "1337.42.abc", "response_url": "x"}


@dataclass
class Recorder:
    """What happened, in order: envelopes acknowledged and commands taken."""

    events: list[str] = field(default_factory=list)
    taken: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.events.append(f"ack {response.envelope_id}")

    async def take(self, key: str, fields: dict[str, Any]) -> None:
        self.events.append(f"take {key} {fields['text']}")
        self.taken.set()


@dataclass
class Socket:
    handler: CommandsFirstSocketModeHandler
    entry: SlashCommandEntry
    seen: Recorder

    async def deliver(self, envelope_id: str, payload: dict[str, Any]) -> None:
        request = SocketModeRequest(type="slash_commands", envelope_id=envelope_id, payload=payload)
        await self.handler.handle(self.seen, request)  # type: ignore[arg-type]


def socket_with(memory: Any, seen: Recorder) -> Socket:
    entry = SlashCommandEntry(seen.take, AfterAnswers(quiet=0.2, longest=0.5), memory, handed_over=False)
    client = AsyncWebClient(token="xoxb-test", base_url="http://127.0.0.1:9/")
    app = AsyncApp(client=client, signing_secret="secret")
    handler = CommandsFirstSocketModeHandler(app, "xapp-test", web_client=client, commands=entry)
    return Socket(handler, entry, seen)


@pytest_asyncio.fixture
async def socket() -> AsyncIterator[Socket]:
    made = socket_with(ProcessMemory(), Recorder())
    try:
        yield made
    finally:
        await made.handler.close_async()


async def test_socket_mode_command_is_acknowledged_before_its_work_starts(socket: Socket) -> None:
    await socket.deliver("env-1", FIELDS)
    assert socket.seen.events == ["ack env-1"]  # acknowledged; the work waits for the answers
    await asyncio.wait_for(socket.seen.taken.wait(), 5)
    assert socket.seen.events == ["ack env-1", "take trigger:1337.42.abc evil[.]com"]


async def test_socket_mode_redelivery_is_dropped_by_the_replay_memory_http_asks(socket: Socket) -> None:
    await socket.deliver("env-1", FIELDS)
    await socket.deliver("env-2", {**FIELDS, "text": "again"})  # a new envelope, the same trigger
    other = {**FIELDS, "trigger_id": "1337.43.def", "text": "other"}
    await socket.entry.take(other, delivery="v0=signature")  # as HTTP mode hands it in
    await socket.entry.take({**other, "text": "http again"}, delivery="v0=resigned")
    await socket.entry.after.drain(grace=5)
    assert socket.seen.events == [
        "ack env-1",
        "ack env-2",  # Slack is answered either way
        "take trigger:1337.42.abc evil[.]com",
        "take trigger:1337.43.def other",
    ]


async def test_socket_mode_command_without_identity_is_keyed_by_its_delivery(socket: Socket) -> None:
    bare = {key: value for key, value in FIELDS.items() if key != "trigger_id"}
    await socket.deliver("env-1", bare)
    await socket.deliver("env-2", bare)
    await socket.entry.after.drain(grace=5)
    taken = [event.split()[1] for event in socket.seen.events if event.startswith("take")]
    assert len(taken) == 2 and all(key.startswith("socket:") for key in taken) and taken[0] != taken[1]


@dataclass
class HeldMemory:
    """A replay memory that answers only when let go (a database slow to answer)."""

    asked: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def first_sight(self, signature: str, stamp: int) -> bool:
        self.asked.set()
        await self.go.wait()
        return True

    def close(self) -> None:
        pass


async def test_closing_lets_acknowledged_commands_reach_the_drain() -> None:
    memory, seen = HeldMemory(), Recorder()
    socket = socket_with(memory, seen)
    delivering = asyncio.create_task(socket.deliver("env-1", FIELDS))
    await asyncio.wait_for(memory.asked.wait(), 5)
    assert seen.events == ["ack env-1"]
    closing = asyncio.create_task(socket.handler.close_async())
    # The connection closes; closing waits for the command on its way to the entry.
    finished, _ = await asyncio.wait([closing], timeout=0.3)
    assert socket.handler.client.closed and not finished
    memory.go.set()
    await asyncio.wait_for(closing, 5)
    await delivering
    await socket.entry.after.drain(grace=5)
    assert seen.events == ["ack env-1", "take trigger:1337.42.abc evil[.]com"]


class Disconnected(Recorder):
    async def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        raise ConnectionResetError("closed")


async def test_a_command_whose_ack_was_not_sent_is_not_taken() -> None:
    seen = Disconnected()
    socket = socket_with(ProcessMemory(), seen)
    try:
        with pytest.raises(ConnectionResetError):  # slack_sdk logs it; Slack tells the user
            await socket.deliver("env-1", FIELDS)
        await socket.entry.after.drain(grace=5)
        assert seen.events == []
    finally:
        await socket.handler.close_async()
