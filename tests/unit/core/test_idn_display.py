"""Internationalised names in replies and alerts: Unicode with the punycode beside it, and
a label that mixes scripts flagged where the analyst reads it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.alerts.messages.alerts import build_alert_message
from bot.commands.messages.home import HomeRow, build_home_blocks
from bot.commands.messages.replies import (
    ListRow,
    build_added_message,
    build_check_message,
    build_history_message,
    build_list_message,
    build_removed_message,
    build_status_message,
)
from bot.core.indicators import parse_indicator
from bot.core.message import Message
from bot.core.mrkdwn import indicator_code, indicator_text
from bot.core.observations import Change, ChangeKind, IndicatorKind
from bot.investigations.messages.investigation import build_investigation_message
from tests.fakes.slack_api import slack_would_refuse

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
INTERFAX = parse_indicator("інтерфакс.рф").value  # xn--80ajqjqics1n.xn--p1ai
HOMOGRAPH = parse_indicator("pаypal.com").value  # Cyrillic а: xn--pypal-4ve.com
FLAG = "mixed scripts: Latin + Cyrillic"


def shown(message: Message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def test_indicator_code_and_text() -> None:
    assert INTERFAX == "xn--80ajqjqics1n.xn--p1ai"
    assert indicator_code(INTERFAX) == "`інтерфакс.рф` (`xn--80ajqjqics1n.xn--p1ai`)"
    assert indicator_text(INTERFAX) == "інтерфакс.рф (xn--80ajqjqics1n.xn--p1ai)"
    assert indicator_text(INTERFAX, defanged=True) == "інтерфакс[.]рф (xn--80ajqjqics1n[.]xn--p1ai)"
    assert indicator_code(HOMOGRAPH) == f"`pаypal.com` (`xn--pypal-4ve.com`) :warning: {FLAG}"
    assert indicator_text(HOMOGRAPH) == f"pаypal.com (xn--pypal-4ve.com) ⚠ {FLAG}"
    assert indicator_code("evil.com") == "`evil.com`"
    assert indicator_text("98.126.38.107", defanged=True) == "98[.]126[.]38[.]107"


def test_replies_show_unicode_punycode_and_the_flag() -> None:
    change = Change("resolutions", ChangeKind.ADDED, "A", None, "98.126.38.107", "dns", NOW)
    messages = [
        build_added_message([(INTERFAX, True), (HOMOGRAPH, False)]),
        build_removed_message([INTERFAX, HOMOGRAPH]),
        build_list_message([ListRow(INTERFAX, "domain", NOW, ()), ListRow(HOMOGRAPH, "domain", None, ())]),
    ]
    for message in messages:
        text = shown(message)
        assert "`інтерфакс.рф` (`xn--80ajqjqics1n.xn--p1ai`)" in text
        assert f"`pаypal.com` (`xn--pypal-4ve.com`) :warning: {FLAG}" in text
        assert slack_would_refuse(message) == []
    for message in [
        build_status_message(HOMOGRAPH, [], NOW),
        build_check_message(HOMOGRAPH, [change], failed=[]),
        build_history_message(HOMOGRAPH, [(NOW, change)], day=None, dataset=None, limited=False),
    ]:
        assert "pаypal" in shown(message) and "xn--pypal-4ve" in shown(message) and FLAG in shown(message)
        assert slack_would_refuse(message) == []


def test_alerts_and_investigations_flag_mixed_scripts() -> None:
    change = Change("resolutions", ChangeKind.ADDED, "A", None, "98.126.38.107", "dns", NOW)
    alert = build_alert_message(HOMOGRAPH, IndicatorKind.DOMAIN, [change], detected_at=NOW)
    assert alert.blocks[0]["text"]["text"] == f"Change on pаypal[.]com (xn--pypal-4ve[.]com) ⚠ {FLAG}"
    assert f"*`pаypal.com` (`xn--pypal-4ve.com`) :warning: {FLAG}*" in shown(alert)
    assert FLAG in alert.text  # the notification says it too
    investigation = build_investigation_message(HOMOGRAPH, IndicatorKind.DOMAIN, [], [], looked_up_at=NOW)
    assert investigation.blocks[0]["text"]["text"].startswith(
        "Investigation: pаypal[.]com (xn--pypal-4ve[.]com)"
    )
    assert FLAG in shown(investigation)
    plain = build_alert_message(INTERFAX, IndicatorKind.DOMAIN, [change], detected_at=NOW)
    assert "mixed scripts" not in shown(plain) and "інтерфакс[.]рф (xn--80ajqjqics1n[.]xn--p1ai)" in shown(
        plain
    )


def test_home_shows_the_unicode_form() -> None:
    blocks = build_home_blocks(
        [HomeRow(INTERFAX, "domain", ("C0INTEL",), (), None, 0)], now=NOW, timezone=UTC
    )
    assert "`інтерфакс.рф` (`xn--80ajqjqics1n.xn--p1ai`)" in json.dumps(blocks, ensure_ascii=False)
