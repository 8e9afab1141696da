"""One path for slash commands: a signed HTTP request and a Socket Mode envelope reach the
same entry (bot/surfaces/slack/front.py), in one process with the real Slack app, services and
storage, the Socket Mode connection to the fake Slack: one replay memory drops a command
whichever transport redelivers it, and one drain finishes what either acknowledged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest_asyncio
from aiohttp import web

from bot.composition import Services, build_services
from bot.config import Secret, Settings, parse_host_port
from bot.server import build_web_app, slash_command_entry
from bot.surfaces.slack.app import create_app
from bot.surfaces.slack.front import AfterAnswers, SlashCommandEntry
from bot.surfaces.slack.retries import ProcessMemory
from bot.surfaces.slack.socket_mode import CommandsFirstSocketModeHandler
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from tests.e2e.slack_bot import free_port
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender


@dataclass
class BothTransports:
    services: Services
    commands: SlashCommandEntry
    socket: CommandsFirstSocketModeHandler
    http: SlackSender


@pytest_asyncio.fixture
async def both(
    tmp_path: Path, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> AsyncIterator[BothTransports]:
    """HTTP mode and Socket Mode at once, as `watchpost serve` builds either: one entry."""
    settings = Settings(
        slack_bot_token=Secret(slack_api.token),
        slack_signing_secret=Secret(SIGNING_SECRET),
        slack_app_token=Secret(slack_api.app_token),
        slack_api_url=slack_api.base_url,
        database_url=f"sqlite:///{tmp_path / 'watchpost.db'}",
        dns_nameservers=(parse_host_port(dns_server.nameserver, 53),),
        dns_timeout=1.0,
        command_rate=0,
    )
    client = build_web_client(settings, timeout=5)
    services = build_services(settings, SlackTransport(client), datasets=[])
    seen = ProcessMemory()
    commands = slash_command_entry(services, AfterAnswers(), seen)
    app = create_app(settings, services.slack_deps(), client=client, seen=seen)
    runner = web.AppRunner(build_web_app(app, services, None, commands), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    socket = CommandsFirstSocketModeHandler(
        app, settings.slack_app_token.reveal(), web_client=client, commands=commands
    )
    await socket.connect_async()  # type: ignore[no-untyped-call]
    try:
        yield BothTransports(
            services, commands, socket, SlackSender(f"http://127.0.0.1:{port}/slack/events", slack_api.root)
        )
    finally:
        await runner.cleanup()
        await socket.close_async()
        await commands.after.drain()
        await services.aclose()


def envelope(envelope_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": fields,
    }


async def test_a_command_redelivered_over_socket_mode_is_dropped_by_the_memory_http_asked(
    both: BothTransports, slack_api: FakeSlackApi
) -> None:
    over_http = both.http.slash_command("98.126.38.107")
    assert (await both.http.send(over_http)).status == 200
    [trigger] = parse_qs(over_http.body.decode())["trigger_id"]
    # The same command (its trigger) in an envelope, replies going elsewhere; and a new one.
    again = {**both.http.command_fields("98.126.38.107", "socket-again"), "trigger_id": trigger}
    fresh = both.http.command_fields("98.126.38.108", "socket-fresh")
    await slack_api.socket_send(envelope("env-again", again))
    await slack_api.socket_send(envelope("env-fresh", fresh))
    await slack_api.wait_for(
        lambda: {"env-again", "env-fresh"} <= slack_api.socket_acks.keys(), what="the acks"
    )

    # Shutting down as `watchpost serve` does: the socket closes, then one drain for both.
    await both.socket.close_async()
    await both.commands.after.drain()
    assert "Now monitoring `98.126.38.107`" in slack_api.responses_to(over_http.response_key or "")[0].text
    assert "Now monitoring `98.126.38.108`" in slack_api.responses_to("socket-fresh")[0].text
    assert slack_api.responses_to("socket-again") == []
