"""Quieting a monitor: `/monitor mute` and `unmute` (a dataset, until unmuted or for a
while), `/monitor suppressions` (every suppression, snooze and mute in force in the
channel, a watch's too) and `/monitor lift` (ending one now).

Who may: a mute, as any change to a monitor, whoever added the monitor or an admin; a
lift, see `MuteFlows.lift_suppression`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.commands.context import CommandContext
from bot.commands.grammar import LiftCommand, MuteCommand, SuppressionsCommand
from bot.commands.messages.replies import (
    build_lifted_message,
    build_muted_message,
    build_suppressions_message,
    build_timed_mute_message,
)
from bot.core.errors import UserInputError
from bot.core.indicators import Indicator
from bot.core.mrkdwn import mention
from bot.core.observations import IndicatorKind
from bot.core.results import Caller, CommandResult
from bot.monitoring.requested_checks import CheckRunner
from bot.storage.views import MonitorView
from bot.triage.model import SuppressionKind, SuppressionView
from bot.watches.flows import WatchFlows

log = logging.getLogger(__name__)


def soonest_end_first(suppressions: Sequence[SuppressionView]) -> list[SuppressionView]:
    """Timed ones by their end, then those until unmuted (as `/monitor suppressions` lists them)."""
    return sorted(
        suppressions, key=lambda s: (s.expires_at is None, s.expires_at or datetime.min.replace(tzinfo=UTC))
    )


class MuteFlows:
    def __init__(
        self,
        context: CommandContext,
        runner: CheckRunner,
        watches: WatchFlows,
        *,
        on_lifted: Callable[[SuppressionView], Awaitable[None]] | None = None,
    ) -> None:
        self.context = context
        self.db = context.db
        self.clock = context.clock
        # Its datasets: which of them apply to an indicator's kind (nothing to mute otherwise).
        self.runner = runner
        self.watches = watches
        # Edits the alert messages that showed a lifted suppression (set by the composition).
        self.on_lifted = on_lifted

    async def handle_mute_command(self, command: MuteCommand, caller: Caller) -> CommandResult:
        indicator, dataset, muted = command.indicator, command.dataset, command.muted
        if muted:
            self._applies(indicator, dataset)
        if muted and command.duration is not None:
            until = await self.mute_for(indicator, dataset, command.duration, caller)
            message = build_timed_mute_message(indicator.value, dataset, until=until, user_id=caller.user_id)
            return CommandResult(message, public=True)
        await self.set_muted(indicator, dataset, caller, muted=muted)
        message = build_muted_message(indicator.value, dataset, muted=muted, user_id=caller.user_id)
        return CommandResult(message, public=True)

    async def handle_suppressions_command(
        self, command: SuppressionsCommand, caller: Caller
    ) -> CommandResult:
        found = await self.db.run(
            self.db.triage.active,
            now=self.clock(),
            team_id=caller.team_id,
            channel_id=caller.channel_id,
        )
        found = soonest_end_first([*found, *await self.watches.silences(caller)])
        return CommandResult(build_suppressions_message(found, now=self.clock()))

    async def handle_lift_command(self, command: LiftCommand, caller: Caller) -> CommandResult:
        lifted = await self.lift_suppression(command.suppression_id, caller)
        return CommandResult(build_lifted_message(lifted, user_id=caller.user_id), public=True)

    async def set_muted(self, indicator: Indicator, dataset: str, caller: Caller, *, muted: bool) -> None:
        """Mute one dataset of the caller's channel's monitor of `indicator` until unmuted,
        or unmute it: that ends its timed mute too (both are `mute` suppressions)."""
        await self.context.monitored_here(indicator, caller)  # not monitored: the reply says how to add it
        await self.db.run(
            self.db.monitors.set_muted,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            indicator=indicator.value,
            dataset=dataset,
            muted=muted,
            by=caller.user_id,
            now=self.clock(),
            owner=self.context.access.owner_filter(caller),
        )
        log.info(
            "%s %s of %s in %s/%s by %s",
            "muted" if muted else "unmuted",
            dataset,
            indicator.value,
            caller.team_id,
            caller.channel_id,
            caller.user_id,
        )

    async def mute_for(
        self, indicator: Indicator, dataset: str, duration: timedelta, caller: Caller
    ) -> datetime:
        """Mute one dataset of the caller's channel's monitor for `duration`; it ends by itself."""
        monitor = await self.context.monitored_here(indicator, caller)
        self.context.check_owner(monitor, caller)
        if dataset in monitor.muted:
            raise UserInputError(
                f"`{dataset}` is already muted for `{indicator.value}` in this channel, until unmuted. "
                f"Unmute it first to mute it for a while. Nothing was changed."
            )
        now = self.clock()
        until = now + duration
        await self.db.run(
            self.db.triage.suppress,
            monitor_id=monitor.id,
            kind=SuppressionKind.MUTE,
            by=caller.user_id,
            now=now,
            until=until,
            dataset=dataset,
            reason="muted with /monitor mute",
        )
        log.info(
            "muted %s of %s in %s until %s by %s",
            dataset,
            indicator.value,
            caller.channel_id,
            until,
            caller.user_id,
        )
        return until

    async def lift_suppression(self, suppression_id: int, caller: Caller) -> SuppressionView:
        """End a suppression of the caller's channel now. A snooze anyone in the channel may
        lift; a false positive or a mute (timed or until unmuted) its creator, the monitor's
        owner or an admin.
        A watch's mute or snooze alike (bot/watches/flows.py)."""
        watch_silence = await self.watches.lift(suppression_id, caller)
        if watch_silence is not None:
            return watch_silence
        found = await self.db.run(self.db.triage.get, suppression_id)
        if found is None or found.team_id != caller.team_id or found.channel_id != caller.channel_id:
            raise UserInputError(f"There is no suppression #{suppression_id} in this channel.")
        owner = self.context.access.owner_filter(caller)
        if (
            found.kind is not SuppressionKind.SNOOZE
            and owner is not None
            and owner
            not in (
                found.created_by,
                found.monitor_owner,
            )
        ):
            raise UserInputError(
                f"Only {mention(found.created_by)}, who made it, {mention(found.monitor_owner)}, who added "
                f"`{found.indicator}` here, or an admin can lift #{suppression_id}. Nothing was changed."
            )
        lifted = await self.db.run(self.db.triage.lift, suppression_id, by=caller.user_id, now=self.clock())
        if self.on_lifted is not None:
            try:
                await self.on_lifted(lifted)
            except Exception:  # the lift holds; the message catches up on its next edit
                log.exception("alert messages not edited after lifting suppression %s", suppression_id)
        return lifted

    async def with_timed_mutes(
        self, monitors: Sequence[MonitorView], caller: Caller
    ) -> list[tuple[MonitorView, list[str]]]:
        """Each monitor with its mutes: those until unmuted by name, the timed ones with their
        end (a timed mute silences as much as one until unmuted, so the list shows both)."""
        silenced = await self.db.run(
            self.db.triage.active, now=self.clock(), team_id=caller.team_id, channel_id=caller.channel_id
        )
        timed: dict[str, list[str]] = {}
        for s in silenced:
            if s.kind is SuppressionKind.MUTE and s.dataset and s.expires_at:
                timed.setdefault(s.indicator, []).append(
                    f"{s.dataset} until {s.expires_at:%Y-%m-%d %H:%M} UTC"
                )
        return [(m, [*m.muted, *timed.get(m.indicator, ())]) for m in monitors]

    def _applies(self, indicator: Indicator, dataset: str) -> None:
        """UserInputError when this Watchpost's `dataset` never looks at the indicator's kind
        (`subdomains` of an IP). A dataset not enabled here is not judged."""
        kind = IndicatorKind(indicator.kind)
        named = [d for d in self.runner.datasets if d.name == dataset]
        if not named or any(d.applies_to(kind) for d in named):
            return
        names = ", ".join(f"`{d.name}`" for d in self.runner.datasets if d.applies_to(kind))
        what = "an IP" if kind is IndicatorKind.IP else "a domain"
        raise UserInputError(
            f"`{dataset}` does not apply to {what} like `{indicator.value}`, so there is nothing to mute. "
            f"Datasets for {what}: {names or 'none'}. Nothing was changed."
        )
