"""What the CT reader of this process can see and what following the logs costs (values):
the `/monitor health` CT lines and the reply to a new lookalike or keyword watch say it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

DAY_SECONDS = 86_400.0


class CtState(Enum):
    IDLE = "idle"  # no lookalike or keyword watch: no CT request at all
    WAITING = "waiting"  # watched, but no log has been read yet
    FOLLOWING = "following"


@dataclass(frozen=True)
class UnreadableEntries:
    log: str
    count: int  # since this process started
    last: str  # "entry 1234: InvalidVersion ..."


@dataclass(frozen=True)
class CtReading:
    state: CtState
    since: datetime | None  # when it went idle or started following (None: not yet)
    list_read_at: datetime | None  # the last time the log list was read
    list_error: str  # why the last attempt to read it failed ("" when it did not)
    logs_followed: int
    logs_failing: tuple[tuple[str, str], ...] = ()  # (log, error) of the last poll
    unreadable: tuple[UnreadableEntries, ...] = ()
    # What the follower read over the last day (or since it started following, if later).
    measured_entries: int = 0
    measured_bytes: int = 0
    measured_seconds: float = 0.0
    # Read from a certstream server instead of the logs: its URL ("" when the logs are read)
    # and how often the stream was lost (each time, what was sent meanwhile is lost).
    stream_url: str = ""
    stream_reconnects: int = 0

    def per_day(self) -> tuple[float, float] | None:
        """(entries, bytes) a day at the measured rate; None before a minute is measured."""
        if self.measured_seconds < 60:
            return None
        scale = DAY_SECONDS / self.measured_seconds
        return self.measured_entries * scale, self.measured_bytes * scale


class CtReader(Protocol):
    """The CT reader of this process, as the commands see it."""

    def reading(self) -> CtReading: ...

    async def look_now(self) -> CtReading:
        """Read at once (the log list, each log's head) and say what is seen."""
        ...
