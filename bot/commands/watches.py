"""Lookalike and keyword watches as use cases: add, remove, status and history, dismissing
a lookalike, and the watch lines of `/monitor list` and the App Home. Findings themselves
come from the CT reader and permutation resolver (bot/monitoring/lookalikes/)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime

from bot.commands.access import AccessPolicy
from bot.commands.results import Caller, CommandResult
from bot.errors import UserInputError
from bot.model.watches import WatchKind
from bot.monitoring.lookalikes.permutations import permutations, registrable_domain
from bot.render.lookalikes import (
    build_dismissed_message,
    build_first_look_message,
    build_home_watch_blocks,
    build_watch_history_message,
    build_watch_list_blocks,
    build_watch_status_message,
    build_watches_added_message,
    build_watches_removed_message,
)
from bot.render.messages import Block, Message
from bot.render.replies import ListRow, build_error_message
from bot.storage.db import Database

log = logging.getLogger(__name__)


# What a new watch of a kind can see now, in words (MonitorFlows.watch_outlook), and the
# same after a first read of CT at once (MonitorFlows.ct_first_look; None: nothing to add).
Outlook = Callable[[WatchKind], Awaitable[list[str]]]
FirstLook = Callable[[WatchKind], Awaitable[list[str] | None]]


class WatchFlows:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        access: AccessPolicy,
        outlook: Outlook | None = None,
        first_look: FirstLook | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.access = access
        self.outlook = outlook
        self.first_look = first_look

    async def add(
        self, kind: WatchKind, terms: Sequence[str], notes: Sequence[str], caller: Caller
    ) -> CommandResult:
        change = await self.db.run(
            self.db.lookalikes.add_watches,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            user_id=caller.user_id,
            kind=kind,
            terms=terms,
            now=self.clock(),
            quota=self.access.channel_quota,
        )
        log.info("%s watch %s added in %s by %s", kind.value, change.added, caller.channel_id, caller.user_id)
        if not change.added:
            return CommandResult(build_watches_added_message(kind, change.added, change.already, notes))
        outlook = await self.outlook(kind) if self.outlook is not None else []
        reply = build_watches_added_message(kind, change.added, change.already, notes, outlook)
        first_look = self.first_look
        if first_look is None:
            return CommandResult(reply)

        async def look() -> list[Message]:
            seen = await first_look(kind)
            return [build_first_look_message(kind, change.added, seen)] if seen is not None else []

        return CommandResult(reply, follow_up=look)

    async def remove(self, kind: WatchKind, terms: Sequence[str], caller: Caller) -> CommandResult:
        removed = await self.db.run(
            self.db.lookalikes.remove_watches,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            kind=kind,
            terms=terms,
        )
        missing = [t for t in terms if t not in removed]
        return CommandResult(build_watches_removed_message(kind, removed, missing))

    async def with_watches(self, listed: Message, rows: Sequence[ListRow], caller: Caller) -> Message:
        """`/monitor list` with the channel's lookalike and keyword watches under the monitors."""
        watches = await self.db.run(
            self.db.lookalikes.watches, team_id=caller.team_id, channel_id=caller.channel_id
        )
        if not watches:
            return listed
        counts = await self.finding_counts(caller.team_id, caller.channel_id)
        blocks = listed.blocks if rows else []
        blocks = [*blocks, *build_watch_list_blocks(watches, counts)][:50]
        return Message(f"{listed.text} {len(watches)} lookalike/keyword watches.", blocks)

    async def status(self, kind: WatchKind, term: str, history: bool, caller: Caller) -> CommandResult:
        watches = await self.db.run(
            self.db.lookalikes.watches, team_id=caller.team_id, channel_id=caller.channel_id
        )
        watch = next((w for w in watches if w.kind is kind and w.term == term), None)
        if watch is None:
            word = "lookalikes" if kind is WatchKind.LOOKALIKE else "keyword"
            raise UserInputError(
                f"`{term}` is not watched in this channel. Add it with `/monitor {word} {term}`."
            )
        findings = await self.db.run(
            self.db.lookalikes.findings,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            term=term,
            limit=100_000,
        )
        findings = [f for f in findings if any(r.get("watch_id") == watch.id for r in f.reasons)]
        if history:
            return CommandResult(build_watch_history_message(watch, findings))
        count = len(permutations(term)) if kind is WatchKind.LOOKALIKE else None
        return CommandResult(build_watch_status_message(watch, findings, count))

    async def dismiss(self, domain: str, caller: Caller) -> CommandResult:
        """ "Not a lookalike": the domain stays quiet in the caller's channel (said there)."""
        registrable = registrable_domain(domain.strip().lower())
        if registrable is None:
            return CommandResult(build_error_message("This button names no domain."))
        new = await self.db.run(
            self.db.lookalikes.dismiss,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            domain=registrable,
            user_id=caller.user_id,
            now=self.clock(),
        )
        log.info("lookalike %s dismissed in %s by %s", registrable, caller.channel_id, caller.user_id)
        return CommandResult(
            build_dismissed_message(registrable, user_id=caller.user_id, new=new), public=new
        )

    async def home_blocks(
        self, *, team_id: str, user_id: str, channel_ids: Collection[str] | None
    ) -> list[Block]:
        """The App Home's watch lines: the watches of the user's channels (or their own)."""
        watches = await self.db.run(self.db.lookalikes.watches, team_id=team_id)
        if channel_ids is None:
            watches = [w for w in watches if w.created_by == user_id]
        else:
            watches = [w for w in watches if w.channel_id in set(channel_ids)]
        return build_home_watch_blocks(watches, await self.finding_counts(team_id, None))

    async def finding_counts(self, team_id: str, channel_id: str | None) -> dict[int, int]:
        """Findings per watch id."""
        findings = await self.db.run(
            self.db.lookalikes.findings, team_id=team_id, channel_id=channel_id, limit=100_000
        )
        counts: dict[int, int] = {}
        for finding in findings:
            for watch_id in {int(r.get("watch_id") or 0) for r in finding.reasons}:
                counts[watch_id] = counts.get(watch_id, 0) + 1
        return counts
