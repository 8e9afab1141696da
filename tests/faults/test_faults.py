"""The fault-injection suite: the real `watchpost serve`, its sources, Slack and its
database failing one at a time and together. For every fault: no false change, no lost
alert, no duplicate alert, the outage reported as source health, recovery without help.

Three scenarios, each with its own bot, fakes and database, run at the same time (they
share nothing but the machine), which keeps the suite under a minute:

- source_faults.py: every DNS, HTTP source and WHOIS failure mode, one per indicator,
  then all together;
- platform_faults.py: Slack 5xx/429/refused/slow, the DNS server gone, SQLite locked,
  SIGKILL mid-check and mid-delivery with a restart;
- postgres_faults.py: PostgreSQL cut at a proxy, and its backends terminated.

The figures (faults injected, alerts expected, lost, duplicated) print at the end of the
run; docs/security.md includes them (docs/figures/reliability.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Engine

from tests.faults.figures import Figures
from tests.faults.platform_faults import platform_faults
from tests.faults.postgres_faults import postgres_faults
from tests.faults.source_faults import source_faults


async def test_faults_one_at_a_time_and_together_lose_and_double_nothing(
    tmp_path: Path, postgres_schema_url: str, postgres_admin: Engine, figures: Figures
) -> None:
    scenarios = {
        "sources": source_faults(tmp_path / "sources", figures),
        "platform": platform_faults(tmp_path / "platform", figures),
        "postgres": postgres_faults(tmp_path / "postgres", postgres_schema_url, postgres_admin, figures),
    }
    for folder in ("sources", "platform", "postgres"):
        (tmp_path / folder).mkdir()
    results = await asyncio.gather(*scenarios.values(), return_exceptions=True)
    failed = [
        (name, result)
        for name, result in zip(scenarios, results, strict=True)
        if isinstance(result, BaseException)
    ]
    if failed:
        raise ExceptionGroup(
            f"fault scenarios failed: {', '.join(name for name, _ in failed)}",
            [result if isinstance(result, Exception) else Exception(repr(result)) for _, result in failed],
        )
