"""The outbox worker: sends stored alerts through a transport, in order, at most once per
channel per tick, and keeps them until the transport confirms."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.delivery.transport import ALERT_EVENT, DeliveryError, MessageFinder, Transport
from bot.metrics import Metrics
from bot.render.alerts import build_alert_message
from bot.storage.db import Database
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
        return DeliveryReport(sent, failed)

    async def _deliver(self, alert: PendingAlert) -> bool:
        metadata = {"event_type": ALERT_EVENT, "event_payload": {"outbox_id": alert.id}}
        message = replace(
            build_alert_message(alert.indicator, alert.kind, alert.changes, detected_at=alert.created_at),
            metadata=metadata,
        )
        try:
            # An earlier attempt may have reached the channel without its outcome being
            # recorded (a crash after the post, a timeout on the answer): look first.
            if alert.uncertain and isinstance(self.transport, MessageFinder):
                found = await self.transport.find_posted(alert.channel_id, metadata, since=alert.created_at)
                if found is not None:
                    log.info(
                        "alert %s is already in %s (%s): not sent again", alert.id, alert.channel_id, found
                    )
                    await self._record_delivered(alert, found)
                    return True
            ts = await self.transport.post(alert.channel_id, message)
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
                await self.transport.post(alert.channel_id, reply, thread_ts=ts)
            except DeliveryError as exc:
                log.warning("thread reply of alert %s failed: %s", alert.id, exc)
                break
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
