"""The monitors of a channel: `/monitor <indicators>` (add, with a baseline after),
`remove`, `list`, `status`, `check` (now, saying what was posted), `history` and
`timeline`; and adding and removing monitors for the REST API and the imports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from time import monotonic

from bot.commands.context import CommandContext
from bot.commands.grammar import (
    AddCommand,
    CheckCommand,
    HistoryCommand,
    ListCommand,
    RemoveCommand,
    StatusCommand,
    TimelineCommand,
)
from bot.commands.messages.replies import (
    DatasetView,
    ListRow,
    build_added_message,
    build_baseline_message,
    build_check_message,
    build_history_message,
    build_list_message,
    build_notice_message,
    build_removed_message,
    build_status_message,
)
from bot.core.errors import UserInputError
from bot.core.indicators import Indicator
from bot.core.message import Message
from bot.core.results import Caller, CommandResult
from bot.investigations.flows import Pivots
from bot.monitoring.flows.health import HealthFlows
from bot.monitoring.quota import SOURCE_DATASETS
from bot.monitoring.requested_checks import CheckRunner
from bot.storage.views import AddedMonitor, SubjectView
from bot.triage.flows.mutes import MuteFlows
from bot.triage.model import SuppressionKind
from bot.watches.flows import WatchFlows

HISTORY_LIMIT = 200
# How long a check's reply waits for Slack to confirm the alerts it posted (a test with no
# outbox worker passes 0: nothing would confirm them).
DELIVERY_WAIT_SECONDS = 5.0


class MonitorCommands:
    def __init__(
        self,
        context: CommandContext,
        runner: CheckRunner,
        *,
        timezone: tzinfo,
        health: HealthFlows,
        mutes: MuteFlows,
        watches: WatchFlows,
        pivots: Pivots,
        delivery_wait: float = DELIVERY_WAIT_SECONDS,
    ) -> None:
        self.delivery_wait = delivery_wait
        self.context = context
        self.db = context.db
        self.clock = context.clock
        self.runner = runner
        self.timezone = timezone  # the day `/monitor history <day>` means
        self.health = health  # quota plans and waits in a monitor's status
        self.mutes = mutes  # timed mutes in the list
        self.watches = watches  # the channel's watches under its monitors in the list
        self.pivots = pivots  # timeline pictures

    # --- the commands ----------------------------------------------------------------------

    async def handle_add_command(self, command: AddCommand, caller: Caller) -> CommandResult:
        added = await self.add_monitors(command.indicators, caller)

        async def capture_baselines() -> list[Message]:
            async def one(subject_id: int, indicator: str) -> Message:
                subject = await self.db.run(self.db.monitors.subject, indicator)
                if subject is not None and subject.last_checked_at is None:
                    await self.runner.check(subject, manual=True)
                return build_baseline_message(indicator, await self._dataset_views(subject_id, indicator))

            fresh = [a for a in added if a.new_for_channel]
            return list(await asyncio.gather(*(one(a.subject_id, a.indicator) for a in fresh)))

        reply = build_added_message([(a.indicator, a.new_for_channel) for a in added])
        has_new = any(a.new_for_channel for a in added)
        return CommandResult(reply, capture_baselines if has_new else None)

    async def handle_remove_command(self, command: RemoveCommand, caller: Caller) -> CommandResult:
        return CommandResult(build_removed_message(await self.remove_monitors(command.indicators, caller)))

    async def handle_list_command(self, command: ListCommand, caller: Caller) -> CommandResult:
        monitors = await self.db.run(
            self.db.monitors.list, team_id=caller.team_id, channel_id=caller.channel_id
        )
        rows = [
            ListRow(m.indicator, m.kind.value, m.last_checked_at, m.stale_datasets, mutes, m.tags)
            for m, mutes in await self.mutes.with_timed_mutes(monitors, caller)
        ]
        return CommandResult(await self.watches.with_watches(build_list_message(rows), rows, caller))

    async def handle_status_command(self, command: StatusCommand, caller: Caller) -> CommandResult:
        indicator = command.indicator
        monitor = await self.context.monitored_here(indicator, caller)
        subject = await self._subject(indicator.value)
        views = await self._dataset_views(subject.id, subject.indicator)
        plans = await self.health.plans(indicator, {view.name for view in views})
        now = self.clock()
        silenced = await self.db.run(self.db.triage.active, now=now, monitor_id=monitor.id)
        snoozes = [s.expires_at for s in silenced if s.kind is SuppressionKind.SNOOZE and s.expires_at]
        muted_until = [
            (s.dataset, s.expires_at)
            for s in silenced
            if s.kind is SuppressionKind.MUTE and s.dataset and s.expires_at
        ]
        message = build_status_message(
            indicator.value,
            views,
            monitor.created_at,
            snoozed_until=max(snoozes, default=None),
            muted_until=muted_until,
            plans=plans,
            tags=monitor.tags,
        )
        return CommandResult(message)

    async def handle_check_command(self, command: CheckCommand, caller: Caller) -> CommandResult:
        if command.indicator is None:
            monitors = await self.db.run(
                self.db.monitors.list, team_id=caller.team_id, channel_id=caller.channel_id
            )
            if not monitors:
                raise UserInputError("This channel monitors nothing yet.")
            names = [m.indicator for m in monitors]
        else:
            await self.context.monitored_here(command.indicator, caller)
            names = [command.indicator.value]

        async def run_checks() -> list[Message]:
            gate = asyncio.Semaphore(self.runner.concurrency)

            async def one(name: str) -> Message:
                async with gate:
                    subject = await self._subject(name)
                    report = await self.runner.check(subject, manual=True)
                failed = sorted({f.source for o in report.outcomes for f in o.observation.failures})
                here = [
                    v
                    for v in report.verdicts
                    if v.channel_id == caller.channel_id and v.team_id == caller.team_id
                ]
                delivered = await self._confirmed({v.outbox_id for v in here if v.outbox_id is not None})
                return build_check_message(
                    name,
                    report.changes,
                    failed=failed,
                    verdicts=here,
                    delivered=delivered,
                    nothing_read=report.nothing_read,
                )

            return list(await asyncio.gather(*(one(name) for name in names)))

        plural = "s" * (len(names) != 1)
        reply = Message(f"Checking {len(names)} indicator{plural} now…")
        return CommandResult(reply, run_checks)

    async def handle_history_command(self, command: HistoryCommand, caller: Caller) -> CommandResult:
        indicator, day, dataset = command.indicator, command.day, command.dataset
        await self.context.monitored_here(indicator, caller)
        subject = await self._subject(indicator.value)
        start = end = None
        if day is not None:
            start = datetime.combine(day, time(0), self.timezone).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1), time(0), self.timezone).astimezone(UTC)
        records = await self.db.run(
            self.db.history.history, subject.id, start=start, end=end, dataset=dataset, limit=HISTORY_LIMIT
        )
        pairs = [(r.detected_at, r.change) for r in records]
        silenced = await self.db.run(
            self.db.triage.silenced_in,
            caller.team_id,
            caller.channel_id,
            sorted({r.batch_id for r in records}),
        )
        suppressed = [
            (r.change.dataset, r.change.field, r.change.value) in silenced.get(r.batch_id, set())
            for r in records
        ]
        message = build_history_message(
            indicator.value,
            pairs,
            day=day,
            dataset=dataset,
            limited=len(records) >= HISTORY_LIMIT,
            suppressed=suppressed,
        )
        return CommandResult(message)

    async def handle_timeline_command(self, command: TimelineCommand, caller: Caller) -> CommandResult:
        indicator = command.indicator
        await self.context.monitored_here(indicator, caller)
        subject = await self._subject(indicator.value)
        picture = await self.pivots.timeline_picture(subject.id, indicator.value)
        notice = build_notice_message(f"Timeline of {indicator.value}: {picture.title}.")
        return CommandResult(notice, files=(picture,))

    # --- the use cases every surface calls (Slack, console, REST API) ------------------

    async def add_monitors(
        self,
        indicators: Sequence[Indicator],
        caller: Caller,
        *,
        tags: Sequence[str] = (),
        baseline_by_scheduler: bool = False,
    ) -> list[AddedMonitor]:
        """Add monitors to the caller's channel, all or nothing, within the channel quota.
        A new subject's first scheduled check comes one interval later: the caller takes
        the baseline itself, unless `baseline_by_scheduler` (the next tick takes it)."""
        return await self.db.run(
            self.db.monitors.add,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            user_id=caller.user_id,
            indicators=[(i.value, i.kind) for i in indicators],
            now=self.clock(),
            first_check_delay=timedelta(0) if baseline_by_scheduler else self.runner.interval,
            quota=self.context.access.channel_quota,
            tags=tags,
        )

    async def remove_monitors(self, indicators: Sequence[Indicator], caller: Caller) -> list[str]:
        """Remove monitors from the caller's channel, all or nothing: UserInputError if one
        is not monitored there, NotPermitted if the caller may not remove one of them."""
        return await self.db.run(
            self.db.monitors.remove,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            indicators=[i.value for i in indicators],
            owner=self.context.access.owner_filter(caller),
        )

    # --- what the commands read ----------------------------------------------------------

    async def _subject(self, value: str) -> SubjectView:
        subject = await self.db.run(self.db.monitors.subject, value)
        if subject is None:
            raise UserInputError(f"`{value}` is not monitored.")
        return subject

    async def _dataset_views(self, subject_id: int, indicator: str) -> list[DatasetView]:
        health = await self.db.run(self.db.checks.dataset_health, subject_id)
        waits = await self.health.waits_for(indicator)
        return [
            DatasetView(
                h.dataset,
                h.facts,
                stale=h.stale,
                error=h.last_error,
                has_baseline=h.baseline_at is not None,
                pending=[
                    (source, at)
                    for source, at in sorted(waits.items())
                    if h.dataset in SOURCE_DATASETS.get(source, ())
                ],
                sources=h.sources,
            )
            for h in health
        ]

    async def _confirmed(self, outbox_ids: set[int]) -> dict[int, bool]:
        """Which of these deliveries Slack confirmed, waiting a few seconds for them (the
        reply should say "posted" only of what was posted)."""
        if not outbox_ids:
            return {}
        deadline = monotonic() + self.delivery_wait
        while True:
            confirmed = await self.db.run(self.db.outbox.delivered, sorted(outbox_ids))
            if all(confirmed.values()) or monotonic() >= deadline:
                return confirmed
            await asyncio.sleep(0.2)
