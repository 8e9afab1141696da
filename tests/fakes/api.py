"""The bot's HTTP server (API, /metrics, /healthz) in-process over real storage, driven
over HTTP with aiohttp's test client. Checks run against a table-backed dataset the
test edits; the clock is a FakeClock; alerts go to a RecordingTransport.

`make_api(**settings)` builds one (several per test are fine); `api` is the default."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.composition import Services, build_services
from bot.config import ApiToken, Settings
from bot.core.metrics import Metrics
from bot.core.observations import Fact, IndicatorKind, Observation
from bot.server import build_web_app
from tests.fakes.clock import FakeClock
from tests.fakes.transport import RecordingTransport

TOKEN = "soar-token-5d2c8e41f0a7b3"
OTHER_TOKEN = "script-token-9e7a61c2d4"
TEAM = "T0WATCH"


class TableDataset:
    """`resolutions` from a table the test edits: indicator -> {(field, value)}; an
    indicator in `failing` gets an error from that source instead."""

    name = "resolutions"

    def __init__(self) -> None:
        self.facts: dict[str, set[tuple[str, str]]] = {}
        self.failing: dict[str, str] = {}

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if indicator in self.failing:
            return Observation.error(self.name, self.failing[indicator], "HTTP 503 Service Unavailable")
        facts = frozenset(Fact(f, v, "mnemonic") for f, v in self.facts.get(indicator, set()))
        return Observation(self.name, facts, frozenset({"A", "domain"}))


@dataclass
class ApiHarness:
    services: Services
    client: TestClient[Any, Any]
    dataset: TableDataset
    clock: FakeClock
    transport: RecordingTransport
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = TOKEN,
        json: Any = None,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.client.request(
            method, path, headers=headers, json=json, params=params, data=data
        ) as response:
            body = (
                await response.json()
                if response.content_type == "application/json"
                else await response.text()
            )
            return response.status, body

    async def run_checks(self) -> None:
        """What the scheduler's next tick does: check every due subject, wait for them."""
        await self.services.dispatcher.tick()
        await self.services.dispatcher.drain()

    async def change(self, indicator: str, *facts: tuple[str, str]) -> None:
        """`indicator` now resolves to `facts`; a check an interval later records the change."""
        self.dataset.facts[indicator] = set(facts)
        # Past the next check wherever the subject's phase puts it: up to one and a half
        # intervals after the last claim (bot/monitoring/store/cadence.py).
        self.clock.advance(seconds=self.services.settings.check_interval * 1.5 + 1)
        await self.run_checks()


MakeApi = Callable[..., Awaitable[ApiHarness]]


@pytest_asyncio.fixture
async def make_api(database_url: str) -> AsyncIterator[MakeApi]:
    made: list[ApiHarness] = []

    async def make(**overrides: Any) -> ApiHarness:
        settings = replace(
            Settings(
                database_url=database_url,
                api_tokens=(ApiToken("soar", TOKEN), ApiToken("script", OTHER_TOKEN)),
                api_rate_limit=100_000,
                check_interval=3600,
            ),
            **overrides,
        )
        clock = FakeClock()
        dataset = TableDataset()
        transport = RecordingTransport()
        services = build_services(settings, transport, clock=clock, datasets=[dataset], metrics=Metrics())
        client: TestClient[Any, Any] = TestClient(TestServer(build_web_app(None, services)))
        await client.start_server()
        harness = ApiHarness(services, client, dataset, clock, transport)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.client.close()
        await harness.services.aclose()


@pytest_asyncio.fixture
async def api(make_api: MakeApi) -> ApiHarness:
    return await make_api()
