"""Lookalike and keyword watches as use cases: add, remove, status and history, dismissing
a lookalike, muting and snoozing a watch, and the watch lines of `/monitor list` and the
App Home. Findings themselves come from the CT reader and permutation resolver
(bot/watches/), through the policy's mute and snooze stages.

Who may, as for monitors: a watch is muted or unmuted by whoever set it or an admin; a
snooze (the alert's button, or `/monitor snooze lookalikes …`) by anyone in the channel."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta

from bot.commands.messages.replies import ListRow, build_error_message
from bot.core.access import AccessPolicy
from bot.core.errors import UserInputError
from bot.core.message import Block, Message
from bot.core.mrkdwn import code, mention
from bot.core.results import Caller, CommandResult
from bot.storage.db import Database
from bot.triage.model import (
    SNOOZE_CHOICES,
    UNTIMED,
    SuppressionKind,
    SuppressionView,
    format_duration,
)
from bot.watches.messages import (
    build_dismissed_message,
    build_first_look_message,
    build_home_watch_blocks,
    build_watch_history_message,
    build_watch_list_blocks,
    build_watch_silenced_message,
    build_watch_status_message,
    build_watch_unmuted_message,
    build_watches_added_message,
    build_watches_removed_message,
)
from bot.watches.model import Watch, WatchKind
from bot.watches.permutations import permutations, registrable_domain

log = logging.getLogger(__name__)


# What a new watch of a kind can see now, in words (Readers.watch_outlook), and the
# same after a first read of CT at once (Readers.ct_first_look; None: nothing to add).
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
        silences = await self.silences(caller)
        blocks = [*blocks, *build_watch_list_blocks(watches, counts, silences)][:50]
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
        silences = await self.silences(caller, watch)
        return CommandResult(build_watch_status_message(watch, findings, count, silences))

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

    # --- mutes and snoozes -------------------------------------------------------------

    async def mute(
        self, kind: WatchKind, term: str, muted: bool, duration: timedelta | None, caller: Caller
    ) -> CommandResult:
        """Mute a watch of the caller's channel (for `duration`, or until unmuted), or unmute it."""
        watch = await self._watched_here(kind, term, caller)
        now = self.clock()
        mutes = [s for s in await self.silences(caller, watch) if s.kind is SuppressionKind.MUTE]
        if not muted:
            if not mutes:
                raise UserInputError(f"`{term}` is not muted in this channel: nothing was changed.")
            for mute in mutes:
                self._may_lift(mute, caller)
            for mute in mutes:
                await self.db.run(self.db.watch_suppressions.lift, mute.id, by=caller.user_id, now=now)
            log.info("%s watch %s unmuted in %s by %s", kind.value, term, caller.channel_id, caller.user_id)
            return CommandResult(build_watch_unmuted_message(watch, user_id=caller.user_id), public=True)
        self._check_owner(watch, caller)
        if any(m.expires_at is None for m in mutes):
            raise UserInputError(
                f"`{term}` is already muted in this channel, until unmuted. Nothing was changed."
            )
        until = now + duration if duration is not None else UNTIMED
        await self.db.run(
            self.db.watch_suppressions.suppress,
            [watch.id],
            kind=SuppressionKind.MUTE,
            by=caller.user_id,
            now=now,
            until=until,
            reason="muted with /monitor mute",
        )
        log.info(
            "%s watch %s muted in %s until %s by %s",
            kind.value,
            term,
            caller.channel_id,
            until,
            caller.user_id,
        )
        shown = None if duration is None else until
        message = build_watch_silenced_message([watch], snoozed=False, until=shown, user_id=caller.user_id)
        return CommandResult(message, public=True)

    async def snooze(self, kind: WatchKind, term: str, duration: timedelta, caller: Caller) -> CommandResult:
        """Snooze a watch of the caller's channel for `duration` (anyone in the channel may)."""
        watch = await self._watched_here(kind, term, caller)
        return await self._snooze([watch], duration, caller, reason="snoozed with /monitor snooze")

    async def snooze_on_message(self, message_ts: str, duration: timedelta, caller: Caller) -> CommandResult:
        """The Snooze button of a finding's alert (the message pressed, in the caller's
        channel): the channel's watches behind the finding, for one of SNOOZE_CHOICES."""
        if duration not in SNOOZE_CHOICES:
            choices = ", ".join(format_duration(d) for d in SNOOZE_CHOICES)
            raise UserInputError(f"Snooze for {choices}: nothing was changed.")
        finding = await self.db.run(
            self.db.lookalikes.finding_at,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            message_ts=message_ts,
        )
        if finding is None:
            raise UserInputError(
                "This message is not a Watchpost lookalike alert on record: nothing was changed."
            )
        behind = {r.get("watch_id") for r in finding.reasons}
        here = await self.db.run(
            self.db.lookalikes.watches, team_id=caller.team_id, channel_id=caller.channel_id
        )
        watches = [w for w in here if w.id in behind]
        if not watches:
            raise UserInputError("The watches behind this alert are no longer set here: nothing to snooze.")
        reason = f"snoozed from the alert of {finding.domain} for {format_duration(duration)}"
        return await self._snooze(watches, duration, caller, reason=reason)

    async def _snooze(
        self, watches: Sequence[Watch], duration: timedelta, caller: Caller, *, reason: str
    ) -> CommandResult:
        now = self.clock()
        until = now + duration
        await self.db.run(
            self.db.watch_suppressions.suppress,
            [w.id for w in watches],
            kind=SuppressionKind.SNOOZE,
            by=caller.user_id,
            now=now,
            until=until,
            reason=reason,
        )
        log.info(
            "watches %s snoozed in %s until %s by %s",
            [w.term for w in watches],
            caller.channel_id,
            until,
            caller.user_id,
        )
        message = build_watch_silenced_message(watches, snoozed=True, until=until, user_id=caller.user_id)
        return CommandResult(message, public=True)

    async def silences(self, caller: Caller, watch: Watch | None = None) -> list[SuppressionView]:
        """The mutes and snoozes in force of the channel's watches (or of one)."""
        return await self.db.run(
            self.db.watch_suppressions.active,
            now=self.clock(),
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            watch_id=watch.id if watch is not None else None,
        )

    async def lift(self, suppression_id: int, caller: Caller) -> SuppressionView | None:
        """End a watch's mute or snooze of the caller's channel; None when `suppression_id`
        is no watch's (a monitor's, bot/commands/flows.py)."""
        found = await self.db.run(self.db.watch_suppressions.get, suppression_id)
        if found is None:
            return None
        if found.team_id != caller.team_id or found.channel_id != caller.channel_id:
            raise UserInputError(f"There is no suppression #{suppression_id} in this channel.")
        self._may_lift(found, caller)
        return await self.db.run(
            self.db.watch_suppressions.lift, suppression_id, by=caller.user_id, now=self.clock()
        )

    async def _watched_here(self, kind: WatchKind, term: str, caller: Caller) -> Watch:
        watches = await self.db.run(
            self.db.lookalikes.watches, team_id=caller.team_id, channel_id=caller.channel_id
        )
        watch = next((w for w in watches if w.kind is kind and w.term == term), None)
        if watch is None:
            word = "lookalikes" if kind is WatchKind.LOOKALIKE else "keyword"
            raise UserInputError(
                f"`{term}` is not watched in this channel (`/monitor {word} {term}` watches it). "
                "Nothing was changed."
            )
        return watch

    def _check_owner(self, watch: Watch, caller: Caller) -> None:
        if watch.created_by and not self.access.may_change(caller, watch.created_by):
            admins = " or a Watchpost admin" if self.access.admins else ""
            raise UserInputError(
                f"Only {mention(watch.created_by)}, who set the watch on {code(watch.term)}{admins}, "
                "can mute it. A snooze anyone here may set. Nothing was changed."
            )

    def _may_lift(self, found: SuppressionView, caller: Caller) -> None:
        """A snooze anyone in the channel may lift; a mute its creator, the watch's owner or an admin."""
        if found.kind is not SuppressionKind.SNOOZE and not self.access.may_change(
            caller, found.created_by, found.monitor_owner
        ):
            raise UserInputError(
                f"Only {mention(found.created_by)}, who muted it, {mention(found.monitor_owner)}, who set "
                f"the watch on {code(found.indicator)}, or an admin can lift #{found.id}. "
                "Nothing was changed."
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
