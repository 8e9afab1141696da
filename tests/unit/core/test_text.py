"""The console's text rendering: mrkdwn read as a person reads it in Slack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.alerts.messages.alerts import build_alert_message
from bot.core.message import Block
from bot.core.observations import Change, ChangeKind, IndicatorKind
from bot.core.text import mrkdwn_to_text, render_text

NAMES = {"U0CONSOLE": "you", "C0CONSOLE": "console"}


@pytest.mark.parametrize(
    ("mrkdwn", "text"),
    [
        ("<@U0CONSOLE> muted it", "@you muted it"),
        ("<@U0OTHER> muted it", "@U0OTHER muted it"),
        ("in <#C0CONSOLE>", "in #console"),
        ("in <#C0ELSE|intel>", "in #intel"),
        ("<https://api.slack.com/apps|the app page>", "the app page (https://api.slack.com/apps)"),
        ("<https://crt.sh/>", "https://crt.sh/"),
        ("<!here> look", "@here look"),
        (":no_bell: muted · :hourglass: stale", "🔕 muted · ⏳ stale"),
        (":warning: careful", "⚠ careful"),
        (":unknown_code: stays", ":unknown_code: stays"),
        ("*bold* _italic_ ~struck~", "bold italic struck"),
        ("_nothing observed_", "nothing observed"),
        ("*`evil.com`* (domain)", "`evil.com` (domain)"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("`_dmarc.evil.com *TXT*` kept", "`_dmarc.evil.com *TXT*` kept"),
        ("`&lt;!channel&gt;` &amp; more", "`<!channel>` & more"),
        ("a \ue0009\ue001 b", "a \ue0009\ue001 b"),  # not our placeholder: left as it is
    ],
)
def test_mrkdwn_to_text_reads_like_slack(mrkdwn: str, text: str) -> None:
    assert mrkdwn_to_text(mrkdwn, NAMES) == text


def test_render_text_numbers_buttons_through_the_callers_label() -> None:
    change = Change("resolutions", ChangeKind.ADDED, "A", None, "45.77.10.20", "dns")
    message = build_alert_message(
        "evil.com", IndicatorKind.DOMAIN, [change], detected_at=datetime(2026, 11, 20, tzinfo=UTC)
    )
    seen: list[str] = []

    def label(element: Block) -> str:
        seen.append(element["action_id"])
        return f"[{len(seen)} {element['text']['text']}]"

    shown = render_text(message, names=NAMES, button_label=label)
    assert message.label == "alert"
    assert "[1 Investigate 45.77.10.20]" in shown and "[9 Accept as baseline]" in shown
    assert seen == [
        "investigate_0",
        "monitor_indicator_0",
        "ack",
        "false_positive",
        "snooze",
        "snooze_7d",
        "snooze_30d",
        "mute_dataset_0",
        "accept_baseline",
    ]
    assert "*" not in shown and "Change on evil[.]com" in shown
    assert "[Investigate 45.77.10.20]" in render_text(message)  # unnumbered by default


def test_every_emoji_code_the_bot_writes_reads_as_a_symbol_in_the_console() -> None:
    """The console shows a symbol, never `:code:`, for each emoji the builders use."""
    import re
    from pathlib import Path

    bot = Path(__file__).resolve().parents[3] / "bot"
    written = {
        code
        for path in bot.rglob("*.py")
        if {"messages", "delivery", "digests", "commands", "flows"}
        & set(path.relative_to(bot).with_suffix("").parts)
        for code in re.findall(r":[a-z][a-z0-9_]*[a-z0-9]:", path.read_text())
        if code != ":emoji:"  # the regex's own name in text.py
    }
    assert len(written) > 10
    assert sorted(code for code in written if mrkdwn_to_text(code, {}) == code) == []
