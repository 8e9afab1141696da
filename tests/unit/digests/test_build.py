"""The digest, pure: windows across time zones and DST, CSV (RFC 4180, formula
injection), and what a window's changes and failures sum up to."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.observations import Change, ChangeKind, IndicatorKind
from bot.digests.build import (
    CSV_HEADER,
    DigestWindow,
    build_digest,
    csv_row,
    daily_window,
    first_day_after,
    latest_due_day,
    neutralise_cell,
    render_csv,
    so_far_window,
)
from bot.digests.store import ChannelHealth, StaleDataset
from bot.monitoring.store.history import ChangeRecord, SourceFailureRecord

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
NINE = time(9, 0)
_ids = itertools.count(1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def change(
    indicator: str,
    at: datetime,
    *,
    dataset: str = "resolutions",
    kind: ChangeKind = ChangeKind.ADDED,
    field: str = "A",
    old: str | None = None,
    new: str | None = "192.0.2.1",
    source: str = "dns",
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
) -> ChangeRecord:
    number = next(_ids)
    return ChangeRecord(
        id=number,
        subject_id=hash(indicator) % 1000,
        indicator=indicator,
        kind=IndicatorKind.IP if indicator[0].isdigit() else IndicatorKind.DOMAIN,
        batch_id=f"b{number}",
        detected_at=at,
        change=Change(dataset, kind, field, old, new, source, first_seen, last_seen),
    )


def failure(
    indicator: str, at: datetime, source: str = "mnemonic", message: str = "HTTP 503"
) -> SourceFailureRecord:
    return SourceFailureRecord(hash(indicator) % 1000, indicator, "resolutions", source, message, at)


def parse_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


# --- windows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "at", "zone", "start", "end", "hours"),
    [
        pytest.param(
            date(2026, 11, 20), NINE, "UTC", utc(2026, 11, 19, 9), utc(2026, 11, 20, 9), 24, id="utc"
        ),
        pytest.param(
            date(2026, 7, 1),
            NINE,
            "Europe/Berlin",
            utc(2026, 6, 30, 7),
            utc(2026, 7, 1, 7),
            24,
            id="berlin summer",
        ),
        pytest.param(
            date(2026, 3, 29),
            NINE,
            "Europe/Berlin",
            utc(2026, 3, 28, 8),
            utc(2026, 3, 29, 7),
            23,
            id="spring forward",
        ),
        pytest.param(
            date(2026, 3, 30),
            NINE,
            "Europe/Berlin",
            utc(2026, 3, 29, 7),
            utc(2026, 3, 30, 7),
            24,
            id="day after spring",
        ),
        pytest.param(
            date(2026, 10, 25),
            NINE,
            "Europe/Berlin",
            utc(2026, 10, 24, 7),
            utc(2026, 10, 25, 8),
            25,
            id="fall back",
        ),
        pytest.param(
            date(2026, 3, 8),
            NINE,
            "America/New_York",
            utc(2026, 3, 7, 14),
            utc(2026, 3, 8, 13),
            23,
            id="new york spring",
        ),
        pytest.param(
            date(2026, 11, 20),
            time(9, 30),
            "Asia/Kolkata",
            utc(2026, 11, 19, 4),
            utc(2026, 11, 20, 4),
            24,
            id="half-hour offset",
        ),
        # 02:30 does not exist on 29 March in Berlin: it falls after the gap (03:30 CEST).
        pytest.param(
            date(2026, 3, 29),
            time(2, 30),
            "Europe/Berlin",
            utc(2026, 3, 28, 1, 30),
            utc(2026, 3, 29, 1, 30),
            24,
            id="time in the spring gap",
        ),
        # 02:30 happens twice on 25 October: the first one (CEST).
        pytest.param(
            date(2026, 10, 25),
            time(2, 30),
            "Europe/Berlin",
            utc(2026, 10, 24, 0, 30),
            utc(2026, 10, 25, 0, 30),
            24,
            id="time repeated in the fall",
        ),
    ],
)
def test_digest_window_follows_the_wall_clock(
    day: date, at: time, zone: str, start: datetime, end: datetime, hours: int
) -> None:
    window = daily_window(day, at, ZoneInfo(zone))
    assert (window.start, window.end) == (start, end)
    assert window.length == timedelta(hours=hours)
    assert window.label == day.isoformat()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(utc(2026, 3, 29, 6, 59, 59), date(2026, 3, 28), id="a second before 09:00 CEST"),
        pytest.param(utc(2026, 3, 29, 7, 0), date(2026, 3, 29), id="09:00 CEST"),
        pytest.param(utc(2026, 3, 28, 23, 30), date(2026, 3, 28), id="local midnight passed, UTC not"),
        pytest.param(utc(2026, 10, 25, 7, 30), date(2026, 10, 24), id="08:30 CET after fall back"),
        pytest.param(utc(2026, 10, 25, 8, 0), date(2026, 10, 25), id="09:00 CET after fall back"),
    ],
)
def test_digest_latest_due_day_in_berlin(now: datetime, expected: date) -> None:
    assert latest_due_day(now, NINE, BERLIN) == expected


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        pytest.param(utc(2026, 11, 20, 7, 59), date(2026, 11, 20), id="before 09:00 CET: that day's digest"),
        pytest.param(utc(2026, 11, 20, 8, 0), date(2026, 11, 21), id="at 09:00 CET: the next day's"),
        pytest.param(utc(2026, 11, 20, 23, 30), date(2026, 11, 21), id="after local midnight"),
    ],
)
def test_digest_first_day_after_a_monitor_is_set(since: datetime, expected: date) -> None:
    assert first_day_after(since, NINE, BERLIN) == expected


def test_digest_so_far_window_starts_at_the_latest_digest_time() -> None:
    now = utc(2026, 3, 29, 12, 15)
    window = so_far_window(now, NINE, BERLIN)
    assert (window.start, window.end, window.day) == (utc(2026, 3, 29, 7), now, None)
    assert window.label == "2026-03-29-1415-so-far"
    early = so_far_window(utc(2026, 3, 29, 6), NINE, BERLIN)
    assert early.start == utc(2026, 3, 28, 8)


# --- CSV ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1-555-0100", "'+1-555-0100"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("＝1+1", "'＝1+1"),
        ("v=spf1 -all", "v=spf1 -all"),
        ("evil.example.com", "evil.example.com"),
        ("2001:db8::1", "2001:db8::1"),
        ("", ""),
        (" =1+1", " =1+1"),
    ],
)
def test_digest_neutralise_cell(value: str, expected: str) -> None:
    assert neutralise_cell(value) == expected


def test_digest_csv_is_rfc4180_and_round_trips() -> None:
    rows = [
        ["plain", "with,comma", 'with "quotes"', "line\r\nbreak", "ünïcødé Мир 例え"],
        ["=1+1", "@cmd", "-10", "+10", "\tTAB"],
    ]
    content = render_csv(rows, header=["a", "b", "c", "d", "e"])
    assert not content.startswith(b"\xef\xbb\xbf")
    assert content.startswith(b"a,b,c,d,e\r\n")
    assert b'"with,comma","with ""quotes""","line\r\nbreak"' in content
    assert content.endswith(b"\r\n")
    assert parse_csv(content) == [
        ["a", "b", "c", "d", "e"],
        rows[0],
        ["'=1+1", "'@cmd", "'-10", "'+10", "'\tTAB"],
    ]


