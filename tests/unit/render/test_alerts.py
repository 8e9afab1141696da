"""Alerts under pressure: too many new values stay within Slack's limits and say what
was left out; untrusted text never becomes a mention or a link."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.model.observations import Change, ChangeKind, IndicatorKind
from bot.render.alerts import build_accepted_alert_message, build_alert_message
from bot.render.limits import block_kit_violations
from tests.unit.render.samples import EVIL, NOW, added, raw_controls


def test_alert_with_more_new_values_than_fit() -> None:
    changes = [added("domain", f"host{i:03}.very-long-subdomain-name.example-bad.com") for i in range(300)]
    message = build_alert_message("98.126.38.107", IndicatorKind.IP, changes, detected_at=NOW)
    assert block_kit_violations(message) == []
    investigate = [
        e["value"]
        for b in message.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("investigate")
    ]
    assert investigate == [f"host{i:03}.very-long-subdomain-name.example-bad.com" for i in range(10)]
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "…and 290 more new indicators: full list in the thread" in text
    thread = message.thread_messages
    assert thread and all(block_kit_violations(m) == [] for m in thread)
    assert sum(json.dumps(m.blocks, ensure_ascii=False).count("host") for m in thread) == 300


def test_alert_escapes_untrusted_values() -> None:
    changes = [added("TXT", EVIL, "dns_records"), added("registrar", EVIL, "whois")]
    message = build_alert_message("evil.com", IndicatorKind.DOMAIN, changes, detected_at=NOW)
    assert block_kit_violations(message) == [] and raw_controls(message) == []
    assert "&lt;!channel&gt;" in json.dumps(message.blocks, ensure_ascii=False)


def test_alert_context_shows_an_earlier_first_seen() -> None:
    early = Change(
        "resolutions", ChangeKind.ADDED, "domain", None, "a.com", "mnemonic", NOW - timedelta(days=90)
    )
    message = build_alert_message("98.126.38.107", IndicatorKind.IP, [early], detected_at=NOW)
    assert "first seen 2026-08-22" in json.dumps(message.blocks, ensure_ascii=False)
    same = build_alert_message("98.126.38.107", IndicatorKind.IP, [added("domain", "a.com")], detected_at=NOW)
    assert "first seen" not in json.dumps(same.blocks, ensure_ascii=False)


def test_accepted_alert_drops_its_buttons_and_says_who() -> None:
    alert = build_alert_message(
        "98.126.38.107", IndicatorKind.IP, [added("domain", "a.com")], detected_at=NOW
    )
    accepted = build_accepted_alert_message(alert, user_id="U0ANALYST", accepted_at=NOW)
    assert block_kit_violations(accepted) == []
    assert not [b for b in accepted.blocks if b["type"] == "actions"]
    assert "Accepted as the new baseline by <@U0ANALYST>" in json.dumps(accepted.blocks, ensure_ascii=False)
    forged = build_accepted_alert_message(alert, user_id="<!channel>", accepted_at=NOW)
    assert raw_controls(forged) == []
