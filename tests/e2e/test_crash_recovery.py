"""Killed between storing a change and delivering its alert: after a restart the alert is
delivered, once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.core.observations import IndicatorKind
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from tests.e2e.environment import REPO, offline_env
from tests.fakes.dns_server import FakeDnsServer

DOMAIN = "evil-infra.com"


def run_harness(mode: str, env: dict[str, str], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.crash_harness", mode, str(out)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_crash_between_change_and_delivery_delivers_once(
    dns_server: FakeDnsServer, database_url: str, tmp_path: Path
) -> None:
    env = offline_env(dns_server, database_url)
    out = tmp_path / "posted.jsonl"
    dns_server.set(DOMAIN, "A", ["45.77.10.20"])
    engine = create_database_engine(database_url)
    migrate(engine)
    store = Database(engine)
    store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[(DOMAIN, IndicatorKind.DOMAIN)],
        now=datetime.now(UTC),
    )
    first = run_harness("check-and-die", env, out)  # baseline: nothing to deliver, so it lives
    assert first.returncode == 0, first.stderr

    dns_server.set(DOMAIN, "A", ["45.77.10.20", "98.126.38.107"])
    killed = run_harness("check-and-die", env, out)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert store.outbox.undelivered_count() == 1 and not out.exists()
    time.sleep(1.1)  # the dead process's lease on the alert runs out

    for _ in range(2):  # restart, and restart again: delivered exactly once
        restarted = run_harness("deliver", env, out)
        assert restarted.returncode == 0, restarted.stderr
    posted = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(posted) == 1 and posted[0]["channel"] == "C1"
    assert "98.126.38.107" in posted[0]["text"]
    assert store.outbox.undelivered_count() == 0
    engine.dispose()
