"""Alerts under pressure: too many new values stay within Slack's limits and say what
was left out; untrusted text never becomes a mention or a link."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.alerts.messages.alerts import build_accepted_alert_message, build_alert_message
from bot.core.limits import block_kit_violations
from bot.core.observations import Change, ChangeKind, IndicatorKind
from tests.unit.samples import EVIL, NOW, added, raw_controls


def test_alert_with_more_new_values_than_fit_is_a_summary_with_eight_buttons_at_most() -> None:
    changes = [added("domain", f"host{i:03}.very-long-subdomain-name.example-bad.com") for i in range(300)]
    message = build_alert_message("98.126.38.107", IndicatorKind.IP, changes, detected_at=NOW)
    assert block_kit_violations(message) == []
    buttons = [e for b in message.blocks if b.get("type") == "actions" for e in b["elements"]]
    ids = [e["action_id"] for e in buttons]
    # Pivots stay on alerts of a few values; a summary is acted on whole.
    assert not any(i.startswith(("investigate", "monitor_indicator")) for i in ids)
    assert len(buttons) <= 8
    assert ids[0] == "all_values" and buttons[0]["text"]["text"] == "All 300 values"
    assert json.loads(buttons[0]["value"]) == {"i": "98.126.38.107", "d": NOW.date().isoformat()}
    assert {"ack", "false_positive", "snooze", "accept_baseline"} <= set(ids)
    thread = message.thread_messages
    assert thread and all(block_kit_violations(m) == [] for m in thread)
    assert sum(json.dumps(m.blocks, ensure_ascii=False).count("host") for m in thread) == 300


def test_alert_with_a_few_new_values_keeps_a_pivot_for_each() -> None:
    changes = [added("domain", f"host{i}.example-bad.com") for i in range(3)]
    message = build_alert_message("98.126.38.107", IndicatorKind.IP, changes, detected_at=NOW)
    ids = [e["action_id"] for b in message.blocks if b.get("type") == "actions" for e in b["elements"]]
    assert [i for i in ids if i.startswith("investigate")] == [
        "investigate_0",
        "investigate_1",
        "investigate_2",
    ]
    assert "all_values" not in ids


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


def test_a_new_value_that_is_monitored_itself_gets_no_monitor_button_nor_shares_itself() -> None:
    from bot.alerts.messages.alerts import AlertStatus

    changes = [added("domain", "monitored-site.com"), added("domain", "fresh-site.com")]
    status = AlertStatus(
        previous_alerts=0,
        shared=(("monitored-site.com", "monitored-site.com"), ("other-site.com", "fresh-site.com")),
    )
    message = build_alert_message("98.126.38.107", IndicatorKind.IP, changes, detected_at=NOW, status=status)
    assert block_kit_violations(message) == []
    monitors = [
        e["value"]
        for b in message.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("monitor_indicator")
    ]
    assert monitors == ["fresh-site.com"]
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "`monitored-site.com` with `monitored-site.com`" not in text
    assert (
        "`monitored-site.com` is monitored itself" in text
        and "`fresh-site.com` with `other-site.com`" in text
    )
