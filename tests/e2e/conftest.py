"""Fixtures for driving `watchpost serve` end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import FakeHttpSources
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import SlackSender


@pytest.fixture
def serve_settings() -> dict[str, str]:
    """Settings a test module adds to `bot`'s environment (override this fixture)."""
    return {}


@pytest_asyncio.fixture
async def bot(
    dns_server: FakeDnsServer,
    http_sources: FakeHttpSources,
    slack_api: FakeSlackApi,
    tmp_path: Path,
    serve_settings: dict[str, str],
) -> AsyncIterator[ServeProcess]:
    """A running `watchpost serve` on SQLite, checking every second, its Slack the fake."""
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        http_sources,
        **serve_settings,
    )
    process = ServeProcess(env, tmp_path / "serve.log")
    await process.start()
    try:
        yield process
    finally:
        try:
            await process.stop()
        finally:
            process.kill()


@pytest_asyncio.fixture
async def socket_bot(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, tmp_path: Path
) -> AsyncIterator[ServeProcess]:
    """A running `watchpost serve` in Socket Mode (no public URL, no signing secret) on
    SQLite; it must stop cleanly."""
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'socket.db'}",
        free_port(),
        SLACK_APP_TOKEN=slack_api.app_token,
        SLACK_SIGNING_SECRET="",
    )
    process = ServeProcess(env, tmp_path / "socket.log")
    await process.start()
    try:
        yield process
    finally:
        try:
            assert await process.stop() == 0
        finally:
            process.kill()


@pytest_asyncio.fixture
def slack(bot: ServeProcess, slack_api: FakeSlackApi) -> SlackSender:
    """Sends signed requests to the running bot, as Slack would."""
    return SlackSender(bot.events_url, slack_api.root)
