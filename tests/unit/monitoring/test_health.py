"""Source health's resolver line and CT section (pure): what each says, within Slack's limits,
hostile text escaped."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.alerts.messages.payloads import ct_log_json, resolver_json
from bot.core.limits import MAX_BLOCKS_MESSAGE, block_kit_violations
from bot.core.message import Message
from bot.core.text import render_text
from bot.monitoring.messages.health import (
    SourceHealthRow,
    build_health_message,
    build_home_health_blocks,
    ct_log_line,
    resolver_line,
    short_log_name,
)
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.watches.ct.store import CtPosition
from tests.unit.samples import NOW

FAILING = ResolverStatus(
    "10.0.0.2:53",
    "the resolver at 10.0.0.2:53 answers NXDOMAIN for everything (even example.com, which exists)",
    checked_at=NOW,
    failing_since=NOW - timedelta(minutes=42),
)
PASSING = ResolverStatus("10.0.0.2:53", None, checked_at=NOW)
ARGON = "https://ct.googleapis.com/logs/us1/argon2026h1/"


def test_resolver_line_says_ok_and_when_it_was_checked() -> None:
    line = resolver_line(PASSING)
    assert line.startswith(":large_green_circle: *Resolver* 10.0.0.2:53: OK")
    assert f"last checked {NOW:%Y-%m-%d %H:%M} UTC" in line


def test_resolver_line_says_what_fails_and_since_when() -> None:
    line = resolver_line(FAILING)
    since = NOW - timedelta(minutes=42)
    assert line.startswith(f":red_circle: *Resolver failing since {since:%Y-%m-%d %H:%M} UTC*:")
    assert "answers NXDOMAIN for everything" in line and "every DNS dataset is off" in line
    assert f"last checked {NOW:%Y-%m-%d %H:%M} UTC" in line
    assert "\n" not in line  # one line


def test_resolver_line_escapes_what_it_quotes() -> None:
    hostile = ResolverStatus("<!channel>", "gave <@U123> & more", checked_at=NOW, failing_since=NOW)
    line = resolver_line(hostile)
    assert "<" not in line and "&lt;@U123&gt; &amp; more" in line


@pytest.mark.parametrize(
    ("identity", "short"),
    [
        (ARGON, "ct.googleapis.com/logs/us1/argon2026h1"),
        ("https://log.example/", "log.example"),
        ("log.example/2026", "log.example/2026"),
    ],
)
def test_short_log_name(identity: str, short: str) -> None:
    assert short_log_name(identity) == short


def test_a_long_log_name_keeps_both_ends() -> None:
    name = short_log_name("https://" + "a" * 50 + ".example/" + "b" * 40 + "/2026h1/")
    assert len(name) == 60 and name.startswith("aaaa") and name.endswith("b/2026h1") and "…" in name


def test_ct_log_line_says_position_size_lag_and_last_advance() -> None:
    line = ct_log_line(CtPosition(ARGON, 1_200, 151_200, NOW))
    assert line.startswith(":warning: `ct.googleapis.com/logs/us1/argon2026h1`")
    assert "read to entry 1,200 of 151,200 · 150,000 entries behind" in line
    assert f"last advanced {NOW:%Y-%m-%d %H:%M} UTC" in line
    caught_up = ct_log_line(CtPosition(ARGON, 151_200, 151_200, NOW))
    assert caught_up.startswith(":large_green_circle:") and "caught up" in caught_up


def test_health_shows_the_resolver_first_and_ct_only_when_asked() -> None:
    rows = [SourceHealthRow("Mnemonic", 3, 40)]
    plain = render_text(build_health_message(rows))
    assert "Resolver: not checked yet" in plain and "Certificate Transparency" not in plain
    message = build_health_message(rows, resolver=FAILING, ct_logs=())
    text = render_text(message)
    assert text.index("Resolver failing") < text.index("Mnemonic")
    assert "No CT log has been read yet" in text
    assert message.text == "Source health: the resolver failing"
    assert build_health_message(rows, resolver=PASSING).text == "Source health: every source answers"


def test_health_with_many_sources_and_logs_stays_within_slacks_limits() -> None:
    rows = [SourceHealthRow(f"source {i}", i, i * 10) for i in range(60)]
    logs = [CtPosition(f"https://log{i}.example/" + "x" * 200, i, i * 1_000, NOW) for i in range(120)]
    message = build_health_message(rows, resolver=FAILING, ct_logs=logs)
    assert block_kit_violations(message, max_blocks=MAX_BLOCKS_MESSAGE) == []
    text = json.dumps(message.blocks)
    assert "120 logs" in text and "the rest are in /api/v1/health" in text
    assert "log119.example" in text  # the furthest behind is shown


def test_home_health_is_brief() -> None:
    logs = [
        CtPosition(ARGON, 10, 200_010, NOW),
        CtPosition("https://b.example/", 5, 5, NOW - timedelta(hours=1)),
    ]
    blocks = build_home_health_blocks([SourceHealthRow("crt.sh", 1, 2)], resolver=FAILING, ct_logs=logs)
    text = render_text(Message("home", blocks))
    assert "Resolver 10.0.0.2:53: failing since" in text
    assert "crt.sh: ok" in text
    brief = "Certificate Transparency: 2 logs, 1 lagging, 200,000 entries behind · last advanced"
    assert f"{brief} {NOW:%Y-%m-%d %H:%M}" in text
    assert build_home_health_blocks([]) == []
    assert "no log read yet" in render_text(Message("home", build_home_health_blocks([], ct_logs=())))


def test_health_json() -> None:
    assert resolver_json(None) is None
    assert resolver_json(FAILING) == {
        "where": "10.0.0.2:53",
        "ok": False,
        "problem": FAILING.problem,
        "checked_at": NOW.isoformat().replace("+00:00", "Z"),
        "failing_since": (NOW - timedelta(minutes=42)).isoformat().replace("+00:00", "Z"),
    }
    assert ct_log_json(CtPosition(ARGON, 900, 800, NOW))["lag"] == 0  # a stale head is never negative


def test_health_says_the_resolver_check_is_off_and_why() -> None:
    text = render_text(build_health_message([], resolver_off="WATCHPOST_DNS_CANARY is off"))
    assert "⚪ Resolver: check off · WATCHPOST_DNS_CANARY is off" in text


def test_health_shows_an_off_source_as_off_with_its_reason_not_green() -> None:
    row = SourceHealthRow("VirusTotal", off="no key: WATCHPOST_VIRUSTOTAL_KEY is unset")
    text = render_text(build_health_message([row]))
    assert "⚪ VirusTotal: off · no key: WATCHPOST_VIRUSTOTAL_KEY is unset" in text
    assert "🟢 VirusTotal" not in text
