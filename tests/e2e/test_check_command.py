"""`watchpost check INDICATOR`: one check, printed; bad input is a clear error, not a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.core.observations import IndicatorKind
from tests.e2e.environment import REPO, WATCHPOST, offline_env
from tests.fakes.dns_server import FakeDnsServer


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WATCHPOST, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def test_check_prints_what_each_dataset_sees(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    dns_server.set("evil-infra.com", "A", ["45.77.10.20"])
    dns_server.set("evil-infra.com", "TXT", ['"<!channel> v=spf1 -all"'])
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'check.db'}")
    result = run(["check", "hxxp://evil-infra[.]com/payload"], env)
    assert result.returncode == 0, result.stderr
    assert "resolutions:\n  A 45.77.10.20  (dns)" in result.stdout
    assert "TXT <!channel> v=spf1 -all" in result.stdout
    assert "! whois:" in result.stdout  # the WHOIS port is closed: said, not hidden
    assert "not monitored: nothing stored" in result.stdout
    assert "Traceback" not in result.stderr


def test_check_refuses_bad_input_clearly(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'check.db'}")
    result = run(["check", "192.168.1.1"], env)
    assert result.returncode == 2
    assert "private address" in result.stderr and "Traceback" not in result.stderr


def test_bad_configuration_is_named(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'check.db'}", WATCHPOST_CHECK_INTERVAL="hourly")
    result = run(["check", "evil-infra.com"], env)
    assert result.returncode == 2
    assert "WATCHPOST_CHECK_INTERVAL must be a whole number" in result.stderr


def test_digest_command_posts_what_is_due_once(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.storage.db import Database
    from bot.storage.engine import create_database_engine, migrate
    from tests.integration.test_storage import record, resolutions

    url = f"sqlite:///{tmp_path / 'digest.db'}"
    engine = create_database_engine(url)
    migrate(engine)
    store = Database(engine)
    now = datetime.now(UTC)
    subject_id = store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[("98.126.38.107", IndicatorKind.IP)],
        now=now - timedelta(days=3),
    )[0].subject_id
    record(store, subject_id, now - timedelta(days=3), resolutions("old-site.com"))
    record(store, subject_id, now - timedelta(hours=30), resolutions("old-site.com", "www.interfaxru.com"))
    engine.dispose()
    env = offline_env(dns_server, url)
    first = run(["digest"], env)
    assert first.returncode == 0, first.stderr
    assert "posted: C1" in first.stdout and "www.interfaxru.com" in first.stdout
    second = run(["digest"], env)
    assert second.returncode == 0 and "posted" not in second.stdout  # each day's digest posts once


def test_check_of_a_monitored_indicator_prints_what_each_dataset_sees(
    dns_server: FakeDnsServer, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from bot.storage.db import Database
    from bot.storage.engine import create_database_engine, migrate

    url = f"sqlite:///{tmp_path / 'check.db'}"
    engine = create_database_engine(url)
    migrate(engine)
    Database(engine).monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[("evil-infra.com", IndicatorKind.DOMAIN)],
        now=datetime.now(UTC),
    )
    engine.dispose()
    dns_server.set("evil-infra.com", "A", ["45.77.10.20"])
    result = run(["check", "evil-infra.com"], offline_env(dns_server, url))
    assert result.returncode == 0, result.stderr
    assert "resolutions:\n  A 45.77.10.20  (dns)" in result.stdout
    assert "Checked evil-infra.com" in result.stdout and "not monitored" not in result.stdout
    assert f"watchpost: database SQLite {tmp_path / 'check.db'}" in result.stderr


def test_check_exits_non_zero_when_nothing_could_be_read(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    # Every source off or unreachable: the DNS server is a closed port.
    env = offline_env(
        dns_server, f"sqlite:///{tmp_path / 'check.db'}", WATCHPOST_DNS_NAMESERVERS="127.0.0.1:9"
    )
    result = run(["check", "evil-infra.com"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no dataset could be read" in result.stderr and "Traceback" not in result.stderr


def test_migrate_says_what_it_applied_and_config_where_values_come_from(
    dns_server: FakeDnsServer, tmp_path: Path
) -> None:
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'fresh.db'}")
    first = run(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001: initial schema" in first.stdout
    assert first.stdout.strip().endswith("migrations applied)")
    again = run(["migrate"], env)
    assert again.stdout.strip() == "schema up to date (0 migrations applied)"
    assert "INFO" not in first.stderr + again.stderr  # no Alembic chatter

    del env["DATABASE_URL"]
    env.update(WATCHPOST_DATA_DIR=str(tmp_path / "data"), SLACK_BOT_TOKEN="xoxb-not-printed")
    config = run(["config"], env)
    assert config.returncode == 0, config.stderr
    lines = config.stdout.splitlines()
    db = lines.index(next(line for line in lines if line.startswith("DATABASE_URL ")))
    assert lines[db].split()[-1] == f"sqlite:///{tmp_path / 'data' / 'watchpost.db'}"
    assert "derived: WATCHPOST_DATA_DIR" in lines[db + 1]
    assert "xoxb-not-printed" not in config.stdout and "SLACK_BOT_TOKEN" in config.stdout


def test_every_subcommand_help_has_a_description(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'help.db'}")
    for command in ("console", "serve", "check", "digest", "migrate", "config"):
        shown = run([command, "--help"], env).stdout
        description = shown.split("\n\n")[1]
        assert len(description.split()) >= 6 and not description.startswith(("options", "positional")), shown
