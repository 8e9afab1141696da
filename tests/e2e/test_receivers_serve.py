"""MISP and TheHive end to end: the real `watchpost serve`, configured as an operator
would (WATCHPOST_MISP_*, WATCHPOST_THEHIVE_*), its DNS the loopback fake; one change of a
monitored domain reaches MISP (a sighting and the new address in the monitor's own event)
and TheHive (one alert) exactly once, across a 500 from MISP, both receivers storing the
write and then going silent, and the bot killed with SIGKILL right then and restarted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from sqlalchemy import bindparam, create_engine, text

from bot.storage.models import UtcDateTime
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.misp_receiver import MISP_KEY, FakeMisp
from tests.fakes.slack_api import TEAM_ID, FakeSlackApi, eventually
from tests.fakes.thehive import THEHIVE_KEY, FakeTheHive

TOKEN = "e2e-receivers-token-3b7e1f"
DOMAIN = "evil-infra.com"
NEW_ADDRESS = "98.126.38.107"
CHANNEL = "C0CASE"


@pytest_asyncio.fixture
async def served(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, misp: FakeMisp, thehive: FakeTheHive, tmp_path: Path
) -> AsyncIterator[ServeProcess]:
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        WATCHPOST_API_TOKENS=f"soar={TOKEN}",
        WATCHPOST_MISP_URL=misp.url,
        WATCHPOST_MISP_KEY=MISP_KEY,
        WATCHPOST_THEHIVE_URL=thehive.url,
        WATCHPOST_THEHIVE_KEY=THEHIVE_KEY,
    )
    process = ServeProcess(env, tmp_path / "serve.log")
    await process.start()
    try:
        yield process
    finally:
        process.kill()


def deliveries(db: Path) -> list[Any]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT receiver, delivered_at IS NOT NULL, attempts FROM receiver_deliveries")
                )
            )
    finally:
        engine.dispose()


def expire_leases(db: Path) -> None:
    """Time passes: the dead process's 60 s leases run out."""
    engine = create_engine(f"sqlite:///{db}")
    query = text(
        "UPDATE receiver_deliveries SET claimed_until = :past"
        " WHERE delivered_at IS NULL AND claimed_until IS NOT NULL"
    ).bindparams(bindparam("past", type_=UtcDateTime))
    try:
        with engine.begin() as connection:
            connection.execute(query, {"past": datetime.now(UTC) - timedelta(seconds=1)})
    finally:
        engine.dispose()


async def test_receivers_serve_each_alert_reaches_misp_and_thehive_once_across_a_kill(
    served: ServeProcess,
    dns_server: FakeDnsServer,
    misp: FakeMisp,
    thehive: FakeTheHive,
    tmp_path: Path,
) -> None:
    db = tmp_path / "serve.db"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    dns_server.set(DOMAIN, "A", ["45.77.10.20"])
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{served.url}/api/v1/monitors", headers=auth, json={"channel": CHANNEL, "indicators": [DOMAIN]}
        ) as response:
            assert response.status == 201

        async def baseline() -> bool:
            async with http.get(f"{served.url}/api/v1/indicators/{DOMAIN}", headers=auth) as response:
                state = await response.json()
            return any(d["baseline_at"] for d in state["datasets"] if d["dataset"] == "resolutions")

        await eventually(baseline)

    # MISP fails once; then both take the write and never answer in time.
    misp.fail_next(500, prefix="/events/restSearch")
    misp.store_then_hang(60.0, prefix="/sightings/add")
    thehive.store_then_hang(60.0)
    dns_server.set(DOMAIN, "A", ["45.77.10.20", NEW_ADDRESS])

    async def both_stored() -> bool:
        return bool(misp.sightings and thehive.alerts)

    await eventually(both_stored, timeout=30)
    assert not any(delivered for _, delivered, _ in deliveries(db))  # still waiting for the answers
    served.kill()
    misp.release()
    thehive.release()

    restarted = ServeProcess(served.env, served.log_path)
    await restarted.start()
    try:
        expire_leases(db)

        async def all_delivered() -> bool:
            rows = deliveries(db)
            return bool(rows) and all(delivered for _, delivered, _ in rows)

        await eventually(all_delivered, timeout=30)
        await asyncio.sleep(1.5)  # a late duplicate would show by now
    finally:
        await restarted.stop()
        restarted.kill()

    [event] = misp.events_tagged(f'watchpost:monitor="{TEAM_ID}/{CHANNEL}/{DOMAIN}"')
    assert sorted(a["value"] for a in event["Attribute"]) == sorted([DOMAIN, NEW_ADDRESS])
    assert len(misp.sightings_of(DOMAIN)) == 1
    assert ("POST", "/sightings/restSearch/attribute") in misp.requests  # looked before sending again
    assert len(thehive.alerts) == 1 and thehive.duplicates == 1
    [alert] = thehive.alerts
    assert {o["data"] for o in alert["observables"]} == {DOMAIN, NEW_ADDRESS}
    log = served.log() + restarted.log()
    assert MISP_KEY not in log and THEHIVE_KEY not in log