def test_digest_csv_row_times_in_the_team_zone_keep_their_offset() -> None:
    # 02:30 happens twice in Berlin on 25 October 2026: the offset tells them apart.
    first = change("evil.example.com", utc(2026, 10, 25, 0, 30), first_seen=utc(2026, 10, 24, 22))
    second = change(
        "evil.example.com", utc(2026, 10, 25, 1, 30), kind=ChangeKind.REMOVED, old="192.0.2.9", new=None
    )
    assert csv_row(first, BERLIN)[:2] == ["2026-10-25", "02:30:00+02:00"]
    assert csv_row(second, BERLIN)[:2] == ["2026-10-25", "02:30:00+01:00"]
    assert csv_row(first, BERLIN)[8:10] == ["2026-10-25 00:00:00+02:00", ""]
    assert csv_row(second, BERLIN)[3:8] == ["resolutions", "removed", "A", "192.0.2.9", ""]


# --- the digest ---------------------------------------------------------------------

WINDOW = daily_window(date(2026, 11, 20), NINE, BERLIN)  # 19 Nov 08:00Z to 20 Nov 08:00Z
T = utc(2026, 11, 19, 10)


def test_digest_sums_up_a_day_per_dataset_and_indicator() -> None:
    records = [
        change(
            "98.126.38.107",
            T,
            dataset="resolutions",
            field="domain",
            new="www.interfaxru.com",
            source="mnemonic",
        ),
        change(
            "98.126.38.107",
            T + timedelta(hours=1),
            dataset="resolutions",
            field="domain",
            new="mail.evil.com",
        ),
        change("98.126.38.107", T + timedelta(hours=2), dataset="services", field="port", new="8443"),
        change(
            "evil.example.com",
            T + timedelta(hours=3),
            dataset="whois",
            kind=ChangeKind.CHANGED,
            field="registrar",
            old="NameCheap, Inc.",
            new="=cmd|' /C calc'!A0",
            source="whois",
        ),
        change(
            "evil.example.com", T + timedelta(hours=4), kind=ChangeKind.REMOVED, old="192.0.2.7", new=None
        ),
        change("late.example.com", WINDOW.end, new="192.0.2.200"),  # the next window's
        change("early.example.com", WINDOW.start - timedelta(seconds=1)),  # the previous one's
    ]
    failures = [
        failure("98.126.38.107", T + timedelta(minutes=5)),
        failure("evil.example.com", T + timedelta(hours=5, minutes=35), message="HTTP 429 <!channel>"),
        failure("evil.example.com", T + timedelta(hours=2), source="crtsh", message="timeout"),
    ]
    digest = build_digest(records, failures, window=WINDOW, now=WINDOW.end)

    assert (digest.total_changes, digest.indicators) == (5, 2)
    assert [(d.dataset, d.changes, d.indicators, d.added, d.removed, d.changed) for d in digest.datasets] == [
        ("resolutions", 3, 2, 2, 1, 0),
        ("services", 1, 1, 1, 0, 0),
        ("whois", 1, 1, 0, 0, 1),
    ]
    first, second = digest.notes
    assert (first.indicator, first.changes, first.by_dataset) == (
        "98.126.38.107",
        3,
        (("resolutions", 2, 0, 0), ("services", 1, 0, 0)),
    )
    assert (first.first_at, first.last_at) == (T, T + timedelta(hours=2))
    assert [c.value for c in second.samples] == ["=cmd|' /C calc'!A0", "192.0.2.7"]  # what is new first
    assert [(s.source, s.failures, s.indicators, s.first_at, s.last_at) for s in digest.sources] == [
        ("mnemonic", 2, 2, T + timedelta(minutes=5), T + timedelta(hours=5, minutes=35)),
        ("crtsh", 1, 1, T + timedelta(hours=2), T + timedelta(hours=2)),
    ]
    assert digest.sources[0].last_message == "HTTP 429 <!channel>"
    assert digest.has_news

    files = {f.dataset: f for f in digest.files}
    assert [f.filename for f in digest.files] == [
        "watchpost-2026-11-20-resolutions.csv",
        "watchpost-2026-11-20-services.csv",
        "watchpost-2026-11-20-whois.csv",
    ]
    whois = parse_csv(files["whois"].content)
    assert whois[0] == list(CSV_HEADER)
    assert whois[1] == [
        "2026-11-19",
        "14:00:00+01:00",
        "evil.example.com",
        "whois",
        "changed",
        "registrar",
        "NameCheap, Inc.",
        "'=cmd|' /C calc'!A0",
        "",
        "",
        "whois",
        "",  # triage: not given to this pure build
    ]
    resolutions = parse_csv(files["resolutions"].content)
    assert [row[7] for row in resolutions[1:]] == ["www.interfaxru.com", "mail.evil.com", ""]
    assert files["resolutions"].rows == 3


