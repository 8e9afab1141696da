"""PostgreSQL briefly unavailable under the running bot: the connection cut at a proxy
(a failover, a network blip) and its backends terminated by the server. The scheduler's
jobs fail while it lasts, say so on /healthz, and resume by themselves; a change made
meanwhile is alerted exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot.storage.engine import normalise_database_url
from tests.faults.figures import Figures
from tests.faults.harness import AlertLedger, World, channel_for, until, world
from tests.faults.proxy import TcpProxy

DOMAIN = "postgres-wpf.com"
APPLICATION = "watchpost-fault-test"


def through(proxy: TcpProxy, database_url: str) -> str:
    """The database URL, but via the proxy, with a name to find the bot's connections by."""
    url = make_url(normalise_database_url(database_url)).set(host="127.0.0.1", port=proxy.port)
    url = url.update_query_dict({"application_name": APPLICATION})
    return url.render_as_string(hide_password=False)


async def healthz(w: World) -> int:
    assert w.bot is not None
    async with aiohttp.ClientSession() as session, session.get(f"{w.bot.url}/healthz") as response:
        return response.status


async def postgres_faults(
    tmp_path: Path, postgres_schema_url: str, postgres_admin: Engine, figures: Figures
) -> None:
    """PostgreSQL cut off at a proxy, then its backends terminated, under the running bot."""
    url = make_url(normalise_database_url(postgres_schema_url))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        await _postgres_faults(tmp_path, postgres_schema_url, postgres_admin, proxy, figures)
    finally:
        await proxy.stop()


async def _postgres_faults(
    tmp_path: Path, postgres_schema_url: str, postgres_admin: Engine, proxy: TcpProxy, figures: Figures
) -> None:
    async with world(tmp_path, postgres_schema_url) as w:
        w.add_domain(DOMAIN, address="45.77.30.1")
        w.seed_monitors()
        ledger = AlertLedger(w.slack, figures)
        channel = channel_for(DOMAIN)
        await w.start_bot(DATABASE_URL=through(proxy, postgres_schema_url))
        await until(w.all_healthy, timeout=20, what="the baseline")

        # The connection is cut while a change appears: /healthz says so, then recovery.
        await proxy.cut()
        figures.fault("postgres:unreachable")
        w.dns.set(DOMAIN, "A", ["45.77.30.1", "45.77.30.2"])
        ledger.expect(channel, "45.77.30.2", "a change while PostgreSQL is unreachable")
        assert w.bot is not None
        bot = w.bot
        await until(lambda: "database unavailable" in bot.log(), timeout=10, what="a failed job")
        assert await healthz(w) == 503
        await asyncio.sleep(1)
        await proxy.restore()
        await ledger.delivered(timeout=20)
        assert await healthz(w) == 200

        # The server ends every connection of the bot (an administrator, a restart of
        # PostgreSQL): the pool reconnects and the next change is alerted.
        with postgres_admin.connect() as connection:
            ended = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :a"
                ),
                {"a": APPLICATION},
            ).scalar_one()
        assert ended >= 1
        figures.fault("postgres:backends-terminated")
        w.dns.set(DOMAIN, "A", ["45.77.30.1", "45.77.30.2", "45.77.30.3"])
        ledger.expect(channel, "45.77.30.3", "a change after the backends were terminated")
        await ledger.delivered(timeout=20)
        await asyncio.sleep(1)
        ledger.settle()
