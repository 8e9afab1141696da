"""The outbox worker: sends every stored Slack message through a transport — alerts,
follow-ups, lookalike findings and their later certificates, notices of suppressions that
ended — in order, at most one per channel per tick, and keeps each until the transport
confirms. A follow-up of an open alert goes in that alert's thread, and the alert is
edited to count it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.alerts.messages.alerts import AlertStatus, build_alert_message
from bot.core.message import Message, section
from bot.core.metrics import Metrics
from bot.core.mrkdwn import code, escape
from bot.core.transport import ALERT_EVENT, DeliveryError, MessageEditor, MessageFinder, Transport
from bot.storage.db import Database
from bot.storage.views import PendingAlert, PendingMessage, PendingNotice
from bot.triage.model import SuppressionKind, SuppressionView
from bot.triage.store import AlertMessageState
from bot.watches.delivery import LOOKALIKE_EVENT, LookalikeMessages
from bot.watches.messages import build_watch_silence_ended_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int


def retry_delay(attempts: int, retry_after: float | None) -> timedelta:
    """Exponential backoff from 5 s to 15 min, never sooner than the server asked."""
    backoff = min(5.0 * 2 ** min(attempts, 10), 900.0)
    return timedelta(seconds=max(backoff, retry_after or 0.0))


NOTICE_EVENT = "watchpost_notice"


@dataclass(frozen=True)
class Outgoing:
    """A claimed outbox row, rendered: what to post where, and how to find it again."""

    pending: PendingMessage
    message: Message
    thread_ts: str | None
    kind: str  # for metrics and logs: alert, follow_up, lookalike, sighting, notice


class OutboxWorker:
    """The one Slack delivery loop: alerts, follow-ups, lookalike findings and their later
    certificates, and notices of ended suppressions, in order per channel."""

    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(seconds=60),
        metrics: Metrics | None = None,
        lookalikes: LookalikeMessages | None = None,
    ) -> None:
        self.db = db
        self.transport = transport
        self.metrics = metrics
        self.clock = clock
        self.lease = lease
        self.lookalikes = lookalikes if lookalikes is not None else LookalikeMessages()
        # Messages Slack took whose delivery the database did not record (it failed right
        # after the post): recorded first thing next tick, so they are neither sent again
        # nor left to the lease and the channel-history lookup.
        self._unrecorded: dict[int, str] = {}

    async def deliver_due(self, *, limit: int = 100) -> DeliveryReport:
        """One tick: the oldest due message of each channel, each sent once."""
        for outbox_id, ts in list(self._unrecorded.items()):
            await self.db.run(self.db.outbox.mark_delivered, outbox_id, now=self.clock(), message_ts=ts)
            del self._unrecorded[outbox_id]
        await self.db.run(self.db.triage.queue_ended_notices, now=self.clock())
        claimed = await self.db.run(self.db.outbox.claim, now=self.clock(), lease=self.lease, limit=limit)
        sent = failed = 0
        for pending in claimed:
            if await self._deliver(pending):
                sent += 1
            else:
                failed += 1
        return DeliveryReport(sent, failed)

    async def _deliver(self, pending: PendingMessage) -> bool:
        outgoing = await self._prepare(pending)
        if outgoing is None:
            return False
        channel = pending.channel_id
        metadata = outgoing.message.metadata or {}
        try:
            # An earlier attempt may have reached the channel without its outcome being
            # recorded (a crash after the post, a timeout on the answer): look first.
            if pending.uncertain and isinstance(self.transport, MessageFinder):
                found = await self.transport.find_posted(
                    channel, metadata, since=pending.created_at, thread_ts=outgoing.thread_ts
                )
                if found is not None:
                    log.info(
                        "%s %s is already in %s (%s): not sent again",
                        outgoing.kind,
                        pending.id,
                        channel,
                        found,
                    )
                    await self._record_delivered(pending, found)
                    return True
            ts = await self.transport.post(channel, outgoing.message, thread_ts=outgoing.thread_ts)
        except DeliveryError as exc:
            await self._failed(outgoing, exc)
            return False
        await self._record_delivered(pending, ts)
        self._count(outgoing, "delivered")
        if isinstance(pending, PendingAlert):
            await self._after_alert(pending, outgoing, ts)
        return True

    async def _prepare(self, pending: PendingMessage) -> Outgoing | None:
        """The message of a claimed row; None when it must wait (recorded as a retry)."""
        if isinstance(pending, PendingAlert):
            return await self._alert(pending)
        if isinstance(pending, PendingNotice):
            metadata = {"event_type": NOTICE_EVENT, "event_payload": {"outbox_id": pending.id}}
            return Outgoing(
                pending, replace(notice_of(pending.suppression), metadata=metadata), None, "notice"
            )
        thread_ts = None
        if pending.sighting is not None:
            if pending.parent_ts is None:  # the finding's alert is not posted yet: after it
                await self._retry(pending, DeliveryError("waiting for the finding's alert to be posted"))
                return None
            thread_ts = pending.parent_ts
        metadata = {"event_type": LOOKALIKE_EVENT, "event_payload": {"delivery_id": pending.id}}
        message = replace(await self.lookalikes.message(pending), metadata=metadata)
        return Outgoing(pending, message, thread_ts, "sighting" if thread_ts else "lookalike")

    async def _alert(self, alert: PendingAlert) -> Outgoing:
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
        kind = "follow_up" if thread_ts is not None else "alert"
        return Outgoing(alert, replace(shown, metadata=metadata), thread_ts, kind)

    async def _after_alert(self, alert: PendingAlert, outgoing: Outgoing, ts: str) -> None:
        if self.metrics is not None:
            self.metrics.alerts_posted.inc()
        # The long list goes in the thread after the alert is on record: a failure here
        # loses detail that the digest and history still hold, never the alert itself.
        for reply in outgoing.message.thread_messages:
            try:
                await self.transport.post(alert.channel_id, reply, thread_ts=outgoing.thread_ts or ts)
            except DeliveryError as exc:
                log.warning("thread reply of alert %s failed: %s", alert.id, exc)
                break
        if outgoing.thread_ts is not None:
            parent = await self.db.run(self.db.triage.parent_of, alert.id, now=self.clock())
            if parent is not None:
                await refresh_alert_message(self.transport, parent)

    async def _failed(self, outgoing: Outgoing, exc: DeliveryError) -> None:
        pending = outgoing.pending
        if self.metrics is not None and isinstance(pending, PendingAlert):
            self.metrics.alert_failures.labels(str(exc.permanent).lower()).inc()
        if exc.permanent:
            log.error("%s %s to %s abandoned: %s", outgoing.kind, pending.id, pending.channel_id, exc)
            await self.db.run(self.db.outbox.mark_abandoned, pending.id, error=str(exc), now=self.clock())
            self._count(outgoing, "abandoned")
            return
        log.warning(
            "%s %s to %s failed (attempt %s): %s",
            outgoing.kind,
            pending.id,
            pending.channel_id,
            pending.attempts + 1,
            exc,
        )
        await self._retry(pending, exc)
        self._count(outgoing, "failed")

    async def _retry(self, pending: PendingMessage, exc: DeliveryError) -> None:
        retry_at = self.clock() + retry_delay(pending.attempts, exc.retry_after)
        await self.db.run(self.db.outbox.mark_failed, pending.id, error=str(exc), retry_at=retry_at)

    def _count(self, outgoing: Outgoing, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels("slack", outgoing.kind, outcome).inc()

    async def _record_delivered(self, pending: PendingMessage, ts: str) -> None:
        try:
            await self.db.run(self.db.outbox.mark_delivered, pending.id, now=self.clock(), message_ts=ts)
        except Exception as exc:
            log.warning(
                "message %s is in %s but its delivery was not recorded (%s); recording it next tick",
                pending.id,
                pending.channel_id,
                exc.__class__.__name__,
            )
            self._unrecorded[pending.id] = ts


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


def notice_of(suppression: SuppressionView) -> Message:
    """The notice that a suppression ended: a monitor's, or a lookalike or keyword watch's."""
    if suppression.watch:
        return build_watch_silence_ended_message(suppression)
    return ended_notice(suppression)


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
