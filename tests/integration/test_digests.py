"""The daily digest against the real databases (SQLite and PostgreSQL): posted once per
channel per day even with two processes racing, finished after a crash, caught up after
downtime, on the team's wall clock across daylight-saving changes, and on demand."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts.delivery.outbox import OutboxWorker
from bot.config import Settings
from bot.core.errors import UserInputError
from bot.core.observations import IndicatorKind
from bot.core.transport import DeliveryError
from bot.digests.build import CSV_HEADER
from bot.digests.service import DigestReport, DigestService
from bot.monitoring.runner import Runner
from bot.monitoring.scheduler import CheckDispatcher, build_scheduler, digest_trigger
from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from bot.storage.models import DigestRun
from tests.fakes.clock import FakeClock
from tests.fakes.transport import RecordingTransport
from tests.integration.test_storage import record, resolutions

BERLIN = ZoneInfo("Europe/Berlin")
SETTINGS = Settings(digest_time=time(9, 0), timezone=BERLIN, check_interval=86_400)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Crash(BaseException):
    """The process dies here (not an Exception: nothing in the bot catches it)."""


@dataclass
class Bot:
    """One bot process's digest service over its own engine and thread pool."""

    service: DigestService
    pool: Database

    def close(self) -> None:
        self.pool.close()


def start_bot(url: str, transport: RecordingTransport, clock: FakeClock, **options: object) -> Bot:
    engine = create_database_engine(url)
    pool = Database(engine)
    service = DigestService(
        pool,
        transport,
        settings=SETTINGS,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    return Bot(service, pool)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(2026, 11, 18, 10))


@pytest.fixture
def bot(
    store: Database, database_url: str, recording_transport: RecordingTransport, clock: FakeClock
) -> Iterator[Bot]:
    running = start_bot(database_url, recording_transport, clock)
    yield running
    running.close()


def monitor(store: Database, indicator: str, at: datetime, *, channel: str = "C1") -> int:
    kind = IndicatorKind.IP if indicator[0].isdigit() else IndicatorKind.DOMAIN
    added = store.monitors.add(
        team_id="T1", channel_id=channel, user_id="U1", indicators=[(indicator, kind)], now=at
    )
    record(store, added[0].subject_id, at, resolutions("base.example.com"))  # the baseline
    return added[0].subject_id


def grow(store: Database, subject_id: int, *moments: datetime) -> None:
    """At each moment a check finds one more domain on the subject (one change each)."""
    domains = ["base.example.com"]
    for number, moment in enumerate(moments):
        domains.append(f"new{number}.example.com")
        record(store, subject_id, moment, resolutions(*domains))


def runs(store: Database) -> list[DigestRun]:
    with Session(store.engine) as session:
        return list(session.scalars(select(DigestRun).order_by(DigestRun.channel_id, DigestRun.day)))


def parse_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


# --- a day's digest -----------------------------------------------------------------


