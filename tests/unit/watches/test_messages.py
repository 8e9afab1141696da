"""Lookalike messages (pure): within Block Kit's limits, untrusted values never mention
or link, and the buttons carry the contract's action ids and the domain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.alerts.messages.payloads import finding_json
from bot.core.limits import block_kit_violations
from bot.watches.messages import (
    build_dismissed_alert_message,
    build_lookalike_alert_message,
    build_lookalike_sighting_message,
    build_watch_history_message,
    build_watch_status_message,
)
from bot.watches.model import DomainFacts, Finding, Sighting, Watch, WatchKind

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
HOSTILE = "<!channel> <https://evil.example|click> `x` &amp; \u202e" + "y" * 3000


def finding(reasons: int = 1, **extra: object) -> Finding:
    values: dict[str, object] = {
        "id": 7,
        "team_id": "T1",
        "channel_id": "C1",
        "domain": "interfaxru.com",
        "name": "www.interfaxru.com",
        "reasons": tuple(
            {"watch_id": i, "term": f"brand{i}.ru", "rule": "contains", "why": f"a label contains {HOSTILE}"}
            for i in range(reasons)
        ),
        "source": "ct",
        "issuer": HOSTILE,
        "first_seen_at": AT,
        "message_ts": None,
    }
    values.update(extra)
    return Finding(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "facts",
    [
        DomainFacts(),
        DomainFacts(("203.0.113.7", "2001:db8::7"), ("10 mx.interfaxru.com",), "Reg <!here>", "2026-11-30"),
        DomainFacts(tuple(f"203.0.113.{i}" for i in range(200)), (), HOSTILE, HOSTILE),
    ],
)
@pytest.mark.parametrize("reasons", [1, 3, 60])
def test_lookalike_alert_within_limits_and_safe(facts: DomainFacts, reasons: int) -> None:
    message = build_lookalike_alert_message(finding(reasons), facts, detected_at=AT)
    assert block_kit_violations(message) == []
    text = str(message.blocks) + message.text
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("investigate_0", "interfaxru.com"),
        ("monitor_indicator_0", "interfaxru.com"),
        ("snooze_watch", "1d"),
        ("snooze_watch_7d", "1w"),
        ("snooze_watch_30d", "30d"),
        ("dismiss_lookalike", "interfaxru.com"),
    ]


def test_lookalike_alert_says_what_is_unknown() -> None:
    text = str(build_lookalike_alert_message(finding(), DomainFacts(), detected_at=AT).blocks)
    assert "Resolves to: unknown (lookup failed)" in text and "MX: unknown" in text
    known = DomainFacts((), (), None, None)
    text = str(build_lookalike_alert_message(finding(), known, detected_at=AT).blocks)
    assert "nothing (no A/AAAA)" in text and "MX: none" in text and "Registrar" not in text


def test_sighting_dismissal_status_and_history_within_limits() -> None:
    sighting = Sighting(HOSTILE, 3, "mail.interfaxru.com", HOSTILE, HOSTILE, AT)
    assert block_kit_violations(build_lookalike_sighting_message(finding(), sighting)) == []
    alert = build_lookalike_alert_message(finding(), DomainFacts(), detected_at=AT)
    dismissed = build_dismissed_alert_message(alert, user_id="U0ANALYST", domain="interfaxru.com", at=AT)
    assert block_kit_violations(dismissed) == [] and all(b["type"] != "actions" for b in dismissed.blocks)
    assert "<@U0ANALYST>" in str(dismissed.blocks)
    watch = Watch(0, "T1", "C1", WatchKind.LOOKALIKE, "brand0.ru", AT, "U0ANALYST")
    many = [finding(id=i, domain=f"d{i}-{'x' * 200}.com") for i in range(300)]
    assert block_kit_violations(build_watch_history_message(watch, many)) == []
    assert block_kit_violations(build_watch_status_message(watch, many, 406)) == []


HOMOGLYPH = "xn--nterfax-qog.ru"  # іnterfax.ru with a Cyrillic і
HOMOGLYPH_SEEN = "login.xn--nterfax-qog.ru"


def _finding(domain: str, name: str, *reasons: dict[str, object]) -> Finding:
    return replace(finding(), domain=domain, name=name, reasons=reasons)


def _reason(kind: WatchKind, term: str) -> dict[str, object]:
    return {"watch_id": 1, "kind": kind.value, "term": term, "rule": "homoglyph", "why": "looks the same"}


def test_a_homoglyph_alert_reads_in_unicode_with_its_punycode_and_the_mixed_script_flag() -> None:
    homoglyph = _finding(HOMOGLYPH, HOMOGLYPH_SEEN, _reason(WatchKind.LOOKALIKE, "interfax.ru"))

    message = build_lookalike_alert_message(homoglyph, DomainFacts(), detected_at=AT)

    title = message.blocks[0]["text"]["text"]
    assert title == "Lookalike: \u0456nterfax[.]ru (xn--nterfax-qog[.]ru) ⚠ mixed scripts: Latin + Cyrillic"
    first = message.blocks[1]["text"]["text"]
    assert first.startswith(
        "*`\u0456nterfax.ru` (`xn--nterfax-qog.ru`) :warning: mixed scripts: Latin + Cyrillic*"
    )
    assert (
        "imitates interfax.ru" in first
        and "(seen as `login.\u0456nterfax.ru` (`login.xn--nterfax-qog.ru`)" in first
    )
    assert "\u0456nterfax.ru (xn--nterfax-qog.ru)" in message.text


def test_a_keyword_hit_is_headed_as_one_not_as_an_imitation() -> None:
    hit = _finding("paypal-refunds.com", "paypal-refunds.com", _reason(WatchKind.KEYWORD, "refund"))

    message = build_lookalike_alert_message(hit, DomainFacts(), detected_at=AT)

    assert message.blocks[0]["text"]["text"] == "Keyword match: paypal-refunds[.]com"
    first = message.blocks[1]["text"]["text"]
    assert first == "*`paypal-refunds.com`* contains the keyword refund"
    assert "imitates" not in str(message.blocks) and "keyword match" in message.text
    both = replace(hit, reasons=(*hit.reasons, _reason(WatchKind.LOOKALIKE, "paypal.com")))
    said = build_lookalike_alert_message(both, DomainFacts(), detected_at=AT)
    assert said.blocks[0]["text"]["text"].startswith("Lookalike: ")
    assert "imitates paypal.com and contains the keyword refund" in said.blocks[1]["text"]["text"]


def test_thread_replies_and_history_read_homoglyphs_in_unicode() -> None:
    homoglyph = _finding(HOMOGLYPH, HOMOGLYPH_SEEN, _reason(WatchKind.LOOKALIKE, "interfax.ru"))
    sighting = Sighting("https://ct.example/", 9, "www.xn--nterfax-qog.ru", "R11", "0a", AT)

    reply = build_lookalike_sighting_message(homoglyph, sighting).blocks[0]["text"]["text"]
    watch = Watch(1, "T1", "C1", WatchKind.LOOKALIKE, "interfax.ru", AT, "U1")
    history = str(build_watch_history_message(watch, [homoglyph]).blocks)

    assert "Another certificate for `www.\u0456nterfax.ru` (`www.xn--nterfax-qog.ru`)" in reply
    assert "(lookalike `\u0456nterfax.ru` (`xn--nterfax-qog.ru`) :warning: mixed scripts" in reply
    assert "`\u0456nterfax.ru` (`xn--nterfax-qog.ru`) :warning: mixed scripts: Latin + Cyrillic" in history


def test_the_api_gives_the_unicode_form_the_mixed_scripts_and_the_kind() -> None:
    homoglyph = _finding(HOMOGLYPH, HOMOGLYPH_SEEN, _reason(WatchKind.KEYWORD, "interfax"))

    shown = finding_json(homoglyph)

    assert (shown["domain"], shown["domain_unicode"]) == (HOMOGLYPH, "\u0456nterfax.ru")
    assert shown["name_unicode"] == "login.\u0456nterfax.ru"
    assert (shown["mixed_scripts"], shown["kind"]) == (["Latin", "Cyrillic"], "keyword")
