"""The console, driven like a person would: monitor -> the zone changes -> an alert prints
-> its buttons are pressed by number -> a digest is posted and its files saved."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pexpect

from tests.e2e.environment import REPO, WATCHPOST, offline_env
from tests.fakes.dns_server import FakeDnsServer

DOMAIN = "evil-infra.com"
PROMPT = "watchpost> "


def spawn(env: dict[str, str]) -> pexpect.spawn:
    child = pexpect.spawn(
        WATCHPOST[0], [*WATCHPOST[1:], "console"], env=env, cwd=str(REPO), encoding="utf-8", timeout=20
    )
    if transcript := os.environ.get("WATCHPOST_CONSOLE_TRANSCRIPT"):
        child.logfile_read = open(transcript, "a", encoding="utf-8")
    return child


def button(child: pexpect.spawn, label: str) -> int:
    """The number the console gave the button `label` in what it printed last."""
    match = re.search(rf"\[(\d+) {re.escape(label)}\]", child.before + child.after)
    assert match, f"no button {label!r} in {child.before[-2000:]}"
    return int(match.group(1))


def test_console_monitor_change_alert(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    dns_server.set(DOMAIN, "A", ["192.0.2.10"])
    dns_server.set(DOMAIN, "NS", ["ns1.host.net."])
    env = offline_env(dns_server, f"sqlite:///{tmp_path / 'console.db'}", WATCHPOST_CHECK_INTERVAL="1")
    child = spawn(env)
    try:
        child.expect_exact(PROMPT)
        child.sendline("/monitor help")
        child.expect_exact("/monitor remove")
        child.sendline("/monitor evil-infra[.]com 10.1.2.3")
        child.expect("private address")
        child.sendline("/monitor hxxps://evil-infra[.]com/login")
        child.expect_exact("Now monitoring `evil-infra.com`")
        child.expect_exact("Baseline for evil-infra[.]com")
        child.expect_exact("`A 192.0.2.10`")
        dns_server.set(DOMAIN, "A", ["192.0.2.10", "45.77.10.20"])
        child.expect_exact("--- alert in #console ---")
        child.expect_exact("Change on evil-infra[.]com")
        child.expect_exact("added `A` `45.77.10.20`")
        child.expect(r"\[\d+ Accept as baseline\]")
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


def test_console_buttons_press_and_files_are_saved(dns_server: FakeDnsServer, tmp_path: Path) -> None:
    dns_server.set(DOMAIN, "A", ["192.0.2.10"])
    dns_server.set("10.77.45.45.in-addr.arpa", "PTR", ["host.vultr.example."])
    files = tmp_path / "files"
    env = offline_env(
        dns_server,
        f"sqlite:///{tmp_path / 'console.db'}",
        WATCHPOST_CHECK_INTERVAL="1",
        WATCHPOST_FILES_DIR=str(files),
        WATCHPOST_COMMAND_RATE="1",  # Slack's limit: the console's one user is not held to it
    )
    child = spawn(env)
    try:
        child.expect_exact(PROMPT)
        child.sendline(f"/monitor {DOMAIN}")
        child.expect_exact("Baseline for evil-infra[.]com")
        dns_server.set(DOMAIN, "A", ["192.0.2.10", "45.77.10.20"])
        child.expect_exact("--- alert in #console ---")
        child.expect(r"\[\d+ Accept as baseline\]")
        investigate = button(child, "Investigate 45.77.10.20")
        monitor = button(child, "Monitor 45.77.10.20")
        mute = button(child, "Mute resolutions")
        accept = button(child, "Accept as baseline")
        child.expect_exact(PROMPT)

        child.sendline(str(investigate))
        child.expect_exact('--- investigation in the thread of the alert "Change on evil-infra[.]com" ---')
        child.expect_exact("45.77.10.20")
        child.expect_exact(PROMPT)

        child.sendline(f"press {monitor}")
        child.expect_exact("Now monitoring `45.77.10.20` for this channel.")
        child.expect_exact("Baseline for 45[.]77[.]10[.]20")
        child.expect_exact(PROMPT)

        child.sendline(f"press {mute}")
        child.expect_exact("--- said in #console, for everyone ---")
        child.expect_exact("@you muted `resolutions` alerts for `evil-infra.com` in this channel.")
        child.expect_exact(PROMPT)
        assert "<@" not in child.before and "*" not in child.before

        child.sendline(str(accept))
        child.expect_exact("--- alert updated in #console ---")
        child.expect_exact("Accepted as the new baseline by @you")
        child.expect_exact(PROMPT)
        child.sendline(str(accept))
        child.expect_exact(f"There is no button {accept} (any more).")

        child.sendline(f"/monitor timeline {DOMAIN}")
        child.expect_exact("Timeline of evil-infra.com:")
        child.expect(r"\[file in #console: [^,]+, \d+ changes?, saved to (\S+\.png)\]")
        picture = Path(child.match.group(1))
        assert picture.parent == files / "console" and picture.read_bytes().startswith(b"\x89PNG")

        child.sendline(f"/monitor status {DOMAIN}")
        child.expect(r"\[(\d+) Timeline picture\]")
        child.sendline(child.match.group(1))
        child.expect(r"saved to (\S+\.png)\]")
        child.expect_exact(PROMPT)

        child.sendline("/monitor digest")
        child.expect_exact("Posting today's digest for this channel…")
        child.expect_exact("--- digest in #console ---")
        child.expect(
            r"\[file in the thread of the digest \"[^\"]+\": resolutions: [^,]+, saved to (\S+\.csv)\]"
        )
        saved = Path(child.match.group(1))
        child.expect(
            r"\[file in the thread of the digest \"[^\"]+\": changes per day this week, "
            r"saved to (\S+-week\.png)\]"
        )
        child.expect_exact("Posted the digest so far")
        child.expect_exact(PROMPT)  # the confirmation comes before the prompt, not after it
        assert saved.parent == files / "console" and b"45.77.10.20" in saved.read_bytes()
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