async def test_digest_posts_a_parent_with_csvs_and_notes_in_its_thread(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    ip = monitor(store, "98.126.38.107", clock.now)
    domain = monitor(store, "evil.example.com", clock.now)
    grow(store, ip, utc(2026, 11, 19, 10), utc(2026, 11, 19, 12, 30))
    grow(store, domain, utc(2026, 11, 19, 23, 59))
    record(store, domain, utc(2026, 11, 20, 7), resolutions(failed=True))

    clock.now = utc(2026, 11, 20, 8)  # 09:00 in Berlin
    report = await bot.service.run_due()

    assert report.posted == [("C1", date(2026, 11, 20))]
    assert report.skipped == [("C1", date(2026, 11, 19))]  # the baseline day: nothing to say
    (parent,) = recording_transport.parents()
    assert parent.message.text == "Watchpost digest 2026-11-20: 3 changes on 2 indicators; 1 source failing"
    (upload,), notes = recording_transport.thread(parent.ts)
    assert upload.filename == "watchpost-2026-11-20-resolutions.csv"
    assert upload.title == "resolutions: 3 changes"
    rows = parse_csv(upload.content)
    assert rows[0] == list(CSV_HEADER)
    assert [(r[0], r[1], r[2], r[4], r[5], r[7], r[10]) for r in rows[1:]] == [
        ("2026-11-19", "11:00:00+01:00", "98.126.38.107", "added", "domain", "new0.example.com", "mnemonic"),
        ("2026-11-19", "13:30:00+01:00", "98.126.38.107", "added", "domain", "new1.example.com", "mnemonic"),
        (
            "2026-11-20",
            "00:59:00+01:00",
            "evil.example.com",
            "added",
            "domain",
            "new0.example.com",
            "mnemonic",
        ),
    ]
    assert len(notes) == 1 and "`98.126.38.107` (ip): 2 changes" in notes[0].message.blocks[0]["text"]["text"]
    (skipped, posted) = runs(store)
    assert (skipped.status, posted.status, posted.message_ts) == ("skipped", "posted", parent.ts)

    assert await bot.service.run_due() == DigestReport()  # done is done
    assert len(recording_transport.posts) == 2


async def test_digest_not_posted_twice_after_a_restart(
    store: Database, database_url: str, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    grow(store, monitor(store, "98.126.38.107", clock.now), utc(2026, 11, 19, 10))
    clock.now = utc(2026, 11, 20, 8, 30)
    for _ in range(2):  # the bot restarts: a new process over the same database
        restarted = start_bot(database_url, recording_transport, clock)
        try:
            await restarted.service.run_due()
        finally:
            restarted.close()
    (parent,) = recording_transport.parents()
    (upload,), _ = recording_transport.thread(parent.ts)
    assert recording_transport.uploads == [upload]  # the one CSV, in the digest's own thread


def test_digest_exactly_once_with_two_processes_racing(
    store: Database, database_url: str, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    channels = [f"C{n:02d}" for n in range(8)]
    for channel in channels:
        subject = monitor(store, f"{channel.lower()}.example.com", clock.now, channel=channel)
        grow(store, subject, utc(2026, 11, 19, 10), utc(2026, 11, 19, 11))
    clock.now = utc(2026, 11, 20, 8, 1)
    barrier = threading.Barrier(3)
    reports: list[DigestReport] = []

    def process() -> None:
        bot = start_bot(database_url, recording_transport, clock)
        try:
            barrier.wait()
            reports.append(asyncio.run(bot.service.run_due()))
        finally:
            bot.close()

    threads = [threading.Thread(target=process) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(reports) == 3
    posted = sorted(item for report in reports for item in report.posted)
    assert posted == [(channel, date(2026, 11, 20)) for channel in channels]
    parents = recording_transport.parents()
    assert sorted(p.channel_id for p in parents) == channels
    # Each channel's CSV in the thread of that channel's own digest, and nowhere else.
    for parent in parents:
        uploads, _ = recording_transport.thread(parent.ts)
        assert [u.channel_id for u in uploads] == [parent.channel_id]
    assert len(recording_transport.uploads) == len(channels)
    assert {r.status for r in runs(store) if r.day == date(2026, 11, 20)} == {"posted"}


# --- crashes and failures -----------------------------------------------------------


async def test_digest_claimed_by_a_process_that_died_is_posted_after_the_lease(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    grow(store, monitor(store, "98.126.38.107", clock.now), utc(2026, 11, 19, 10))
    clock.now = utc(2026, 11, 20, 8)
    # Another process claims the 20th and dies before posting anything.
    claims = store.digests
    assert claims.claim("T1", "C1", date(2026, 11, 20), clock.now, lease=timedelta(minutes=10)) is not None

    report = await bot.service.run_due()
    assert report.posted == [] and recording_transport.posts == []  # its lease still runs

    clock.advance(minutes=11)
    report = await bot.service.run_due()
    assert report.posted == [("C1", date(2026, 11, 20))]
    assert len(recording_transport.parents()) == 1
    (run,) = [r for r in runs(store) if r.day == date(2026, 11, 20)]
    assert (run.status, run.attempts) == ("posted", 2)


async def test_digest_crash_after_the_parent_finishes_in_the_same_thread(
    store: Database, database_url: str, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    grow(store, monitor(store, "98.126.38.107", clock.now), utc(2026, 11, 19, 10))
    clock.now = utc(2026, 11, 20, 8)
    recording_transport.fault = lambda kind, channel, thread: Crash() if kind == "upload" else None
    crashing = start_bot(database_url, recording_transport, clock)
    try:
        with pytest.raises(Crash):
            await crashing.service.run_due()
    finally:
        crashing.close()
    (parent,) = recording_transport.parents()

    recording_transport.fault = None
    clock.advance(minutes=11)
    restarted = start_bot(database_url, recording_transport, clock)
    try:
        report = await restarted.service.run_due()
    finally:
        restarted.close()
    assert report.posted == [("C1", date(2026, 11, 20))]
    assert recording_transport.parents() == [parent]  # no second parent
    uploads, notes = recording_transport.thread(parent.ts)
    assert [u.filename for u in uploads] == ["watchpost-2026-11-20-resolutions.csv"]
    assert len(notes) == 1


async def test_digest_retried_after_a_transient_failure_abandoned_after_a_permanent_one(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    grow(store, monitor(store, "98.126.38.107", clock.now), utc(2026, 11, 19, 10))
    grow(store, monitor(store, "evil.example.com", clock.now, channel="C2"), utc(2026, 11, 19, 10))
    clock.now = utc(2026, 11, 20, 8)

    def slack_trouble(kind: str, channel: str, thread: str | None) -> BaseException | None:
        if channel == "C1":
            return DeliveryError("ratelimited", retry_after=30)
        return DeliveryError("channel_not_found", permanent=True)

    recording_transport.fault = slack_trouble
    report = await bot.service.run_due()
    assert (report.retried, report.failed) == ([("C1", date(2026, 11, 20))], [("C2", date(2026, 11, 20))])

    recording_transport.fault = None
    report = await bot.service.run_due()  # no lease to wait for: the claim was released
    assert report.posted == [("C1", date(2026, 11, 20))]
    assert [p.channel_id for p in recording_transport.parents()] == ["C1"]
    final = {(r.channel_id, r.day): (r.status, r.last_error) for r in runs(store)}
    assert final[("C2", date(2026, 11, 20))] == ("failed", "channel_not_found")
    assert final[("C1", date(2026, 11, 20))] == ("posted", None)


# --- catch-up and time zones --------------------------------------------------------


async def test_digest_catches_up_the_days_missed_while_down(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    clock.now = utc(2026, 11, 1, 10)
    subject = monitor(store, "98.126.38.107", clock.now)
    # Changes on the 2nd (more than a week before the bot comes back), 12th, 14th, 15th.
    grow(store, subject, *(utc(2026, 11, day, 12) for day in (2, 12, 14, 15)))
    clock.now = utc(2026, 11, 16, 9, 30)  # back after two weeks down
    report = await bot.service.run_due()
    assert report.posted == [("C1", date(2026, 11, d)) for d in (13, 15, 16)]
    assert report.skipped == [("C1", date(2026, 11, d)) for d in (10, 11, 12, 14)]
    assert [p.message.text.split(":")[0] for p in recording_transport.parents()] == [
        "Watchpost digest 2026-11-13",
        "Watchpost digest 2026-11-15",
        "Watchpost digest 2026-11-16",
    ]
    assert all(r.day >= date(2026, 11, 10) for r in runs(store))  # catch-up stops a week back


async def test_digest_at_nine_in_berlin_across_the_spring_change(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    clock.now = utc(2026, 3, 26, 12)
    subject = monitor(store, "98.126.38.107", clock.now)
    grow(
        store,
        subject,
        utc(2026, 3, 28, 7, 59),  # 08:59 CET on the 28th: the 28th's digest
        utc(2026, 3, 28, 8, 0),  # 09:00 CET on the 28th: the 29th's
        utc(2026, 3, 29, 6, 59),  # 08:59 CEST on the 29th (clocks jumped at 02:00): the 29th's
        utc(2026, 3, 29, 7, 0),  # 09:00 CEST on the 29th: the 30th's
    )
    clock.now = utc(2026, 3, 29, 6, 59, 59)
    assert (await bot.service.run_due()).posted == [("C1", date(2026, 3, 28))]
    clock.now = utc(2026, 3, 29, 7, 0)  # 09:00 CEST, 23 hours after 09:00 CET
    assert (await bot.service.run_due()).posted == [("C1", date(2026, 3, 29))]
    parent = recording_transport.parents()[-1]
    summary = parent.message.blocks[1]["text"]["text"]
    assert "in the 23 hours from Sat 28 Mar 09:00 CET to Sun 29 Mar 09:00 CEST" in summary
    (upload,), _ = recording_transport.thread(parent.ts)
    assert [(r[0], r[1], r[7]) for r in parse_csv(upload.content)[1:]] == [
        ("2026-03-28", "09:00:00+01:00", "new1.example.com"),
        ("2026-03-29", "08:59:00+02:00", "new2.example.com"),
    ]
    clock.now = utc(2026, 3, 30, 7, 0)
    assert (await bot.service.run_due()).posted == [("C1", date(2026, 3, 30))]


def test_digest_trigger_fires_at_nine_on_the_berlin_wall_clock() -> None:
    trigger = digest_trigger(_Schedule(BERLIN, time(9, 0)))
    fire = trigger.get_next_fire_time(None, utc(2026, 3, 28, 12))
    fires = [fire]
    for _ in range(2):
        fires.append(trigger.get_next_fire_time(fires[-1], fires[-1] + timedelta(seconds=1)))
    assert [f.astimezone(UTC) for f in fires] == [
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
        utc(2026, 3, 31, 7),
    ]
    autumn = trigger.get_next_fire_time(None, utc(2026, 10, 24, 12))
    assert autumn.astimezone(UTC) == utc(2026, 10, 25, 8)


@dataclass
class _Schedule:
    timezone: ZoneInfo
    digest_time: time

    async def run_due(self) -> None:
        return None


async def test_digest_scheduler_catches_up_at_start(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    grow(store, monitor(store, "98.126.38.107", clock.now), utc(2026, 11, 19, 10))
    clock.now = utc(2026, 11, 20, 12)
    runner = Runner([], bot.pool, clock=clock, interval=timedelta(days=1))
    outbox = OutboxWorker(bot.pool, recording_transport, clock=clock)
    scheduler = build_scheduler(CheckDispatcher(runner), outbox, digests=bot.service)
    assert {job.id for job in scheduler.get_jobs()} >= {"digest", "digest-catch-up"}
    for job_id in ("checks", "outbox"):  # only the digest jobs run here
        scheduler.remove_job(job_id)
    scheduler.start()
    try:
        for _ in range(100):
            if recording_transport.parents():
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    assert len(recording_transport.parents()) == 1


# --- on demand ----------------------------------------------------------------------


async def test_digest_on_demand_posts_today_so_far_and_leaves_the_daily_one(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    subject = monitor(store, "98.126.38.107", utc(2026, 11, 19, 7))
    grow(store, subject, utc(2026, 11, 19, 10), utc(2026, 11, 20, 9))
    clock.now = utc(2026, 11, 20, 12, 30)  # 13:30 in Berlin
    confirmation = await bot.service.post_digest_now("T1", "C1")
    assert confirmation == "Posted the digest so far: 1 change since 09:00 CET."
    (parent,) = recording_transport.parents()
    assert parent.message.text.startswith("Watchpost digest 2026-11-20 13:30: 1 change on 1 indicator")
    (upload,), _ = recording_transport.thread(parent.ts)
    assert upload.filename == "watchpost-2026-11-20-1330-so-far-resolutions.csv"
    assert [r[7] for r in parse_csv(upload.content)[1:]] == ["new1.example.com"]
    assert runs(store) == []  # not the day's digest

    report = await bot.service.run_due()  # the 20th's scheduled digest still goes out
    assert report.posted == [("C1", date(2026, 11, 20))]
    assert recording_transport.parents()[-1].message.text.startswith("Watchpost digest 2026-11-20: 1 change")


async def test_digest_on_demand_on_a_quiet_day_and_its_errors(
    store: Database, bot: Bot, recording_transport: RecordingTransport, clock: FakeClock
) -> None:
    with pytest.raises(UserInputError, match="monitors nothing"):
        await bot.service.post_digest_now("T1", "C1")
    monitor(store, "98.126.38.107", clock.now)
    assert (
        await bot.service.post_digest_now("T1", "C1")
        == "Posted the digest so far: 0 changes since 09:00 CET."
    )
    (parent,) = recording_transport.parents()
    assert "No changes" in parent.message.blocks[1]["text"]["text"]
    recording_transport.fault = lambda *_: DeliveryError("not_in_channel", permanent=True)
    with pytest.raises(UserInputError, match="Invite me"):
        await bot.service.post_digest_now("T1", "C1")


async def test_digest_week_chart_of_each_on_demand_digest_keeps_its_own_name(
    store: Database, recording_transport: RecordingTransport, clock: FakeClock, database_url: str
) -> None:
    """Like the CSVs: a second digest the same day does not overwrite the first one's picture."""
    bot = start_bot(database_url, recording_transport, clock, week_chart=True)
    try:
        subject = monitor(store, "98.126.38.107", utc(2026, 11, 19, 7))
        grow(store, subject, utc(2026, 11, 20, 9))
        names = []
        for hour in (11, 15):
            clock.now = utc(2026, 11, 20, hour)
            await bot.service.post_digest_now("T1", "C1")
            names += [u.filename for u in recording_transport.uploads if u.filename.endswith("-week.png")]
        assert sorted(set(names)) == [
            "watchpost-2026-11-20-1200-so-far-week.png",
            "watchpost-2026-11-20-1600-so-far-week.png",
        ]
    finally:
        bot.close()
