"""The routine cadence: each subject keeps a phase of its own in the interval, the first
gap after a claim is between half an interval and one and a half, every later one a whole
interval, and subjects claimed together come apart (bot/monitoring/store/cadence.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot.monitoring.store.cadence import interval_microseconds, next_routine_check, phase_microseconds

NOW = datetime(2026, 11, 20, 9, 0, 0, 123_457, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVALS = [
    timedelta(seconds=1),
    timedelta(seconds=20),
    timedelta(seconds=7, microseconds=1),  # an odd number of microseconds: half is floored
    timedelta(hours=1),
    timedelta(days=1),
]
IDS = [1, 2, 3, 17, 200, 4_096, 99_991, 2**31 - 1]


def offset_in_interval(moment: datetime, interval: timedelta) -> timedelta:
    return (moment - EPOCH) % interval


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("subject_id", IDS)
def test_next_routine_check_falls_on_the_subjects_phase(subject_id: int, interval: timedelta) -> None:
    phase = timedelta(microseconds=phase_microseconds(subject_id, interval_microseconds(interval)))
    for minutes in (0, 1, 7, 61, 1_440):
        now = NOW + timedelta(minutes=minutes, microseconds=minutes * 37)
        assert offset_in_interval(next_routine_check(subject_id, now, interval), interval) == phase


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("subject_id", IDS)
def test_next_routine_check_is_half_to_one_and_a_half_intervals_after_a_claim(
    subject_id: int, interval: timedelta
) -> None:
    for step in range(50):  # claims at moments all over the interval
        now = NOW + interval * step / 50
        gap = next_routine_check(subject_id, now, interval) - now
        assert interval / 2 - timedelta(microseconds=1) < gap < interval * 3 / 2


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("subject_id", IDS)
def test_next_routine_check_is_one_interval_after_a_check_on_time(
    subject_id: int, interval: timedelta
) -> None:
    due = next_routine_check(subject_id, NOW, interval)
    for _ in range(5):
        following = next_routine_check(subject_id, due, interval)
        assert following - due == interval
        due = following


def test_next_routine_check_keeps_a_late_check_on_its_phase() -> None:
    """A check claimed late (a busy cycle) does not shift the subject's later checks."""
    interval = timedelta(seconds=20)
    due = next_routine_check(42, NOW, interval)
    for late in (timedelta(seconds=1), timedelta(seconds=9.9)):
        assert next_routine_check(42, due + late, interval) == due + interval


def test_phases_of_different_subjects_differ() -> None:
    period = interval_microseconds(timedelta(hours=1))
    phases = [phase_microseconds(subject_id, period) for subject_id in range(1, 1_001)]
    assert len(set(phases)) == len(phases) and all(0 <= phase < period for phase in phases)


@pytest.mark.parametrize("first_id", [1, 1_000, 54_321, 2**31 - 300])
def test_next_routine_check_spreads_a_bulk_import_over_the_interval(first_id: int) -> None:
    """200 monitors added together (consecutive ids) and claimed at one instant: with a
    20 s interval an even spread is 10 a second; the old 10 % jitter put them all in 2 s."""
    interval = timedelta(seconds=20)
    seconds = Counter(
        int((next_routine_check(subject_id, NOW, interval) - NOW).total_seconds())
        for subject_id in range(first_id, first_id + 200)
    )
    assert sorted(seconds) == list(range(10, 30))  # every second of [0.5, 1.5) intervals
    assert max(seconds.values()) <= 12


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1)])
def test_next_routine_check_refuses_an_interval_that_is_not_positive(interval: timedelta) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        next_routine_check(1, NOW, interval)
