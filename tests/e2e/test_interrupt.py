"""Ctrl-C in a terminal: `watchpost console` and `watchpost serve` leave at once with 130,
with no traceback and no asyncio complaint, whatever the prompt or the workers were doing."""

from __future__ import annotations

import io
from pathlib import Path

import pexpect

from tests.e2e.environment import REPO, WATCHPOST, offline_env
from tests.e2e.slack_bot import free_port
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_requests import SIGNING_SECRET

# Generous: CI is a loaded machine. What matters is that no Enter is needed.
DEADLINE = 60


def spawn(command: str, env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(
        WATCHPOST[0], [*WATCHPOST[1:], command], env=env, cwd=str(REPO), encoding="utf-8", timeout=DEADLINE
    )


def assert_interrupted_cleanly(child: pexpect.spawn) -> None:
    child.sendintr()  # Ctrl-C: SIGINT to the terminal's foreground process group
    child.expect(pexpect.EOF)
    child.close()
    said = child.before
    assert child.exitstatus == 130, said
    assert "Traceback" not in said and "never retrieved" not in said, said


def test_interrupt_console_at_the_prompt_exits_130_without_enter(
    dns_server: FakeDnsServer, tmp_path: Path
) -> None:
    child = spawn("console", offline_env(dns_server, f"sqlite:///{tmp_path / 'console.db'}"))
    try:
        child.expect_exact("watchpost> ")
        assert_interrupted_cleanly(child)
    finally:
        child.close(force=True)


def test_interrupt_serve_with_its_worker_exits_130(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    env = offline_env(
        dns_server,
        f"sqlite:///{tmp_path / 'serve.db'}",
        SLACK_BOT_TOKEN="xoxb-interrupt",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",  # nobody there: Slack unreachable
        WATCHPOST_PORT=str(free_port()),
        WATCHPOST_WORKERS="1",
    )
    child = spawn("serve", env)
    try:
        child.expect_exact("started worker process")
        child.expect_exact("worker ")  # the worker is up too (it logs its own line)
        assert_interrupted_cleanly(child)
    finally:
        child.close(force=True)


def test_console_logs_to_a_file_not_over_the_prompt(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = offline_env(
        dns_server,
        f"sqlite:///{tmp_path / 'console.db'}",
        WATCHPOST_DATA_DIR=str(data),
        # A CT log list nobody serves: once a watch exists the reader warns on every poll,
        # as offline it would (with no watch it reads nothing at all).
        WATCHPOST_CT_LOG_LIST_URL=f"http://127.0.0.1:{free_port()}/log_list.json",
        WATCHPOST_CT_POLL_SECONDS="1",
    )
    child = spawn("console", env)
    child.logfile_read = screen = io.StringIO()
    log = data / "console.log"
    try:
        child.expect_exact("watchpost> ")
        assert f"log lines go to {log}" in child.before
        child.sendline("/monitor keyword interfaxru")
        child.expect_exact("watchpost> ")
        for _ in range(DEADLINE * 10):
            if log.exists() and "WARNING" in log.read_text():
                break
            child.expect(pexpect.TIMEOUT, timeout=0.1)
        assert "WARNING" in log.read_text()
        child.sendline("quit")
        child.expect(pexpect.EOF)
        assert "WARNING" not in screen.getvalue()
    finally:
        child.close(force=True)


def test_interrupt_serve_mid_checks_in_one_process_exits_130(
    dns_server: FakeDnsServer, tmp_path: Path
) -> None:
    """With the checks in the serve process (WATCHPOST_WORKERS=0) and a check cycle going,
    Ctrl-C leaves no half-finished gather behind to complain about."""
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    for n in range(30):
        dns_server.set(f"host{n}.example.com", "A", [f"192.0.2.{n + 1}"])
    env = offline_env(
        dns_server,
        database,
        SLACK_BOT_TOKEN="xoxb-interrupt",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
        WATCHPOST_PORT=str(free_port()),
        WATCHPOST_WORKERS="0",
        WATCHPOST_CHECK_INTERVAL="1",
        WATCHPOST_WHOIS_SERVER=f"127.0.0.1:{free_port()}",
    )
    seed = pexpect.spawn(
        WATCHPOST[0],
        [*WATCHPOST[1:], "console"],
        env=env,
        cwd=str(REPO),
        encoding="utf-8",
        timeout=DEADLINE,
    )
    try:
        seed.expect_exact("watchpost> ")
        seed.sendline("/monitor " + " ".join(f"host{n}.example.com" for n in range(30)))
        seed.expect_exact("Now monitoring")
        seed.sendline("quit")
        seed.expect(pexpect.EOF)
    finally:
        seed.close(force=True)
    child = spawn("serve", env)
    try:
        child.expect_exact("listening on")
        child.expect(pexpect.TIMEOUT, timeout=3)  # a few check cycles under way
        assert_interrupted_cleanly(child)
    finally:
        child.close(force=True)
