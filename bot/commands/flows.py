"""What each /monitor verb does. Shared by every surface (Slack, console): a surface
turns its input into text and a Caller, and shows the Messages that come back."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.commands.grammar import (
    AddCommand,
    CheckCommand,
    Command,
    HelpCommand,
    ListCommand,
    RemoveCommand,
    StatusCommand,
    parse_command,
)
from bot.errors import UserInputError
from bot.indicators import Indicator
from bot.monitoring.runner import Runner
from bot.render.messages import Message
from bot.render.replies import (
    DatasetView,
    build_added_message,
    build_baseline_message,
    build_check_message,
    build_error_message,
    build_help_message,
    build_list_message,
    build_removed_message,
    build_status_message,
)
from bot.storage.repository import AsyncStore, SubjectView

log = logging.getLogger(__name__)

FollowUp = Callable[[], Awaitable[list[Message]]]


@dataclass(frozen=True)
class Caller:
    team_id: str
    channel_id: str
    user_id: str


@dataclass(frozen=True)
class CommandResult:
    """`reply` answers at once (Slack's 3-second window); `follow_up`, when set, does the
    slow part (checks) and returns what to show after it."""

    reply: Message
    follow_up: FollowUp | None = None


class MonitorFlows:
    def __init__(self, store: AsyncStore, runner: Runner, *, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock

    async def execute(self, text: str, caller: Caller) -> CommandResult:
        """Run a /monitor command. User errors become an error reply; anything else is
        logged with an id and answered with a short apology naming it."""
        try:
            return await self._dispatch(parse_command(text), caller)
        except UserInputError as exc:
            return CommandResult(build_error_message(str(exc)))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("command failed (incident %s)", incident)
            return CommandResult(
                build_error_message(f"Sorry, something went wrong on our side (incident `{incident}`).")
            )

    async def _dispatch(self, command: Command, caller: Caller) -> CommandResult:
        match command:
            case HelpCommand():
                return CommandResult(build_help_message())
            case AddCommand(indicators):
                return await self._add(indicators, caller)
            case RemoveCommand(indicators):
                removed = await self.store.run(
                    self.store.store.remove_monitors,
                    team_id=caller.team_id,
                    channel_id=caller.channel_id,
                    indicators=[i.value for i in indicators],
                )
                return CommandResult(build_removed_message(removed))
            case ListCommand():
                monitors = await self.store.run(
                    self.store.store.list_monitors, team_id=caller.team_id, channel_id=caller.channel_id
                )
                rows = [(m.indicator, m.kind.value, m.last_checked_at, m.stale_datasets) for m in monitors]
                return CommandResult(build_list_message(rows))
            case StatusCommand(indicator):
                return await self._status(indicator, caller)
            case CheckCommand(indicator):
                return await self._check(indicator, caller)
        raise AssertionError(f"unhandled command {command!r}")

    async def _add(self, indicators: Sequence[Indicator], caller: Caller) -> CommandResult:
        added = await self.store.run(
            self.store.store.add_monitors,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            user_id=caller.user_id,
            indicators=[(i.value, i.kind) for i in indicators],
            now=self.clock(),
            first_check_delay=self.runner.interval,
        )

        async def capture_baselines() -> list[Message]:
            async def one(subject_id: int, indicator: str) -> Message:
                subject = await self.store.run(self.store.store.get_subject, indicator)
                if subject is not None and subject.last_checked_at is None:
                    await self.runner.check(subject)
                return build_baseline_message(indicator, await self._dataset_views(subject_id))

            fresh = [a for a in added if a.new_for_channel]
            return list(await asyncio.gather(*(one(a.subject_id, a.indicator) for a in fresh)))

        reply = build_added_message([(a.indicator, a.new_for_channel) for a in added])
        has_new = any(a.new_for_channel for a in added)
        return CommandResult(reply, capture_baselines if has_new else None)

    async def _status(self, indicator: Indicator, caller: Caller) -> CommandResult:
        monitor = await self.store.run(
            self.store.store.find_monitor,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            indicator=indicator.value,
        )
        if monitor is None:
            raise UserInputError(f"`{indicator.value}` is not monitored in this channel.")
        subject = await self._subject(indicator)
        views = await self._dataset_views(subject.id)
        return CommandResult(build_status_message(indicator.value, views, monitor.created_at))

    async def _check(self, indicator: Indicator | None, caller: Caller) -> CommandResult:
        if indicator is None:
            monitors = await self.store.run(
                self.store.store.list_monitors, team_id=caller.team_id, channel_id=caller.channel_id
            )
            if not monitors:
                raise UserInputError("This channel monitors nothing yet.")
            names = [m.indicator for m in monitors]
        else:
            found = await self.store.run(
                self.store.store.find_monitor,
                team_id=caller.team_id,
                channel_id=caller.channel_id,
                indicator=indicator.value,
            )
            if found is None:
                raise UserInputError(
                    f"`{indicator.value}` is not monitored in this channel. "
                    f"Add it with `/monitor {indicator.value}`."
                )
            names = [indicator.value]

        async def run_checks() -> list[Message]:
            gate = asyncio.Semaphore(self.runner.concurrency)

            async def one(name: str) -> Message:
                async with gate:
                    subject = await self._subject_by_value(name)
                    report = await self.runner.check(subject)
                failed = sorted({f.source for o in report.outcomes for f in o.observation.failures})
                return build_check_message(name, report.changes, failed=failed)

            return list(await asyncio.gather(*(one(name) for name in names)))

        plural = "s" * (len(names) != 1)
        reply = Message(f"Checking {len(names)} indicator{plural} now…")
        return CommandResult(reply, run_checks)

    async def _subject(self, indicator: Indicator) -> SubjectView:
        return await self._subject_by_value(indicator.value)

    async def _subject_by_value(self, value: str) -> SubjectView:
        subject = await self.store.run(self.store.store.get_subject, value)
        if subject is None:
            raise UserInputError(f"`{value}` is not monitored.")
        return subject

    async def _dataset_views(self, subject_id: int) -> list[DatasetView]:
        health = await self.store.run(self.store.store.dataset_health, subject_id)
        return [
            DatasetView(
                h.dataset,
                h.facts,
                stale=h.stale,
                error=h.last_error,
                has_baseline=h.baseline_at is not None,
            )
            for h in health
        ]
