"""Every builder in bot/render/, fed adversarial sizes (thousands of items, values of
thousands of characters full of mrkdwn control characters), must give messages Slack
accepts: checked with the Slack fake's own validator. Long lists are split between lines
and summarised, never cut mid-line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.alerts.messages.alerts import (
    build_accepted_alert_message,
    build_alert_message,
    build_change_list_messages,
)
from bot.commands.messages.home import HomeRow, build_home_blocks
from bot.commands.messages.replies import (
    DatasetView,
    ListRow,
    build_added_message,
    build_baseline_message,
    build_check_message,
    build_error_message,
    build_help_message,
    build_history_message,
    build_list_message,
    build_muted_message,
    build_notice_message,
    build_removed_message,
    build_status_message,
    fit_responses,
)
from bot.core.errors import IndicatorError
from bot.core.indicators import parse_indicators
from bot.core.limits import MAX_BLOCKS_HOME, MAX_SECTION_TEXT, fallback_text, shorten_line, split_lines
from bot.core.message import Message, section
from bot.core.mrkdwn import escape
from bot.core.observations import (
    Change,
    ChangeKind,
    Fact,
    FactState,
    FactStatus,
    IndicatorKind,
    Observation,
    SourceFailure,
)
from bot.investigations.messages.investigation import build_investigation_message
from tests.fakes.slack_api import slack_would_refuse

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SharedLink:
    """What the investigation builder reads of a link to a monitored indicator."""

    indicator: str
    field: str
    value: str
    channel_ids: tuple[str, ...]
    other_channels: int = 0


HOSTILE = "<!channel> & `tick` <https://evil.test|x> *bold* _it_ ~s~ "
HUGE = HOSTILE * 300  # about 17,000 characters
LONG_NAME = ".".join(["a" * 61] * 4)  # 247 characters, a valid name
NAMES = [f"{i:03}{LONG_NAME[3:]}" for i in range(200)]


def change(i: int, dataset: str = "resolutions") -> Change:
    return Change(
        dataset, ChangeKind.CHANGED, f"f{i}{HUGE[:500]}", HUGE, HUGE, HUGE, NOW - timedelta(days=1), NOW
    )


def dataset_view(name: str, *, baseline: bool = True) -> DatasetView:
    facts = [FactState(f"TXT{i}", HUGE, HUGE, NOW, FactStatus.ACTIVE) for i in range(1000)]
    return DatasetView(name, facts, stale=True, error=HUGE, has_baseline=baseline)


def observation(dataset: str) -> Observation:
    facts = frozenset(
        Fact(field, f"{i}{HUGE[:3000]}", HUGE) for i in range(300) for field in ("A", "certificate")
    )
    return Observation(dataset, facts, frozenset(), (SourceFailure(HUGE, HUGE),))


def bad_paste_error() -> str:
    tokens = " ".join(f"{'x' * 150}{i}!" for i in range(200))
    with pytest.raises(IndicatorError) as caught:
        parse_indicators(tokens)
    return str(caught.value)


BUILDERS = {
    "help": lambda: build_help_message(),
    "error: 200 long bad tokens": lambda: build_error_message(bad_paste_error()),
    # An error's text is ours, with the user's input already escaped in it.
    "error: one huge line": lambda: build_error_message(escape(HUGE * 3)),
    "error: 5,000 lines": lambda: build_error_message(
        "\n".join(f"• problem {i} {escape(HOSTILE)}" for i in range(5000))
    ),
    "error: empty": lambda: build_error_message(""),
    "added": lambda: build_added_message([(n, i % 2 == 0) for i, n in enumerate(NAMES)]),
    "added: huge values": lambda: build_added_message([(HUGE, True), (HUGE, False)] * 60),
    "baseline": lambda: build_baseline_message(HUGE, [dataset_view(f"d{i}{HUGE}") for i in range(80)]),
    "baseline pending": lambda: build_baseline_message(HUGE, [dataset_view(HUGE, baseline=False)] * 80),
    "status": lambda: build_status_message(HUGE, [dataset_view(HUGE)] * 60, NOW),
    "removed": lambda: build_removed_message(NAMES * 5),
    "list": lambda: build_list_message(
        [ListRow(HUGE, HUGE, NOW, [HUGE] * 50, [HUGE] * 50) for _ in range(3000)]
    ),
    "list: tuples": lambda: build_list_message([(n, "domain", None, ()) for n in NAMES * 20]),
    "check": lambda: build_check_message(HUGE, [change(i) for i in range(500)], failed=[HUGE] * 100),
    "check: no change": lambda: build_check_message(HUGE, [], failed=[HUGE] * 100),
    "history": lambda: build_history_message(
        HUGE, [(NOW, change(i, HUGE)) for i in range(300)], day=date(2026, 12, 1), dataset=HUGE, limited=True
    ),
    "history: empty": lambda: build_history_message(HUGE, [], day=None, dataset=HUGE, limited=False),
    "muted": lambda: build_muted_message(HUGE, HUGE, muted=True, user_id=HUGE),
    "unmuted": lambda: build_muted_message(HUGE, HUGE, muted=False, user_id="U0ANALYST"),
    "notice": lambda: build_notice_message("&" * 10_000),
    "notice: hostile": lambda: build_notice_message(HUGE),
    "fit responses": lambda: fit_responses(
        [Message(escape(HUGE), [section(escape(HOSTILE))] * 40) for _ in range(20)], 5
    )[-1],
    # Identities (indicators, dataset names) are canonical and end up in button values;
    # everything a source reports is hostile.
    "alert": lambda: build_alert_message(
        LONG_NAME,
        IndicatorKind.DOMAIN,
        [change(i, f"d{i % 30}{'x' * 500}") for i in range(1000)],
        detected_at=NOW,
    ),
    "alert: many pivots": lambda: build_alert_message(
        "evil.com",
        IndicatorKind.DOMAIN,
        [Change("resolutions", ChangeKind.ADDED, "A", None, n, HUGE, NOW) for n in NAMES],
        detected_at=NOW,
    ),
    "accepted alert": lambda: build_accepted_alert_message(
        build_alert_message(HUGE, IndicatorKind.IP, [change(i) for i in range(100)], detected_at=NOW),
        user_id=HUGE,
        accepted_at=NOW,
    ),
    "investigation": lambda: build_investigation_message(
        LONG_NAME,
        IndicatorKind.DOMAIN,
        [observation(d) for d in ("resolutions", "dns_records", "whois", "certificates", "services", HUGE)],
        [SharedLink(n, HUGE, HUGE, ("C0INTEL",) * 50, 10**6) for n in NAMES],
        looked_up_at=NOW,
        monitored_in=[f"C{i:08}" for i in range(500)],
        monitored_elsewhere=10**6,
    ),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_reply_builder_stays_within_slack_limits(name: str) -> None:
    message = BUILDERS[name]()
    assert slack_would_refuse(message) == []


def test_change_list_messages_stay_within_limits() -> None:
    messages = build_change_list_messages(HUGE, [change(i, HUGE) for i in range(2000)])
    assert len(messages) > 1
    assert all(slack_would_refuse(m) == [] for m in messages)
    shown = sum(m.blocks[i]["text"]["text"].count("\n") + 1 for m in messages for i in range(len(m.blocks)))
    assert shown == 2000  # every change listed, one line each


def test_home_stays_within_its_100_blocks() -> None:
    rows = [
        HomeRow(HUGE, HUGE, tuple(f"C{i:08}" for i in range(100)), (HUGE,) * 100, NOW, 10**9, (HUGE,) * 100)
        for _ in range(2000)
    ]
    blocks = build_home_blocks(rows, now=NOW, timezone=ZoneInfo("Europe/Berlin"))
    assert slack_would_refuse(Message("home", blocks), max_blocks=MAX_BLOCKS_HOME) == []


def test_the_measured_long_paste_error_is_split_between_whole_lines() -> None:
    # The paste from the issue: a dozen or more long bad tokens gave one 5,689-character section.
    text = bad_paste_error()
    message = build_error_message(text)
    assert slack_would_refuse(message) == []
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert len(sections) > 1
    problem_lines = text.splitlines()
    shown_lines = [line for part in sections for line in part.splitlines()]
    assert shown_lines == [f":warning: {problem_lines[0]}", *problem_lines[1:]]  # every line whole, in order
    assert problem_lines[-1] == "…and 180 more"
    assert len(message.text) <= MAX_SECTION_TEXT and message.text.startswith("200 of the indicators")


def test_an_error_too_long_for_any_message_says_what_it_left_out() -> None:
    message = build_error_message("\n".join(f"• problem {i} {escape(HOSTILE)}" for i in range(5000)))
    last = message.blocks[-1]
    assert last["type"] == "context"
    hidden = int(re.search(r"…and (\d+) more lines not shown", last["elements"][0]["text"]).group(1))  # type: ignore[union-attr]
    shown = sum(b["text"]["text"].count("\n") + 1 for b in message.blocks if b["type"] == "section")
    assert shown + hidden == 5000


@pytest.mark.parametrize(
    ("line", "limit", "shortened"),
    [
        ("short", 10, "short"),
        ("word " * 10, 20, "word word word…"),
        ("`" + "x" * 50 + "`", 20, "`" + "x" * 17 + "`…"),
        ("a &amp; b &lt;c", 12, "a &amp; b…"),
        ("x" * 30, 10, "x" * 8 + "…"),
    ],
)
def test_shorten_line(line: str, limit: int, shortened: str) -> None:
    assert shorten_line(line, limit) == shortened
    assert len(shorten_line(line, limit)) <= limit


def test_split_lines_splits_only_between_lines() -> None:
    lines = [f"line {i} " + "x" * (i % 50) for i in range(400)]
    parts = split_lines(lines, limit=300)
    assert all(len(part) <= 300 for part in parts)
    assert [line for part in parts for line in part.split("\n")] == lines


def test_fallback_text_keeps_whole_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(1000))
    fallback = fallback_text(text, 100)
    assert len(fallback) <= 100 and fallback.endswith("\n…")
    assert all(line in text.splitlines() for line in fallback.splitlines()[:-1])