def test_digest_of_a_quiet_day_has_no_news_unless_sources_failed() -> None:
    quiet = build_digest([], [], window=WINDOW, now=WINDOW.end)
    assert (quiet.total_changes, quiet.files, quiet.notes, quiet.has_news) == (0, (), (), False)
    failing = build_digest([], [failure("evil.example.com", T)], window=WINDOW, now=WINDOW.end)
    assert failing.has_news and failing.total_changes == 0


def test_digest_health_reports_stale_datasets_and_unchecked_indicators() -> None:
    now = WINDOW.end
    health = ChannelHealth(
        stale=(StaleDataset("evil.example.com", "whois", now - timedelta(hours=6), "port 43 refused"),),
        last_checked=(
            ("evil.example.com", now - timedelta(minutes=30)),
            ("slow.example.com", now - timedelta(hours=3)),
            ("new.example.com", None),
        ),
    )
    digest = build_digest([], [], window=WINDOW, now=now, health=health, overdue_after=timedelta(hours=2))
    assert [(s.indicator, s.dataset) for s in digest.stale] == [("evil.example.com", "whois")]
    assert [(o.indicator, o.last_checked_at) for o in digest.overdue] == [
        ("new.example.com", None),
        ("slow.example.com", now - timedelta(hours=3)),
    ]
    assert digest.has_news


def test_digest_on_demand_files_are_named_after_the_moment() -> None:
    now = utc(2026, 11, 20, 13, 5)
    window = so_far_window(now, NINE, BERLIN)
    digest = build_digest(
        [change("evil.example.com", now - timedelta(minutes=1))], [], window=window, now=now
    )
    assert [f.filename for f in digest.files] == ["watchpost-2026-11-20-1405-so-far-resolutions.csv"]
    assert isinstance(digest.window, DigestWindow) and digest.window.day is None
