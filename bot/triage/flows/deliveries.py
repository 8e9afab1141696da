"""Triage use cases every surface calls (alert buttons, the REST API): acknowledge, mark
expected or false positive, reopen, snooze. Each channel's copy of an alert (a delivery)
has its own state: what is done in a channel changes that channel's delivery, message and
suppressions only, and its message is edited in place to show who did it and when.

Who may do what: anyone in the channel may acknowledge, accept as expected, reopen or
snooze; a false positive creates suppressions, so only the monitor's owner or an admin
(or a trusted caller, an API token) may mark one. Others get a refusal saying who can."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.alerts.delivery.outbox import refresh_alert_message
from bot.core.access import AccessPolicy
from bot.core.errors import UserInputError
from bot.core.mrkdwn import mention
from bot.core.results import Caller
from bot.core.transport import Transport
from bot.storage.db import Database
from bot.triage.model import (
    DEFAULT_FALSE_POSITIVE_REASON,
    DEFAULT_SUPPRESSION,
    FALSE_POSITIVE_REASONS,
    SNOOZE_CHOICES,
    SuppressionKind,
    SuppressionView,
    Triage,
    TriageState,
    format_duration,
)
from bot.triage.store import AlertMessageState

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 500


class TriageRefused(UserInputError):
    """The caller may not do this (said to them only); nothing was changed."""


class TriageFlows:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        clock: Callable[[], datetime],
        access: AccessPolicy | None = None,
        suppression: timedelta = DEFAULT_SUPPRESSION,
    ) -> None:
        self.db = db
        self.transport = transport
        self.clock = clock
        self.access = access if access is not None else AccessPolicy()
        self.suppression = suppression

    # --- on a Slack message ------------------------------------------------------------

    async def message(self, channel_id: str, ts: str) -> AlertMessageState:
        """The alert posted as `ts` in `channel_id`; UserInputError if it is none of ours."""
        state = await self.db.run(self.db.triage.message_at, channel_id, ts, now=self.clock())
        if state is None:
            raise UserInputError("This message is not a Watchpost alert on record: nothing was changed.")
        return state

    async def set_state_on_message(
        self, channel_id: str, ts: str, state: TriageState, caller: Caller, *, reason: str | None = None
    ) -> Triage:
        message = await self.message(channel_id, ts)
        return await self._set(message, state, caller, reason=_reason(reason))

    async def snooze_on_message(
        self, channel_id: str, ts: str, caller: Caller, duration: timedelta
    ) -> datetime:
        """Silence the alert's monitor for `duration` (one of SNOOZE_CHOICES)."""
        if duration not in SNOOZE_CHOICES:
            choices = ", ".join(format_duration(d) for d in SNOOZE_CHOICES)
            raise UserInputError(f"Snooze for {choices}: nothing was changed.")
        message = await self.message(channel_id, ts)
        if message.monitor_id is None:
            raise UserInputError(f"`{message.indicator}` is no longer monitored here: nothing to snooze.")
        now = self.clock()
        until = now + duration
        await self.db.run(
            self.db.triage.suppress,
            monitor_id=message.monitor_id,
            kind=SuppressionKind.SNOOZE,
            by=caller.user_id,
            now=now,
            until=until,
            reason=f"snoozed from an alert for {format_duration(duration)}",
        )
        log.info("%s snoozed %s in %s until %s", caller.user_id, message.indicator, channel_id, until)
        await self.refresh(message.outbox_id)
        return until

    async def refine_false_positive(
        self, channel_id: str, ts: str, caller: Caller, *, reason: str, duration: timedelta
    ) -> Triage:
        """The analyst's own reason and duration for a false positive marked with the defaults."""
        if reason not in FALSE_POSITIVE_REASONS:
            raise UserInputError(f"Pick a reason: {', '.join(FALSE_POSITIVE_REASONS)}. Nothing was changed.")
        if not timedelta(days=1) <= duration <= timedelta(days=365):
            raise UserInputError("Keep it quiet for a day to a year. Nothing was changed.")
        message = await self.message(channel_id, ts)
        self._may_suppress(message.monitor_owner, message.indicator, caller)
        now = self.clock()
        triage = await self.db.run(
            self.db.triage.refine_false_positive,
            message.outbox_id,
            by=caller.user_id,
            now=now,
            until=now + duration,
            reason=reason,
        )
        await self.refresh(message.outbox_id)
        return triage

    async def after_lift(self, lifted: SuppressionView) -> None:
        """Edit the messages that showed a suppression now lifted, in its channel only: the
        false positive's alert, or the open alerts of a monitor whose snooze ended."""
        if lifted.delivery_id is not None:
            await self.refresh(lifted.delivery_id)
        if lifted.kind is SuppressionKind.SNOOZE:
            for alert in await self.db.run(
                self.db.triage.open_alerts, lifted.team_id, [lifted.channel_id], now=self.clock()
            ):
                if alert.indicator == lifted.indicator:
                    await refresh_alert_message(self.transport, alert)

    # --- by alert or delivery id (the REST API) -----------------------------------------

    async def set_state(
        self, alert_id: int, state: TriageState, caller: Caller, *, reason: str | None = None
    ) -> Triage:
        """Set the triage of every channel's copy of an alert (a trusted caller: an API
        token) and edit their messages. A false positive suppresses the alert's values on
        each monitor it went to."""
        reason = _reason(reason)
        messages = await self.db.run(
            self.db.triage.messages_of_alert, alert_id, now=self.clock(), delivered_only=False
        )
        if not messages:
            raise UserInputError(f"Alert {alert_id} is in no channel: nothing to change.")
        if state is TriageState.FALSE_POSITIVE and all(m.monitor_id is None for m in messages):
            raise UserInputError(f"Alert {alert_id}'s indicator is no longer monitored: nothing to suppress.")
        triage = Triage()
        for message in messages:
            if state is TriageState.FALSE_POSITIVE and message.monitor_id is None:
                continue  # that channel stopped monitoring it: nothing there to suppress
            triage = await self._set(message, state, caller, reason=reason)
        return triage

    async def set_delivery_state(
        self, delivery_id: int, state: TriageState, caller: Caller, *, reason: str | None = None
    ) -> Triage:
        """Set one channel's copy of an alert (PATCH /deliveries/{id})."""
        message = await self.db.run(self.db.triage.message, delivery_id, now=self.clock())
        if message is None:
            raise UserInputError(f"There is no delivery {delivery_id}.")
        return await self._set(message, state, caller, reason=_reason(reason))

    async def refresh(self, delivery_id: int) -> bool:
        """Edit one channel's alert message to read as it should now."""
        state = await self.db.run(self.db.triage.message, delivery_id, now=self.clock())
        return state is not None and await refresh_alert_message(self.transport, state)

    async def _set(
        self, message: AlertMessageState, state: TriageState, caller: Caller, *, reason: str | None
    ) -> Triage:
        if state is TriageState.FALSE_POSITIVE:
            return await self._false_positive(message, caller, reason=reason, duration=self.suppression)
        triage = await self.db.run(
            self.db.triage.set_state,
            message.outbox_id,
            state,
            by=caller.user_id,
            now=self.clock(),
            reason=reason,
        )
        log.info(
            "alert %s in %s set %s by %s", message.alert_id, message.channel_id, state.value, caller.user_id
        )
        await self.refresh(message.outbox_id)
        return triage

    async def _false_positive(
        self, message: AlertMessageState, caller: Caller, *, reason: str | None, duration: timedelta
    ) -> Triage:
        if message.monitor_id is None:
            raise UserInputError(f"`{message.indicator}` is no longer monitored here: nothing to suppress.")
        self._may_suppress(message.monitor_owner, message.indicator, caller)
        now = self.clock()
        reason = reason or DEFAULT_FALSE_POSITIVE_REASON
        await self.db.run(
            self.db.triage.false_positive,
            message.alert_id,
            message.outbox_id,
            message.monitor_id,
            (*message.changes, *message.thread_changes),  # the thread's values are the alert's too
            by=caller.user_id,
            now=now,
            until=now + duration,
            reason=reason,
        )
        triage = await self.db.run(
            self.db.triage.set_state,
            message.outbox_id,
            TriageState.FALSE_POSITIVE,
            by=caller.user_id,
            now=now,
            reason=reason,
        )
        log.info(
            "alert %s in %s marked false positive by %s (%s)",
            message.alert_id,
            message.channel_id,
            caller.user_id,
            reason,
        )
        await self.refresh(message.outbox_id)
        return triage

    def _may_suppress(self, owner: str | None, indicator: str, caller: Caller) -> None:
        if self.access.may_change(caller, owner):
            return
        admins = " or a Watchpost admin" if self.access.admins else ""
        who = mention(owner) if owner else "whoever added it"
        raise TriageRefused(
            f"Only {who}, who added `{indicator}` here{admins}, can mark its alerts false positive "
            "(that suppresses its values). You can acknowledge or snooze it. Nothing was changed."
        )

    # --- suppressions ----------------------------------------------------------------------

    async def lift(self, suppression_id: int, caller: Caller) -> SuppressionView:
        """End a suppression of the caller's channel now. A snooze anyone in the channel may
        lift; a suppression or timed mute its creator, the monitor's owner or an admin."""
        found = await self.db.run(self.db.triage.get, suppression_id)
        if found is None or found.team_id != caller.team_id or found.channel_id != caller.channel_id:
            raise UserInputError(f"There is no suppression {suppression_id} in this channel.")
        if found.kind is not SuppressionKind.SNOOZE and not self.access.may_change(
            caller, found.created_by, found.monitor_owner
        ):
            raise TriageRefused(
                f"Only {mention(found.created_by)}, who made it, {mention(found.monitor_owner)}, who added "
                f"`{found.indicator}` here, or an admin can lift this. Nothing was changed."
            )
        return await self.db.run(self.db.triage.lift, suppression_id, by=caller.user_id, now=self.clock())


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    cleaned = " ".join(reason.split())
    return cleaned[:MAX_REASON_CHARS] or None
