"""The CT reader's state as this process saw it, fed by every poll (in memory: no table
holds it yet), read as a `CtReading` value by `/monitor health` and the watch replies."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from bot.watches.ct.certstream import StreamProgress
from bot.watches.ct.follower import CtPollReport
from bot.watches.ct.model import CtReading, CtState, UnreadableEntries

MEASURE_WINDOW = timedelta(days=1)


class CtReaderStatus:
    def __init__(self) -> None:
        self._state = CtState.IDLE
        self._since: datetime | None = None
        self._list_read_at: datetime | None = None
        self._list_error = ""
        self._logs_followed = 0
        self._failing: tuple[tuple[str, str], ...] = ()
        self._unreadable: dict[str, UnreadableEntries] = {}
        # (when, entries, bytes) of each poll within the window, and when measuring began.
        self._polls: deque[tuple[datetime, int, int]] = deque()
        self._measured_from: datetime | None = None
        self._stream: StreamProgress | None = None  # reading a certstream server, not the logs
        self._stream_totals = (0, 0)  # its entries and bytes at the last poll

    def idle(self, now: datetime) -> None:
        """No watch: nothing is read, and nothing read before says what following costs now."""
        if self._state is not CtState.IDLE or self._since is None:
            self._state, self._since = CtState.IDLE, now
            self._polls.clear()
            self._measured_from = None

    def polled(self, report: CtPollReport, now: datetime) -> None:
        if self._state is CtState.IDLE:
            self._state, self._since = CtState.WAITING, now
            self._measured_from = now
        if report.list_refreshed:
            self._list_read_at = now
        self._list_error = report.list_error
        if report.logs:
            self._logs_followed = len(report.logs)
            if any(not item.new and not item.error for item in report.logs):
                self._state = CtState.FOLLOWING
        self._failing = tuple((item.log, item.error) for item in report.failed)
        for item in report.logs:
            if item.unreadable:
                before = self._unreadable.get(item.log)
                count = item.unreadable + (before.count if before else 0)
                self._unreadable[item.log] = UnreadableEntries(item.log, count, item.unreadable_last)
        self._polls.append((now, report.entries_read, sum(item.bytes_read for item in report.logs)))
        while self._polls and self._polls[0][0] < now - MEASURE_WINDOW:
            self._polls.popleft()

    def streamed(self, progress: StreamProgress, now: datetime) -> None:
        """What a certstream reader has read so far (its totals; the growth is this poll's)."""
        if self._state is CtState.IDLE:
            self._state, self._since = CtState.WAITING, now
            self._measured_from = now
            self._stream_totals = (progress.entries, progress.bytes_read)
        self._stream = progress
        self._state = CtState.FOLLOWING if progress.connected_since is not None else CtState.WAITING
        self._logs_followed = progress.logs_seen
        self._list_error = progress.error
        entries, size = self._stream_totals
        self._stream_totals = (progress.entries, progress.bytes_read)
        self._polls.append((now, max(0, progress.entries - entries), max(0, progress.bytes_read - size)))
        while self._polls and self._polls[0][0] < now - MEASURE_WINDOW:
            self._polls.popleft()

    def reading(self, now: datetime) -> CtReading:
        start = self._measured_from
        if start is not None and start < now - MEASURE_WINDOW:
            start = now - MEASURE_WINDOW
        return CtReading(
            state=self._state,
            since=self._since,
            list_read_at=self._list_read_at,
            list_error=self._list_error,
            logs_followed=self._logs_followed,
            logs_failing=self._failing,
            unreadable=tuple(sorted(self._unreadable.values(), key=lambda u: (-u.count, u.log))),
            measured_entries=sum(entries for _, entries, _ in self._polls),
            measured_bytes=sum(size for _, _, size in self._polls),
            measured_seconds=(now - start).total_seconds() if start is not None else 0.0,
            stream_url=self._stream.url if self._stream is not None else "",
            stream_reconnects=self._stream.reconnects if self._stream is not None else 0,
        )
