"""The routine cadence: when a claimed subject's next routine check falls.

Each subject has a phase of its own within the check interval, fixed by its id: the
fractional part of id × the golden ratio, so any run of consecutive ids (a bulk import)
covers the interval evenly. A claimed subject's next routine check is the first moment
of its phase at least half an interval after the claim. Subjects claimed together come
apart after one check, and from then on each is checked an interval after the last: the
first gap is between half an interval and one and a half, every later one a whole
interval. Checks stay spread over the interval, and so do their alerts (the Slack outbox
posts one a second per channel) and their requests to rate-limited sources.

`next_routine_check` is the formula in Python (the SQLite claim); `NEXT_ROUTINE_CHECK_PG`
is the same formula in PostgreSQL's SQL, so that claim stays one statement. Both count
whole microseconds since the epoch, so the two agree to the microsecond (tested in
tests/integration/test_check_cadence.py).

Other decisions bring a check forward for reasons of their own (a new monitor's first
check, a quota slot, a retry without a baseline); this is only the routine next cycle.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

# 1/φ, the fractional part of the golden ratio: its multiples, taken modulo 1, spread
# evenly whatever the count (each next one falls in one of the largest gaps left).
GOLDEN_FRACTION = (math.sqrt(5) - 1) / 2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def interval_microseconds(interval: timedelta) -> int:
    """The interval in whole microseconds (the `:interval_us` of NEXT_ROUTINE_CHECK_PG)."""
    if interval <= timedelta(0):
        raise ValueError(f"the check interval must be positive, not {interval}")
    return interval // _MICROSECOND


def phase_microseconds(subject_id: int, interval_microseconds: int) -> int:
    """Where in every interval (counted from the epoch) the subject's routine check falls."""
    turn = subject_id * GOLDEN_FRACTION
    return math.floor((turn - math.floor(turn)) * interval_microseconds)


def next_routine_check(subject_id: int, now: datetime, interval: timedelta) -> datetime:
    """The first moment of the subject's phase at least half an interval after `now`
    (an aware datetime)."""
    period = interval_microseconds(interval)
    half = period // 2
    earliest = (now - _EPOCH) // _MICROSECOND + half
    wait = (phase_microseconds(subject_id, period) - earliest) % period
    return now + timedelta(microseconds=half + wait)


# The same in SQL, for `UPDATE subjects SET next_check_at = …` with :now (timestamptz) and
# :interval_us (the interval in microseconds). Every step is the one above: the phase in
# double precision (as Python's floats), the rest in bigint. PostgreSQL's mod keeps the
# dividend's sign where Python's % does not, hence mod(mod(x, p) + p, p); extract(epoch)
# is exact (numeric) since PostgreSQL 14.
_PHASE_PG = (
    f"CAST(floor((CAST(id AS double precision) * CAST({GOLDEN_FRACTION!r} AS double precision)"
    f" - floor(CAST(id AS double precision) * CAST({GOLDEN_FRACTION!r} AS double precision)))"
    " * CAST(:interval_us AS double precision)) AS bigint)"
)
_EARLIEST_PG = "(CAST(extract(epoch FROM :now) * 1000000 AS bigint) + CAST(:interval_us AS bigint) / 2)"
NEXT_ROUTINE_CHECK_PG = (
    ":now + (CAST(:interval_us AS bigint) / 2"
    f" + mod(mod({_PHASE_PG} - {_EARLIEST_PG}, CAST(:interval_us AS bigint))"
    " + CAST(:interval_us AS bigint), CAST(:interval_us AS bigint)))"
    " * interval '1 microsecond'"
)
