"""Delivery of lookalike findings: the same promise as the outbox (stored first, sent
with retries and backoff, one message per channel at a time, found again in the channel
after a crash between the post and its record), for findings instead of changes.

A finding's alert is built at delivery time with what is known of the domain then
(DNS, WHOIS); a later certificate goes to the alert's thread once the alert is posted.
Each tick also tells a channel when a watch's snooze or timed mute ended by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.delivery.outbox import DeliveryReport, retry_delay
from bot.delivery.transport import DeliveryError, MessageFinder, Transport
from bot.model.watches import DomainFacts
from bot.monitoring.lookalikes.service import Database
from bot.render.lookalikes import (
    build_lookalike_alert_message,
    build_lookalike_sighting_message,
    build_watch_silence_ended_message,
)
from bot.render.messages import Message
from bot.storage.lookalikes import LookalikeStore, PendingDelivery
from bot.storage.watch_suppressions import WatchSuppressions

log = logging.getLogger(__name__)

LOOKALIKE_EVENT = "watchpost_lookalike"


class FactsLookup(Protocol):
    async def facts(self, domain: str) -> DomainFacts: ...


class LookalikeDeliveryWorker:
    def __init__(
        self,
        db: Database,
        store: LookalikeStore,
        transport: Transport,
        *,
        clock: Callable[[], datetime],
        facts: FactsLookup | None = None,
        lease: timedelta = timedelta(seconds=120),
        suppressions: WatchSuppressions | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.transport = transport
        self.clock = clock
        self.facts = facts
        self.lease = lease
        self.suppressions = suppressions  # the watches' mutes and snoozes, for their end notices

    async def deliver_due(self, *, limit: int = 100) -> DeliveryReport:
        pending = await self.db.run(
            self.store.claim_deliveries, now=self.clock(), lease=self.lease, limit=limit
        )
        sent = failed = 0
        for delivery in pending:
            if await self._deliver(delivery):
                sent += 1
            else:
                failed += 1
        await self.notice_ended_silences()
        return DeliveryReport(sent, failed)

    async def notice_ended_silences(self) -> int:
        """Tell each channel which of its watches' snoozes and timed mutes ended (once each)."""
        if self.suppressions is None:
            return 0
        ended = await self.db.run(self.suppressions.claim_ended, now=self.clock())
        for suppression in ended:
            try:
                await self.transport.post(
                    suppression.channel_id, build_watch_silence_ended_message(suppression)
                )
            except DeliveryError as exc:
                log.warning("notice of watch suppression %s ending not posted: %s", suppression.id, exc)
        return len(ended)

    async def _message(self, delivery: PendingDelivery) -> Message:
        if delivery.sighting is not None:
            return build_lookalike_sighting_message(delivery.finding, delivery.sighting)
        facts = DomainFacts()
        if self.facts is not None:
            try:
                facts = await self.facts.facts(delivery.finding.domain)
            except Exception:
                log.exception("facts of lookalike %s", delivery.finding.domain)
        return build_lookalike_alert_message(delivery.finding, facts, detected_at=delivery.created_at)

    async def _deliver(self, delivery: PendingDelivery) -> bool:
        channel = delivery.finding.channel_id
        thread_ts = None
        if delivery.sighting is not None:
            if delivery.parent_ts is None:  # the alert is not posted yet: after it
                await self._retry(delivery, DeliveryError("waiting for the alert to be posted"))
                return False
            thread_ts = delivery.parent_ts
        metadata = {"event_type": LOOKALIKE_EVENT, "event_payload": {"delivery_id": delivery.id}}
        message = replace(await self._message(delivery), metadata=metadata)
        try:
            if delivery.uncertain and isinstance(self.transport, MessageFinder):
                found = await self.transport.find_posted(channel, metadata, since=delivery.created_at)
                if found is not None:
                    log.info("lookalike message %s is already in %s: not sent again", delivery.id, channel)
                    await self.db.run(
                        self.store.mark_delivered, delivery.id, now=self.clock(), message_ts=found
                    )
                    return True
            ts = await self.transport.post(channel, message, thread_ts=thread_ts)
        except DeliveryError as exc:
            if exc.permanent:
                log.error("lookalike message %s to %s abandoned: %s", delivery.id, channel, exc)
                await self.db.run(self.store.mark_abandoned, delivery.id, error=str(exc), now=self.clock())
            else:
                log.warning("lookalike message %s to %s failed: %s", delivery.id, channel, exc)
                await self._retry(delivery, exc)
            return False
        await self.db.run(self.store.mark_delivered, delivery.id, now=self.clock(), message_ts=ts)
        return True

    async def _retry(self, delivery: PendingDelivery, exc: DeliveryError) -> None:
        retry_at = self.clock() + retry_delay(delivery.attempts, exc.retry_after)
        await self.db.run(self.store.mark_failed, delivery.id, error=str(exc), retry_at=retry_at)
