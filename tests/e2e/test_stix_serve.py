"""STIX 2.1 end to end: the real `watchpost serve` with WATCHPOST_WEBHOOK_FORMAT=stix, its DNS
the loopback fake. A change becomes one signed STIX bundle on the webhook, valid under the
OASIS validator, and the API answers the same bundle for the alert when asked for STIX."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi, eventually
from tests.fakes.stix import one, relationships, validate_bundle
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

TOKEN = "e2e-stix-token-5c2e8a91d4"
DOMAIN = "evil-infra.com"
STIX = "application/stix+json;version=2.1"


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
        WATCHPOST_WEBHOOK_URL=webhook_receiver.url("opencti"),
        WATCHPOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
        WATCHPOST_WEBHOOK_FORMAT="stix",
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


async def test_stix_webhook_and_api_end_to_end(
    served: ServeProcess, dns_server: FakeDnsServer, webhook_receiver: WebhookReceiver
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = f"{served.url}/api/v1"
    dns_server.set(DOMAIN, "A", ["45.77.10.20"])
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{api}/monitors", headers=auth, json={"channel": "C0CTI", "indicators": [DOMAIN]}
        ) as response:
            assert response.status == 201

        async def baseline() -> bool:
            async with http.get(f"{api}/indicators/{DOMAIN}", headers=auth) as response:
                state = await response.json()
            return any(d["baseline_at"] for d in state["datasets"] if d["dataset"] == "resolutions")

        await eventually(baseline)
        dns_server.set(DOMAIN, "A", ["45.77.10.20", "98.126.38.107"])

        async def delivered() -> bool:
            return bool(webhook_receiver.accepted)

        await eventually(delivered)
        [delivery] = webhook_receiver.accepted.values()
        assert delivery.valid and delivery.headers["Content-Type"] == STIX
        bundle = validate_bundle(delivery.body)
        assert one(bundle, "indicator")["pattern"] == f"[domain-name:value = '{DOMAIN}']"
        assert relationships(bundle) == {("resolves-to", DOMAIN, "98.126.38.107")}
        [extension] = one(bundle, "sighting")["extensions"].values()

        async with http.get(
            f"{api}/alerts/{extension['alert_id']}", headers={**auth, "Accept": STIX}
        ) as response:
            assert response.status == 200 and response.headers["Content-Type"] == STIX
            assert await response.json(content_type=None) == bundle
