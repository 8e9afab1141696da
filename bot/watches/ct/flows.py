"""The bot's readers as the commands see them: how far Certificate Transparency was read
(this process's reader, and the positions every reader stored), the resolver check's last
verdict, and from both what a new lookalike or keyword watch can see."""

from __future__ import annotations

import asyncio

from bot.monitoring.resolver_check import SharedResolverVerdicts
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.storage.db import Database
from bot.watches.ct.messages import watch_outlook_lines
from bot.watches.ct.model import CtReader, CtReading, CtState
from bot.watches.ct.store import CtPosition
from bot.watches.model import WatchKind


class Readers:
    def __init__(
        self,
        db: Database,
        *,
        ct: CtReader | None = None,
        resolver: SharedResolverVerdicts | None = None,
    ) -> None:
        self.db = db
        # This process's CT reader (None: CT is off, no log list configured).
        self.ct = ct
        # The resolver check's verdict as the checking processes shared it (None: no check).
        self.resolver = resolver

    async def resolver_status(self) -> ResolverStatus | None:
        """The resolver check's last verdict, whichever process reached it (None: no check)."""
        return await self.resolver.current() if self.resolver is not None else None

    async def ct_log_positions(self) -> list[CtPosition] | None:
        """How far each CT log has been read; None when nothing reads CT for anyone (no
        lookalike or keyword watch, no position stored), [] when watches wait for a first read."""
        positions = await self.db.run(self.db.ct_positions.positions)
        if positions:
            return sorted(positions.values(), key=lambda p: p.log)
        watches, _ = await self.db.run(self.db.lookalikes.watch_generation)
        return [] if watches else None

    def ct_reading(self) -> CtReading | None:
        """This process's CT reader, if it has run here (a process that never ran the CT
        job has nothing of its own to say: the stored positions speak for the readers)."""
        reading = self.ct.reading() if self.ct is not None else None
        return reading if reading is not None and reading.since is not None else None

    async def watch_outlook(self, kind: WatchKind, reading: CtReading | None = None) -> list[str]:
        """What a new watch of `kind` can see now: the CT reader, the logs, the resolver."""
        positions, resolver = await asyncio.gather(
            self.db.run(self.db.ct_positions.positions), self.resolver_status()
        )
        return watch_outlook_lines(
            kind,
            reading if reading is not None else self.ct_reading(),
            sorted(positions.values(), key=lambda p: p.log),
            resolver,
            ct_enabled=self.ct is not None,
        )

    async def ct_first_look(self, kind: WatchKind) -> list[str] | None:
        """For a new watch while this process's reader is not following yet: a poll at once
        (the log list and each log's head), and what the watch sees after it. None when the
        reader already follows the logs (the reply said so) or CT is off."""
        if self.ct is None:
            return None
        current = self.ct_reading()
        if current is not None and current.state is CtState.FOLLOWING:
            return None
        return await self.watch_outlook(kind, await self.ct.look_now())
