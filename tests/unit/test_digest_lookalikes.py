"""The digest's lookalikes.csv (pure): the window's findings, one row each, safe for spreadsheets."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.digests.build import LOOKALIKE_CSV_HEADER, build_digest, daily_window
from bot.digests.render import build_digest_message
from bot.watches.model import Finding

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = daily_window(date(2026, 12, 1), time(9, 0), BERLIN)


def finding(domain: str, at: datetime, **extra: object) -> Finding:
    values: dict[str, object] = {
        "id": 1,
        "team_id": "T1",
        "channel_id": "C1",
        "domain": domain,
        "name": f"www.{domain}",
        "reasons": (
            {"watch_id": 1, "term": "interfax.ru", "why": "various permutation of interfax.ru"},
            {"watch_id": 2, "term": "interfax", "why": "contains the keyword 'interfax'"},
        ),
        "source": "ct",
        "issuer": "Let's Encrypt",
        "first_seen_at": at,
        "message_ts": "1.2",
        "certificates": 2,
    }
    values.update(extra)
    return Finding(**values)  # type: ignore[arg-type]


def test_digest_lookalikes_csv_holds_the_windows_findings() -> None:
    inside = WINDOW.start + timedelta(hours=2)
    findings = [
        finding("interfaxru.com", inside),
        finding("=cmd.example", inside, source="dns", issuer=None, dismissed=True),
        finding("early.example", WINDOW.start - timedelta(seconds=1)),
    ]
    digest = build_digest([], [], window=WINDOW, now=WINDOW.end, findings=findings)
    assert digest.has_news and digest.lookalikes == 2
    [csv_file] = digest.files
    assert csv_file.filename.endswith("-lookalikes.csv") and csv_file.rows == 2
    rows = list(csv.reader(io.StringIO(csv_file.content.decode())))
    assert tuple(rows[0]) == LOOKALIKE_CSV_HEADER
    assert rows[1][2:] == [
        "interfaxru.com",
        "interfaxru.com",
        "",
        "www.interfaxru.com",
        "interfax.ru; interfax",
        "various permutation of interfax.ru; contains the keyword 'interfax'",
        "ct",
        "Let's Encrypt",
        "2",
        "",
    ]
    assert rows[1][1] == (inside.astimezone(BERLIN)).isoformat(timespec="seconds").partition("T")[2]
    assert rows[2][2] == "'=cmd.example" and rows[2][-1] == "yes"  # no formula; dismissed
    message = build_digest_message(digest)
    assert "2 lookalikes" in message.text and "lookalikes.csv" in str(message.blocks)


def test_digest_without_findings_has_no_lookalikes_file() -> None:
    digest = build_digest([], [], window=WINDOW, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert digest.files == () and not digest.has_news


def test_digest_csv_reads_a_homoglyph_in_unicode_beside_its_punycode() -> None:
    inside = WINDOW.start + timedelta(hours=1)
    digest = build_digest(
        [], [], window=WINDOW, now=WINDOW.end, findings=[finding("xn--nterfax-qog.ru", inside)]
    )
    [csv_file] = digest.files
    row = list(csv.reader(io.StringIO(csv_file.content.decode())))[1]
    assert row[2:5] == ["xn--nterfax-qog.ru", "\u0456nterfax.ru", "Latin + Cyrillic"]


def test_digest_lookalike_csv_names_its_day_column_like_the_other_csvs() -> None:
    from bot.digests.build import CSV_HEADER

    assert LOOKALIKE_CSV_HEADER[:2] == CSV_HEADER[:2] == ("day", "time")


def test_digest_counts_the_findings_a_mute_or_snooze_kept_out_of_the_channel() -> None:
    inside = WINDOW.start + timedelta(hours=1)
    findings = [
        finding("interfaxru.com", inside),
        finding("interfax-login.com", inside, silenced="mute", message_ts=None),
        finding("interfax-pay.com", inside, silenced="snooze", message_ts=None),
    ]
    digest = build_digest([], [], window=WINDOW, now=WINDOW.end, findings=findings)
    assert (digest.lookalikes, digest.lookalikes_silenced) == (3, 2)
    assert digest.files[0].rows == 3  # kept in the CSV: silenced, never hidden
    shown = str(build_digest_message(digest).blocks)
    assert "3 new findings, 2 not alerted (muted or snoozed watches)" in shown
    alerted = build_digest([], [], window=WINDOW, now=WINDOW.end, findings=findings[:1])
    assert "not alerted" not in str(build_digest_message(alerted).blocks)
