"""The console, driven like a person would: monitor -> the zone changes -> an alert prints."""

from __future__ import annotations

from pathlib import Path

import pexpect

from tests.e2e.environment import REPO, WATCHPOST, offline_env
from tests.fakes.dns_server import FakeDnsServer

DOMAIN = "evil-infra.com"


def test_console_monitor_change_alert(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    dns_server.set(DOMAIN, "A", ["192.0.2.10"])
    dns_server.set(DOMAIN, "NS", ["ns1.host.net."])
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'console.db'}", WATCHPOST_CHECK_INTERVAL="1")
    child = pexpect.spawn(
        WATCHPOST[0], [*WATCHPOST[1:], "console"], env=env, cwd=str(REPO), encoding="utf-8", timeout=20
    )
    try:
        child.expect_exact("watchpost> ")
        child.sendline("/monitor help")
        child.expect_exact("/monitor remove")
        child.sendline("/monitor evil-infra[.]com 10.1.2.3")
        child.expect("private address")
        child.sendline("/monitor hxxps://evil-infra[.]com/login")
        child.expect_exact("Now monitoring `evil-infra.com`")
        child.expect_exact("Baseline for evil-infra.com")
        child.expect_exact("A 192.0.2.10")
        dns_server.set(DOMAIN, "A", ["192.0.2.10", "45.77.10.20"])
        child.expect_exact("--- alert in #C0CONSOLE ---")
        child.expect_exact("Change on evil-infra[.]com")
        child.expect_exact("added `A` `45.77.10.20`")
        child.expect_exact("[Investigate 45.77.10.20]")
        child.sendline("/monitor list")
        child.expect_exact("Monitored here: 1")
        child.sendline("/monitor check evil-infra.com")
        child.expect_exact("Checked evil-infra.com: no change.")
        child.sendline("/monitor remove evil-infra.com")
        child.expect_exact("Stopped monitoring `evil-infra.com`")
        child.sendline("/monitor remove evil-infra.com")
        child.expect_exact("Not monitored in this channel")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
