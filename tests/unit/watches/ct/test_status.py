"""What the CT reader status keeps from poll reports (pure, a fake clock): the state,
the log list, entries passed over, and what following costs, measured over a day."""

from __future__ import annotations

from datetime import timedelta

from bot.watches.ct.follower import CtPollReport, LogPollReport, read_entry
from bot.watches.ct.leaves import Leaf, UnreadableLeaf
from bot.watches.ct.model import CtState
from bot.watches.ct.status import CtReaderStatus
from tests.fakes.clock import FakeClock

ARGON, OAK = "https://argon.example/", "https://oak.example/"


def report(*logs: LogPollReport, list_error: str = "", refreshed: bool = False) -> CtPollReport:
    return CtPollReport(tuple(logs), list_error, (), refreshed)


def test_status_goes_from_idle_to_waiting_to_following_and_back() -> None:
    clock, status = FakeClock(), CtReaderStatus()
    status.idle(clock())
    assert status.reading(clock()).state is CtState.IDLE
    assert status.reading(clock()).since == clock()

    status.polled(report(LogPollReport(ARGON, "rfc6962", new=True), refreshed=True), clock.advance(minutes=1))
    waiting = status.reading(clock())
    assert (waiting.state, waiting.logs_followed, waiting.list_read_at) == (CtState.WAITING, 1, clock())

    status.polled(report(LogPollReport(ARGON, "rfc6962", entries_read=10)), clock.advance(minutes=1))
    assert status.reading(clock()).state is CtState.FOLLOWING

    status.idle(clock.advance(minutes=1))
    idle = status.reading(clock())
    assert (idle.state, idle.since, idle.measured_entries) == (CtState.IDLE, clock(), 0)


def test_an_unreadable_list_is_said_until_it_is_read() -> None:
    clock, status = FakeClock(), CtReaderStatus()
    status.polled(report(list_error="ct-log-list: HTTP 503"), clock())
    reading = status.reading(clock())
    assert (reading.state, reading.list_error, reading.list_read_at) == (
        CtState.WAITING,
        "ct-log-list: HTTP 503",
        None,
    )
    status.polled(report(LogPollReport(ARGON, "rfc6962", new=True), refreshed=True), clock.advance(minutes=1))
    assert status.reading(clock()).list_error == ""


def test_unreadable_entries_add_up_per_log_and_keep_the_last() -> None:
    clock, status = FakeClock(), CtReaderStatus()
    for index in (17, 40):
        status.polled(
            report(LogPollReport(OAK, "static", unreadable=1, unreadable_last=f"entry {index}: bad")),
            clock.advance(minutes=1),
        )
    [oak] = status.reading(clock()).unreadable
    assert (oak.log, oak.count, oak.last) == (OAK, 2, "entry 40: bad")


def test_cost_is_what_was_read_over_the_last_day_scaled_to_a_day() -> None:
    clock, status = FakeClock(), CtReaderStatus()
    status.idle(clock())
    status.polled(report(LogPollReport(ARGON, "rfc6962", new=True)), clock())
    assert status.reading(clock()).per_day() is None  # nothing measured yet
    for _ in range(60):  # an hour: 1,000 entries and 2 MB a minute
        clock.advance(minutes=1)
        status.polled(
            report(LogPollReport(ARGON, "rfc6962", entries_read=1000, bytes_read=2_000_000)), clock()
        )
    assert status.reading(clock()).per_day() == (1000 * 1440, 2_000_000 * 1440)

    clock.advance(days=2)  # polls older than a day no longer count
    status.polled(report(LogPollReport(ARGON, "rfc6962", entries_read=5)), clock())
    reading = status.reading(clock())
    assert (reading.measured_entries, reading.measured_seconds) == (5, timedelta(days=1).total_seconds())


def test_any_exception_reading_one_entry_stays_with_that_entry() -> None:
    not_bytes = Leaf(0, False, None)  # type: ignore[arg-type]  # a reader bug: TypeError inside
    assert read_entry(ARGON, 7, not_bytes) == "internal error (TypeError)"
    assert (
        read_entry(ARGON, 8, UnreadableLeaf("LeafError: truncated length")) == "LeafError: truncated length"
    )
    assert read_entry(ARGON, 9, Leaf(0, False, b"\x30\x03\x02\x01\x01")).startswith(
        "unreadable TBSCertificate"
    )
