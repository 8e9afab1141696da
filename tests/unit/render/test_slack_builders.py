"""Block Kit builders under pressure: too much to show stays within Slack's limits and
says what was left out; untrusted text never becomes a mention or a link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.model.observations import Change, ChangeKind, Fact, IndicatorKind, Observation, SourceFailure
from bot.render.alerts import build_accepted_alert_message, build_alert_message
from bot.render.home import HomeRow, build_home_blocks
from bot.render.investigation import build_investigation_message
from bot.render.limits import MAX_BLOCKS_HOME, block_kit_violations
from bot.render.messages import Message, section
from bot.render.mrkdwn import channel_link, mention
from bot.render.replies import build_history_message, build_muted_message, fit_responses
from bot.storage.views import SharedInfrastructure

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EVIL = "<!channel> <https://evil.test|click> & <@U0BOSS> <!subteam^S123>"


def raw_controls(message: Message) -> list[str]:
    """Slack control sequences in a message other than our own user and channel mentions."""
    text = message.text + json.dumps(
        [b for b in message.blocks if b.get("type") != "actions"], ensure_ascii=False
    )
    return [part for part in text.split("<")[1:] if not part.startswith(("@U0ANALYST>", "#C0INTEL>"))]


def added(field: str, value: str, dataset: str = "resolutions") -> Change:
    return Change(dataset, ChangeKind.ADDED, field, None, value, "mnemonic", NOW, None)


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


def observation(
    dataset: str, facts: list[tuple[str, str]], failures: tuple[SourceFailure, ...] = ()
) -> Observation:
    return Observation(dataset, frozenset(Fact(f, v, "src") for f, v in facts), frozenset(), failures)


def test_investigation_of_a_huge_indicator_stays_within_limits() -> None:
    observations = [
        observation("resolutions", [("pdns:A", f"45.77.{i // 256}.{i % 256}") for i in range(2000)]),
        observation("dns_records", [("TXT", EVIL * 20), ("NS", "ns1.bad-dns.net")]),
        observation("whois", [("registrant_org", EVIL), ("registrar", "Evil & Sons <registrar>")]),
        observation(
            "certificates", [("certificate", f"CN=R3 serial {i:040x} names: {EVIL}") for i in range(500)]
        ),
        observation("subdomains", [("subdomain", f"s{i}.evil.com") for i in range(3000)]),
        observation("services", [], (SourceFailure("internetdb", EVIL),)),
    ]
    shared = [
        SharedInfrastructure(f"m{i}.example.com", IndicatorKind.DOMAIN, "NS", "ns1.bad-dns.net", ("C0INTEL",))
        for i in range(100)
    ]
    message = build_investigation_message(
        "evil.com", IndicatorKind.DOMAIN, observations, shared, looked_up_at=NOW, monitored_in=("C0INTEL",)
    )
    assert block_kit_violations(message) == []
    assert raw_controls(message) == []
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "…and 1988 more" in text and "…and 75 more" in text
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 10 and all(b["action_id"].startswith("investigate") for b in buttons)


def test_investigation_without_data_says_so() -> None:
    message = build_investigation_message(
        "evil.com",
        IndicatorKind.DOMAIN,
        [observation("whois", [], (SourceFailure("whois", "connection refused"),))],
        [],
        looked_up_at=NOW,
    )
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "_nothing observed_" in text and "connection refused" in text
    assert "none found among this workspace" in text and "Monitor evil.com" in text


def test_home_with_many_monitors_summarises_within_100_blocks() -> None:
    def row(i: int) -> HomeRow:
        if i % 7 == 0:  # alerted today
            return HomeRow(f"host{i}.example.com", "domain", ("C0INTEL",), ("resolutions",), NOW, i)
        last = None if i % 3 == 0 else NOW - timedelta(days=1 + i % 30)
        return HomeRow(f"host{i}.example.com", "domain", ("C0INTEL",), (), last, i if last else 0)

    rows = [row(i) for i in range(400)]
    blocks = build_home_blocks(rows, now=NOW, timezone=ZoneInfo("Europe/Oslo"))
    assert block_kit_violations(Message("home", blocks), max_blocks=MAX_BLOCKS_HOME) == []
    assert len(blocks) == MAX_BLOCKS_HOME
    text = json.dumps(blocks, ensure_ascii=False)
    assert "…and 305 more, quieter" in text
    shown = [b["text"]["text"] for b in blocks[3:-2]]
    assert all("alerted today" in row for row in shown[:58])  # the 58 alerted today come first
    assert not any("no alerts yet" in row for row in shown)  # the quiet ones are summarised


def test_home_injection_in_indicator_names_is_escaped() -> None:
    blocks = build_home_blocks(
        [HomeRow(EVIL, "domain", ("C0INTEL", "<!here>"), (EVIL,), NOW, 1, (EVIL,))], now=NOW, timezone=UTC
    )
    assert raw_controls(Message("home", blocks)) == []


def test_history_lists_newest_first_within_limits() -> None:
    records = [(NOW - timedelta(hours=i), added("domain", f"h{i}.evil.com")) for i in range(500)]
    message = build_history_message("98.126.38.107", records, day=None, dataset=None, limited=True)
    assert block_kit_violations(message) == []
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert text.index("h0.evil.com") < text.index("h1.evil.com")
    assert "…and 460 older changes" in text and "narrow it" in text


def test_mute_message_names_the_user_only_if_it_is_an_id() -> None:
    assert "<@U0ANALYST>" in json.dumps(
        build_muted_message("a.com", "whois", muted=True, user_id="U0ANALYST").blocks
    )
    assert raw_controls(build_muted_message("a.com", "whois", muted=False, user_id="<!everyone>")) == []


@pytest.mark.parametrize(("value", "shown"), [("U0ANALYST", "<@U0ANALYST>"), ("<!here>", "`&lt;!here&gt;`")])
def test_mention_only_for_user_ids(value: str, shown: str) -> None:
    assert mention(value) == shown
    assert channel_link("C0INTEL") == "<#C0INTEL>" and channel_link("!here") == "`!here`"


def test_fit_responses_keeps_response_url_to_five_posts() -> None:
    messages = [Message(f"baseline {i}", [section(f"b{i}.{n}") for n in range(12)]) for i in range(50)]
    fitted = fit_responses(messages, 4)
    assert len(fitted) == 4 and fitted[:3] == messages[:3]
    assert block_kit_violations(fitted[3]) == []
    assert "…and 43 more" in json.dumps(fitted[3].blocks, ensure_ascii=False)
    assert fit_responses(messages[:2], 4) == messages[:2]
