"""What a new watch is told it can see, and the CT lines of health (pure): said as it is,
never promised before the reader has read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.monitoring.messages.health import build_health_message, build_home_health_blocks
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.watches.ct.messages import ct_reading_lines, watch_outlook_lines
from bot.watches.ct.model import CtReading, CtState, UnreadableEntries
from bot.watches.ct.store import CtPosition
from bot.watches.model import WatchKind
from tests.unit.samples import NOW

ARGON = "https://ct.example/argon2026/"
FOLLOWING = CtReading(
    CtState.FOLLOWING,
    since=NOW - timedelta(hours=2),
    list_read_at=NOW - timedelta(hours=2),
    list_error="",
    logs_followed=3,
    measured_entries=120_000,
    measured_bytes=240_000_000,
    measured_seconds=7200,
)
UNREADABLE_LIST = CtReading(
    CtState.WAITING, since=NOW, list_read_at=None, list_error="ct-log-list: HTTP 503", logs_followed=0
)
FAILING_RESOLVER = ResolverStatus("10.0.0.2:53", "no answer in 5 s", checked_at=NOW, failing_since=NOW)
POSITION = CtPosition(ARGON, 900, 1000, NOW)


@pytest.mark.parametrize(
    ("reading", "ct_enabled", "said", "not_said"),
    [
        (None, False, "CT is off (no WATCHPOST_CT_LOG_LIST_URL): no certificate is matched", "from now on"),
        (None, True, "the CT reader is not following the logs yet: it starts now", "from now on"),
        (UNREADABLE_LIST, True, "The CT log list cannot be read: ct-log-list: HTTP 503.", "from now on"),
        (
            FOLLOWING,
            True,
            "Certificates logged from now on are matched; 100 entries behind in all.",
            "estimate",
        ),
        (
            FOLLOWING,
            True,
            "Cost: about 1,440,000 entries and 2.9 GB a day (measured over the last 2 h 0 min)",
            "?",
        ),
    ],
)
def test_watch_outlook_says_what_the_watch_sees_now(
    reading: CtReading | None, ct_enabled: bool, said: str, not_said: str
) -> None:
    lines = watch_outlook_lines(WatchKind.KEYWORD, reading, [POSITION], None, ct_enabled=ct_enabled)
    text = "\n".join(lines)
    assert said in text and not_said not in text
    assert "Permutations" not in text  # a keyword watch has none


def test_lookalike_outlook_says_the_resolver_fails_and_so_permutations_wait() -> None:
    lines = watch_outlook_lines(WatchKind.LOOKALIKE, FOLLOWING, [POSITION], FAILING_RESOLVER, ct_enabled=True)
    assert lines[-1].startswith(":red_circle: Permutations: not resolved while the resolver fails since")
    assert "no answer in 5 s" in lines[-1]


def test_health_lines_name_failing_logs_and_entries_passed_over() -> None:
    reading = CtReading(
        CtState.FOLLOWING,
        since=NOW,
        list_read_at=NOW,
        list_error="ct-log-list: timed out",
        logs_followed=2,
        logs_failing=((ARGON, "HTTP 503"),),
        unreadable=(UnreadableEntries(ARGON, 4, "entry 77: unreadable TBSCertificate (no serial number)"),),
    )
    first, failing, unreadable, cost = ct_reading_lines(reading)
    assert "Following 2 CT logs" in first and "its last refresh failed (ct-log-list: timed out)" in first
    assert failing == ":warning: 1 log failed at the last read: `ct.example/argon2026` HTTP 503"
    assert unreadable.startswith(":warning: 4 entries unreadable and passed over: `ct.example/argon2026` 4")
    assert "entry 77" in unreadable
    assert cost.startswith("Cost: not measured yet")


def test_health_says_ct_is_not_read_while_nobody_watches_even_with_old_positions() -> None:
    idle = CtReading(CtState.IDLE, since=NOW, list_read_at=None, list_error="", logs_followed=0)

    home = str(build_home_health_blocks([], ct_logs=[POSITION], ct_reading=idle))
    health = str(build_health_message([], ct_logs=[POSITION], ct_reading=idle).blocks)

    assert "not read (no lookalike or keyword watch)" in home and "entries behind" not in home
    assert "Not reading CT: no lookalike or keyword watch" in health and "read to entry" not in health


def test_counts_of_logs_read_in_the_singular_for_one() -> None:
    from bot.core.mrkdwn import count

    assert count(1, "log") == "1 log" and count(2, "log") == "2 logs"
    assert count(1, "entry", "entries") == "1 entry" and count(1204, "entry", "entries") == "1,204 entries"
