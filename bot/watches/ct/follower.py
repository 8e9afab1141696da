"""Follow every usable log of the log list: `poll_once(sink)` reads, for each log, what was
logged since its stored position, and hands the entries to `sink` batch by batch.

Contract:
- A log seen for the first time starts at its current tree size: history is not read.
- A position moves on only after the sink has taken the batch (at-least-once delivery:
  a crash between the two re-reads that batch; duplicates are the sink's to fold).
- Catch-up is bounded: when a log is more than `max_catch_up` entries ahead, the oldest
  are skipped, and the report (and the log) says how many.
- A tree head whose signature fails against the listed key is not believed: nothing of
  that log is read that poll, and the failure is counted. A tree that shrinks is refused.
- One log failing (HTTP error, bad JSON, timeout, a tile that cannot be framed) never
  stops the others; its report carries the error and how far it got.
- One entry that cannot be read (its leaf or its certificate, whatever the exception)
  never stops its log: it is counted, logged once with its log and index, and passed
  over; the position moves on past it.
- The log list is read at the first poll and again every `list_refresh` seconds; when a
  refresh fails, the last list read stays in use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.errors import SourceError
from bot.watches.ct.certificates import CertificateError, certificate_facts, tbs_certificate_facts
from bot.watches.ct.entries import CtEntry
from bot.watches.ct.http import SOURCE, HttpGetter
from bot.watches.ct.leaves import TILE_WIDTH, Leaf, LeafError, UnreadableLeaf
from bot.watches.ct.log_list import CtLog, LogList, parse_log_list
from bot.watches.ct.positions import PositionBook
from bot.watches.ct.rfc6962 import Rfc6962Client
from bot.watches.ct.signatures import FormatError, SignatureError, TreeHead
from bot.watches.ct.static_ct import StaticCtClient
from bot.watches.ct.store import CtPosition

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[CtEntry]], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LogPollReport:
    log: str
    api: str  # "rfc6962" or "static"
    entries_read: int = 0
    position: int = 0  # the next index to read, after this poll
    tree_size: int = 0
    skipped: int = 0  # entries passed over because catch-up is bounded
    error: str = ""
    signature_failures: int = 0
    unreadable: int = 0  # entries whose leaf or certificate could not be read (skipped)
    unreadable_last: str = ""  # the last of them: "entry 1234: InvalidVersion ..."
    bytes_read: int = 0  # reply bodies of entry requests (decoded)
    new: bool = False  # first seen this poll: started at its tree size

    @property
    def lag(self) -> int:
        return max(0, self.tree_size - self.position)


@dataclass(frozen=True)
class CtPollReport:
    logs: tuple[LogPollReport, ...] = ()
    list_error: str = ""  # the log list could not be read (the previous one was used, if any)
    list_problems: tuple[str, ...] = ()
    list_refreshed: bool = False  # the log list was read (anew) this poll

    @property
    def entries_read(self) -> int:
        return sum(item.entries_read for item in self.logs)

    @property
    def signature_failures(self) -> int:
        return sum(item.signature_failures for item in self.logs)

    @property
    def failed(self) -> tuple[LogPollReport, ...]:
        return tuple(item for item in self.logs if item.error)

    def of(self, log_identity: str) -> LogPollReport:
        return next(item for item in self.logs if item.log == log_identity)

    def summary(self) -> str:
        """One line for the log and the console: what was read, what is behind, what failed."""
        if self.list_error and not self.logs:
            return f"CT: log list unreadable ({self.list_error})"
        parts = [f"{len(self.logs)} logs", f"{self.entries_read:,} entries read"]
        lag = sum(item.lag for item in self.logs)
        if lag:
            parts.append(f"{lag:,} behind")
        skipped = sum(item.skipped for item in self.logs)
        if skipped:
            parts.append(f"{skipped:,} skipped (catch-up bound)")
        if self.failed:
            parts.append(
                f"{len(self.failed)} failed: " + "; ".join(f"{i.log} {i.error}" for i in self.failed[:3])
            )
        if self.signature_failures:
            parts.append(f"{self.signature_failures} bad signatures")
        if self.list_error:
            parts.append(f"log list unreadable, the last one used ({self.list_error})")
        return "CT: " + ", ".join(parts)


@dataclass
class _Progress:
    position: int
    entries_read: int = 0
    unreadable: int = 0
    unreadable_last: str = ""
    bytes_read: int = 0
    skipped: int = 0


class CtFollower:
    def __init__(
        self,
        http: HttpGetter,
        positions: PositionBook,
        *,
        log_list_url: str,
        batch_size: int = 256,
        max_catch_up: int = 100_000,
        clock: Callable[[], datetime] = _utc_now,
        list_refresh: float = 6 * 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1 or max_catch_up < 0:
            raise ValueError("batch_size must be positive and max_catch_up not negative")
        self._http = http
        self._positions = positions
        self._list_url = log_list_url
        self._batch_size = batch_size
        self._max_catch_up = max_catch_up
        self._clock = clock
        self._list_refresh = list_refresh
        self._monotonic = monotonic
        self._rfc6962 = Rfc6962Client(http)
        self._static = StaticCtClient(http)
        self._log_list: LogList | None = None
        self._list_read_at = 0.0
        self.signature_failures: dict[str, int] = {}  # by log, since start

    async def poll_once(self, sink: Sink, *, from_head: bool = False) -> CtPollReport:
        """With `from_head`, every log starts at its tree size as if new (after a time
        nobody watched: what was logged meanwhile is no one's business)."""
        list_error, refreshed = await self._refresh_list()
        if self._log_list is None:
            return CtPollReport(list_error=list_error)
        stored = {} if from_head else await self._positions.load()
        reports = await asyncio.gather(
            *(self._poll_log(item, stored.get(item.identity), sink) for item in self._log_list.logs)
        )
        return CtPollReport(tuple(reports), list_error, self._log_list.problems, refreshed)

    async def _refresh_list(self) -> tuple[str, bool]:
        """(why the list could not be read, or ""; whether it was read anew)."""
        due = self._log_list is None or self._monotonic() - self._list_read_at >= self._list_refresh
        if not due:
            return "", False
        try:
            reply = await self._http.get(self._list_url)
            self._log_list = parse_log_list(reply.json(SOURCE), self._list_url)
        except SourceError as exc:
            log.warning("CT log list %s unreadable: %s", self._list_url, exc)
            return str(exc), False
        self._list_read_at = self._monotonic()
        for problem in self._log_list.problems:
            log.warning("CT log list: %s", problem)
        return "", True

    async def _poll_log(self, ct_log: CtLog, stored: CtPosition | None, sink: Sink) -> LogPollReport:
        identity = ct_log.identity
        # Without a tree head, the report says where the log was when last seen.
        last_position, last_size = (stored.position, stored.tree_size) if stored else (0, 0)

        def failed(error: str, signature_failures: int = 0) -> LogPollReport:
            return LogPollReport(
                identity,
                ct_log.api,
                position=last_position,
                tree_size=last_size,
                error=error,
                signature_failures=signature_failures,
            )

        try:
            head = await self._tree_head(ct_log)
        except SignatureError as exc:
            self.signature_failures[identity] = self.signature_failures.get(identity, 0) + 1
            log.warning("CT log %s: tree head not believed: %s", identity, exc)
            return failed(f"signature: {exc}", signature_failures=1)
        except (SourceError, FormatError) as exc:
            return failed(str(exc))
        except Exception as exc:  # a bug must not stop the other logs: logged with its traceback
            log.exception("CT log %s: tree head", identity)
            return failed(f"internal error ({exc.__class__.__name__})")
        if stored is None:
            await self._positions.save(identity, head.tree_size, head.tree_size, self._clock())
            log.info("CT log %s: new, starting at its tree size %d", identity, head.tree_size)
            return LogPollReport(
                identity, ct_log.api, position=head.tree_size, tree_size=head.tree_size, new=True
            )
        if head.tree_size < stored.tree_size:
            return failed(f"tree shrank from {stored.tree_size} to {head.tree_size}: not believed")
        progress = _Progress(stored.position)
        error = ""
        try:
            await self._read(ct_log, head, progress, sink)
        except (SourceError, FormatError, LeafError) as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("CT log %s: reading entries", identity)
            error = f"internal error ({exc.__class__.__name__})"
        if error:
            log.warning(
                "CT log %s: stopped at %d of %d: %s", identity, progress.position, head.tree_size, error
            )
        return LogPollReport(
            identity,
            ct_log.api,
            entries_read=progress.entries_read,
            position=progress.position,
            tree_size=head.tree_size,
            skipped=progress.skipped,
            error=error,
            unreadable=progress.unreadable,
            unreadable_last=progress.unreadable_last,
            bytes_read=progress.bytes_read,
        )

    async def _tree_head(self, ct_log: CtLog) -> TreeHead:
        if ct_log.api == "static":
            return await self._static.tree_head(ct_log)
        return await self._rfc6962.tree_head(ct_log)

    async def _read(self, ct_log: CtLog, head: TreeHead, progress: _Progress, sink: Sink) -> None:
        behind = head.tree_size - progress.position
        if behind > self._max_catch_up:
            progress.skipped = behind - self._max_catch_up
            progress.position += progress.skipped
            log.warning(
                "CT log %s: %d entries behind, more than the catch-up bound of %d: skipped the oldest %d",
                ct_log.identity,
                behind,
                self._max_catch_up,
                progress.skipped,
            )
            await self._positions.save(ct_log.identity, progress.position, head.tree_size, self._clock())
        while progress.position < head.tree_size:
            start = progress.position
            leaves: Sequence[Leaf | UnreadableLeaf]
            if ct_log.api == "static":
                leaves, size = await self._tile_leaves(ct_log, start, head.tree_size)
            else:
                end = min(head.tree_size, start + self._batch_size)
                leaves, size = await self._rfc6962.entries(ct_log, start, end)
            if not leaves:
                raise SourceError(SOURCE, f"no entries returned from {start}")
            entries = []
            for offset, leaf in enumerate(leaves):
                entry = read_entry(ct_log.identity, start + offset, leaf)
                if isinstance(entry, str):
                    progress.unreadable += 1
                    progress.unreadable_last = f"entry {start + offset}: {entry}"
                    log.warning(
                        "CT log %s: entry %d unreadable, passed over: %s",
                        ct_log.identity,
                        start + offset,
                        entry,
                    )
                else:
                    entries.append(entry)
            if entries:
                await sink(entries)
            progress.position = start + len(leaves)
            progress.entries_read += len(leaves)
            progress.bytes_read += size
            await self._positions.save(ct_log.identity, progress.position, head.tree_size, self._clock())

    async def _tile_leaves(
        self, ct_log: CtLog, start: int, tree_size: int
    ) -> tuple[list[Leaf | UnreadableLeaf], int]:
        index = start // TILE_WIDTH
        width = min(TILE_WIDTH, tree_size - index * TILE_WIDTH)
        leaves, size = await self._static.data_tile(ct_log, index, width)
        first = index * TILE_WIDTH
        for offset, leaf in enumerate(leaves):
            if isinstance(leaf, UnreadableLeaf) or leaf.leaf_index in (None, first + offset):
                continue
            if offset == 0:  # another tile's entries: not this tile at all, read it again later
                raise LeafError(f"tile {index}: entry {first} says it is leaf {leaf.leaf_index}")
            leaves[offset] = UnreadableLeaf(f"LeafError: it says it is leaf {leaf.leaf_index}")
        return leaves[start - first :], size


def read_entry(log_identity: str, index: int, leaf: Leaf | UnreadableLeaf) -> CtEntry | str:
    """The entry, or why it cannot be read: an exception of any class stays with its entry."""
    if isinstance(leaf, UnreadableLeaf):
        return leaf.reason
    try:
        facts = (
            tbs_certificate_facts(leaf.certificate)
            if leaf.precertificate
            else certificate_facts(leaf.certificate)
        )
    except CertificateError as exc:
        return str(exc)
    except Exception as exc:  # a fault of the reader's own: logged with its traceback, once
        log.exception("CT log %s: entry %d", log_identity, index)
        return f"internal error ({exc.__class__.__name__})"
    return CtEntry(
        log=log_identity,
        index=index,
        names=facts.names,
        precertificate=leaf.precertificate,
        issuer=facts.issuer,
        logged_at=datetime.fromtimestamp(leaf.timestamp_ms / 1000, UTC),
        serial=facts.serial,
    )
