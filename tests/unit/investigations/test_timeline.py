"""The pictures: valid PNGs of a sane size, whose content follows their input."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib.image import imread

from bot.core.observations import ChangeKind
from bot.investigations.messages.timeline import Interval, Mark, render_timeline, render_week_chart

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def pixels(png: bytes) -> np.ndarray:
    assert png.startswith(PNG)
    return imread(io.BytesIO(png), format="png")


INTERVALS = [
    Interval("resolutions", "A", "45.77.10.20", hours_ago(240), None),
    Interval("resolutions", "A", "98.126.38.107", hours_ago(100), hours_ago(30)),
    Interval("dns_records", "NS", "ns1.njalla.no", hours_ago(240), hours_ago(48)),
    Interval("dns_records", "NS", "ns1.cloudflare.com", hours_ago(48), None),
    Interval("whois", "registrar", "Njalla $not math$", hours_ago(240), None),
]
MARKS = [
    Mark("resolutions", "A", "98.126.38.107", ChangeKind.ADDED, hours_ago(100)),
    Mark("resolutions", "A", "98.126.38.107", ChangeKind.REMOVED, hours_ago(29)),
    Mark("dns_records", "NS", "ns1.cloudflare.com", ChangeKind.CHANGED, hours_ago(48)),
    Mark("subdomains", "subdomain", "not-drawn.evil.com", ChangeKind.ADDED, hours_ago(5)),  # no interval
]


def test_timeline_is_a_png_of_sane_size_that_grows_with_its_rows() -> None:
    image = pixels(render_timeline("evil-infra.com", INTERVALS, MARKS, now=NOW))
    height, width = image.shape[:2]
    assert width == 1000 and 200 <= height <= 600
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    more = [
        Interval("subdomains", "subdomain", f"h{n}.evil-infra.com", hours_ago(n), None) for n in range(30)
    ]
    taller = pixels(render_timeline("evil-infra.com", INTERVALS + more, MARKS, now=NOW))
    assert taller.shape[0] > height + 200 and taller.shape[1] == width


def test_timeline_content_follows_the_input() -> None:
    base = render_timeline("evil-infra.com", INTERVALS, MARKS, now=NOW)
    assert render_timeline("evil-infra.com", INTERVALS, MARKS, now=NOW) == base  # deterministic
    moved = [
        *INTERVALS[:1],
        Interval("resolutions", "A", "98.126.38.107", hours_ago(200), hours_ago(150)),
        *INTERVALS[2:],
    ]
    for other in (
        render_timeline("evil-infra.com", moved, MARKS, now=NOW),
        render_timeline("evil-infra.com", INTERVALS, MARKS[:1], now=NOW),
        render_timeline("other.example", INTERVALS, MARKS, now=NOW),
    ):
        a, b = pixels(base), pixels(other)
        assert a.shape != b.shape or np.abs(a - b).sum() > 10


def test_timeline_caps_its_rows_and_draws_an_empty_history() -> None:
    many = [Interval("subdomains", "subdomain", f"h{n}.evil.com", hours_ago(n), None) for n in range(500)]
    capped = pixels(render_timeline("evil.com", many, [], now=NOW, max_rows=40))
    assert capped.shape[0] < 1600
    empty = pixels(render_timeline("quiet.example", [], [], now=NOW))
    assert empty.shape[1] == 1000


def test_week_chart_counts_the_week_in_the_team_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    changes = [
        (hours_ago(h), dataset) for h, dataset in [(1, "resolutions"), (5, "resolutions"), (30, "whois")]
    ]
    chart = render_week_chart(changes, last_day=NOW.date(), timezone=berlin)
    image = pixels(chart)
    assert image.shape[:2] == (260, 600)
    quiet = render_week_chart([], last_day=NOW.date(), timezone=berlin)
    outside = render_week_chart([(hours_ago(24 * 9), "whois")], last_day=NOW.date(), timezone=berlin)
    assert quiet != chart and np.abs(pixels(quiet) - image).sum() > 10
    assert np.array_equal(pixels(outside), pixels(quiet))  # nine days ago is not this week


async def test_drawing_in_a_child_process_gives_the_same_picture() -> None:
    from bot.investigations.messages.drawing import DrawingError, draw

    assert await draw("render_timeline", "evil-infra.com", INTERVALS, MARKS, now=NOW) == render_timeline(
        "evil-infra.com", INTERVALS, MARKS, now=NOW
    )
    try:
        await draw("render_week_chart", [], last_day="not a date", timezone=UTC)
    except DrawingError as exc:
        assert "render_week_chart failed" in str(exc)
    else:
        raise AssertionError("a drawing that fails must say so")
