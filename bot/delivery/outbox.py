"""The outbox worker: sends stored alerts through a transport, in order, at most once per
channel per tick, and keeps them until the transport confirms. A follow-up of an open
alert goes in that alert's thread, and the alert is edited to count it; suppressions
that end by themselves are said in their channel."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.delivery.transport import ALERT_EVENT, DeliveryError, MessageEditor, MessageFinder, Transport
from bot.metrics import Metrics
from bot.model.triage import SuppressionKind, SuppressionView
from bot.render.alerts import AlertStatus, build_alert_message
from bot.render.messages import Message, section
from bot.render.mrkdwn import code, escape
from bot.storage.db import Database
from bot.storage.triage import AlertMessageState
from bot.storage.views import PendingAlert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int


def retry_delay(attempts: int, retry_after: float | None) -> timedelta:
    """Exponential backoff from 5 s to 15 min, never sooner than the server asked."""
    backoff = min(5.0 * 2 ** min(attempts, 10), 900.0)
    return timedelta(seconds=max(backoff, retry_after or 0.0))


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(seconds=60),
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.transport = transport
        self.metrics = metrics
        self.clock = clock
        self.lease = lease
        # Alerts Slack took whose delivery the database did not record (it failed right
        # after the post): recorded first thing next tick, so they are neither sent again
        # nor left to the lease and the channel-history lookup.
        self._unrecorded: dict[int, str] = {}

    async def deliver_due(self, *, limit: int = 100) -> DeliveryReport:
        """One tick: the oldest due alert of each channel, each sent once."""
        for alert_id, ts in list(self._unrecorded.items()):
            await self.db.run(self.db.outbox.mark_delivered, alert_id, now=self.clock(), message_ts=ts)
            del self._unrecorded[alert_id]
        alerts = await self.db.run(self.db.outbox.claim, now=self.clock(), lease=self.lease, limit=limit)
        sent = failed = 0
        for alert in alerts:
            if await self._deliver(alert):
                sent += 1
            else:
                failed += 1
        await self.notice_ended_suppressions()
        return DeliveryReport(sent, failed)

    async def notice_ended_suppressions(self) -> int:
        """Tell each channel which of its suppressions ended by themselves (once each)."""
        ended = await self.db.run(self.db.triage.claim_ended, now=self.clock())
        for suppression in ended:
            try:
                await self.transport.post(suppression.channel_id, ended_notice(suppression))
            except DeliveryError as exc:
                log.warning("notice of suppression %s ending not posted: %s", suppression.id, exc)
        return len(ended)

    async def _deliver(self, alert: PendingAlert) -> bool:
        metadata = {"event_type": ALERT_EVENT, "event_payload": {"outbox_id": alert.id}}
        thread_ts = alert.parent_ts if alert.follow_up else None
        # Rendered from storage, as every later edit of it will be: the same story each time.
        state = await self.db.run(self.db.triage.message, alert.id, now=self.clock())
        if state is not None:
            shown = alert_message_of(
                replace(state, follow_up=thread_ts is not None, changes=tuple(alert.changes))
            )
        else:
            shown = build_alert_message(
                alert.indicator,
                alert.kind,
                alert.changes,
                detected_at=alert.created_at,
                follow_up=thread_ts is not None,
            )
        message = replace(shown, metadata=metadata)
        try:
            # An earlier attempt may have reached the channel without its outcome being
            # recorded (a crash after the post, a timeout on the answer): look first.
            if alert.uncertain and isinstance(self.transport, MessageFinder):
                found = await self.transport.find_posted(
                    alert.channel_id, metadata, since=alert.created_at, thread_ts=thread_ts
                )
                if found is not None:
                    log.info(
                        "alert %s is already in %s (%s): not sent again", alert.id, alert.channel_id, found
                    )
                    await self._record_delivered(alert, found)
                    return True
            ts = await self.transport.post(alert.channel_id, message, thread_ts=thread_ts)
        except DeliveryError as exc:
            if self.metrics is not None:
                self.metrics.alert_failures.labels(str(exc.permanent).lower()).inc()
            if exc.permanent:
                log.error("alert %s to %s abandoned: %s", alert.id, alert.channel_id, exc)
                await self.db.run(self.db.outbox.mark_abandoned, alert.id, error=str(exc), now=self.clock())
            else:
                log.warning(
                    "alert %s to %s failed (attempt %s): %s",
                    alert.id,
                    alert.channel_id,
                    alert.attempts + 1,
                    exc,
                )
                retry_at = self.clock() + retry_delay(alert.attempts, exc.retry_after)
                await self.db.run(self.db.outbox.mark_failed, alert.id, error=str(exc), retry_at=retry_at)
            return False
        await self._record_delivered(alert, ts)
        if self.metrics is not None:
            self.metrics.alerts_posted.inc()
        # The long list goes in the thread after the alert is on record: a failure here
        # loses detail that the digest and history still hold, never the alert itself.
        for reply in message.thread_messages:
            try:
                await self.transport.post(alert.channel_id, reply, thread_ts=thread_ts or ts)
            except DeliveryError as exc:
                log.warning("thread reply of alert %s failed: %s", alert.id, exc)
                break
        if thread_ts is not None:
            parent = await self.db.run(self.db.triage.parent_of, alert.id, now=self.clock())
            if parent is not None:
                await refresh_alert_message(self.transport, parent)
        return True

    async def _record_delivered(self, alert: PendingAlert, ts: str) -> None:
        try:
            await self.db.run(self.db.outbox.mark_delivered, alert.id, now=self.clock(), message_ts=ts)
        except Exception as exc:
            log.warning(
                "alert %s is in %s but its delivery was not recorded (%s); recording it next tick",
                alert.id,
                alert.channel_id,
                exc.__class__.__name__,
            )
            self._unrecorded[alert.id] = ts


def alert_message_of(state: AlertMessageState) -> Message:
    """An alert message as it should read now: its changes, triage and thread."""
    status = AlertStatus(
        triage=state.triage,
        follow_up_count=state.follow_ups.count,
        follow_up_changes=state.follow_ups.changes,
        suppressed_until=state.suppressed_until,
        snoozed_until=state.snoozed_until,
        snoozed_by=state.snoozed_by,
        previous_alerts=state.context.previous_alerts,
        last_alert_before=state.context.last_alert_before,
        datasets_day_before=state.context.datasets_day_before,
        shared=state.context.shared,
        names_on_host=state.context.names_on_host,
    )
    return build_alert_message(
        state.indicator,
        state.kind,
        state.changes,
        detected_at=state.detected_at,
        status=status,
        follow_up=state.follow_up,
    )


async def refresh_alert_message(transport: Transport, state: AlertMessageState) -> bool:
    """Edit a posted alert in place to read as it should now. False when it cannot be
    (never posted, a transport that cannot edit, or Slack refused): the state is stored
    either way, and the next edit shows it."""
    if state.message_ts is None or not isinstance(transport, MessageEditor):
        return False
    try:
        await transport.update(state.channel_id, state.message_ts, alert_message_of(state))
    except DeliveryError as exc:
        log.warning("alert %s in %s not edited: %s", state.message_ts, state.channel_id, exc)
        return False
    return True


def ended_notice(suppression: SuppressionView) -> Message:
    """A short notice in the channel: a suppression ended by itself, alerts are back."""
    what = {
        SuppressionKind.MUTE: f"The mute of {code(suppression.dataset or '')} alerts",
        SuppressionKind.SNOOZE: "The snooze",
        SuppressionKind.VALUE: (
            f"The suppression of {code(suppression.value or '')} in {code(suppression.dataset or '')}"
        ),
    }[suppression.kind]
    text = f"{what} for {code(suppression.indicator)} ended: its alerts are back on."
    return Message(escape(f"{suppression.kind.value} of {suppression.indicator} ended"), [section(text)])
