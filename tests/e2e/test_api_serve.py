"""The REST API, webhooks and metrics end to end: the real `watchpost serve`, configured
as an operator would (named tokens, a webhook URL and secret), driven over HTTP as a
SOAR would, its DNS the loopback fake, its Slack the fake Web API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import TEAM_ID, FakeSlackApi, eventually
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

TOKEN = "e2e-soar-token-7f3a9c1d5b"
DOMAIN = "evil-infra.com"
CHANNEL = "C0SOAR"


@pytest_asyncio.fixture
async def served(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> AsyncIterator[ServeProcess]:
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        WATCHPOST_API_TOKENS=f"soar={TOKEN}",
        WATCHPOST_WEBHOOK_URL=webhook_receiver.url("soar"),
        WATCHPOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    process = ServeProcess(env, tmp_path / "serve.log")
    await process.start()
    try:
        yield process
    finally:
        try:
            assert await process.stop() == 0
        finally:
            process.kill()


async def test_api_webhook_and_metrics_end_to_end(
    served: ServeProcess,
    dns_server: FakeDnsServer,
    slack_api: FakeSlackApi,
    webhook_receiver: WebhookReceiver,
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = f"{served.url}/api/v1"
    dns_server.set(DOMAIN, "A", ["45.77.10.20"])
    async with aiohttp.ClientSession() as http:

        async def get(path: str, **params: str) -> Any:
            async with http.get(f"{api}{path}", headers=auth, params=params) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        async with http.post(
            f"{api}/monitors",
            headers=auth,
            json={"channel": CHANNEL, "indicators": [f"hxxps://{DOMAIN[:-4]}[.]com/x"]},
        ) as response:
            assert response.status == 201 and (await response.json())["added"] == [DOMAIN]

        async def delivered() -> bool:
            return bool(webhook_receiver.accepted)

        async def baseline() -> bool:
            state = await get(f"/indicators/{DOMAIN}")
            return any(d["baseline_at"] for d in state["datasets"] if d["dataset"] == "resolutions")

        await eventually(baseline)
        assert (await get("/alerts"))["alerts"] == []

        dns_server.set(DOMAIN, "A", ["45.77.10.20", "98.126.38.107"])
        await eventually(delivered)
        [delivery] = webhook_receiver.accepted.values()
        assert delivery.valid and delivery.json["alert"]["indicator"] == DOMAIN
        assert {c["new_value"] for c in delivery.json["alert"]["changes"]} == {"98.126.38.107"}
        await slack_api.wait_for(lambda: slack_api.posted(CHANNEL), what="the Slack alert")

        page = await get("/alerts", channel=CHANNEL)
        assert [a["id"] for a in page["alerts"]] == [delivery.json["alert"]["id"]]
        monitors = await get("/monitors", channel=CHANNEL)
        assert monitors["monitors"][0]["created_by"] == "api:soar"
        assert monitors["monitors"][0]["team"] == TEAM_ID  # the bot's workspace, from auth.test

        async with http.get(f"{served.url}/metrics") as response:
            metrics = await response.text()
    assert 'watchpost_checks_total{dataset="resolutions",outcome="ok"}' in metrics
    assert 'watchpost_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics
    assert TOKEN not in metrics and WEBHOOK_SECRET not in metrics
    assert TOKEN not in served.log() and WEBHOOK_SECRET not in served.log()
