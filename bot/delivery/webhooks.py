"""Outgoing webhooks: each alert POSTed as JSON to the global URL and to the URL of each
channel it went to, signed, retried with backoff until the receiver answers 2xx.

Deliveries are rows written with the alert (storage/outbox.py), so an alert is never
lost between the check and the POST; a receiver may see one twice (a crash after it
answered, before the answer was recorded), so every delivery carries an idempotency key
that stays the same across retries.

Signature (documented in the README for receivers):

    X-Watchpost-Timestamp: <unix seconds when sent>
    X-Watchpost-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Only the configured URLs are ever contacted, and redirects are not followed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp

from bot.config import WebhookFormat
from bot.delivery.outbox import DeliveryReport, retry_delay
from bot.delivery.transport import retry_after_seconds
from bot.metrics import Metrics
from bot.model.triage import overall_triage
from bot.render import stix
from bot.render.payloads import alert_json
from bot.storage.db import Database
from bot.storage.outbox import PendingWebhook

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Watchpost-Signature"
TIMESTAMP_HEADER = "X-Watchpost-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Watchpost-Event"
SIGNATURE_VERSION = "v1"
USER_AGENT = "Watchpost-Webhook/1"
CONTENT_TYPES = {WebhookFormat.JSON: "application/json", WebhookFormat.STIX: stix.MEDIA_TYPE}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Watchpost-Signature value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(
    secret: str, body: bytes, *, timestamp: str, signature: str, now: float, tolerance: float = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (replays
    of an old delivery are refused)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


@dataclass(frozen=True)
class WebhookTargets:
    """The configured URLs: `everything` gets every alert, `channels` a channel's."""

    everything: str = ""
    channels: Mapping[str, str] | None = None

    def url_for(self, channel_id: str | None) -> str:
        if channel_id is None:
            return self.everything
        return (self.channels or {}).get(channel_id, "")


class WebhookError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class WebhookSender(Protocol):
    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST once; raise WebhookError unless the receiver answered 2xx."""
        ...


class HttpWebhookSender:
    """aiohttp, no redirects, no cookies, no proxy from the environment, a hard timeout.
    Error messages never contain the URL (it may carry a token)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as reply:
                status = reply.status
                reply_headers = reply.headers
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise WebhookError(f"receiver unreachable ({exc.__class__.__name__})") from None
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise WebhookError(f"HTTP {status}: redirects are not followed")
        if status == 410:
            raise WebhookError("HTTP 410: the receiver is gone", permanent=True)
        retry_after = retry_after_seconds(reply_headers) if status in (429, 503) else None
        raise WebhookError(f"HTTP {status}", retry_after=retry_after)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class WebhookWorker:
    def __init__(
        self,
        db: Database,
        targets: WebhookTargets,
        secret: str,
        *,
        clock: Callable[[], datetime],
        sender: WebhookSender | None = None,
        metrics: Metrics | None = None,
        wall_clock: Callable[[], float] = time.time,
        lease: timedelta = timedelta(seconds=60),
        give_up_after: timedelta = timedelta(hours=24),
        concurrency: int = 8,
        body_format: WebhookFormat = WebhookFormat.JSON,
    ) -> None:
        self.db = db
        self.targets = targets
        self.secret = secret
        self.clock = clock
        self.sender = sender if sender is not None else HttpWebhookSender()
        self.metrics = metrics
        # Signatures carry the real time of sending (receivers compare it with theirs);
        # `clock` only schedules retries.
        self.wall_clock = wall_clock
        self.lease = lease
        self.give_up_after = give_up_after
        self._gate = asyncio.Semaphore(concurrency)
        self.body_format = body_format

    async def deliver_due(self, *, limit: int = 50) -> DeliveryReport:
        """One tick: every due delivery (up to `limit`), `concurrency` at a time."""
        due = await self.db.run(self.db.webhook_outbox.claim, now=self.clock(), lease=self.lease, limit=limit)
        results = await asyncio.gather(*(self._deliver(pending) for pending in due))
        sent = sum(results)
        return DeliveryReport(sent, len(results) - sent)

    async def _deliver(self, pending: PendingWebhook) -> bool:
        async with self._gate:
            url = self.targets.url_for(pending.channel_id)
            target = pending.channel_id or "global"
            if not url:
                await self._settle(
                    pending, "abandoned", f"no webhook URL is configured for {target} any more"
                )
                return False
            # Off the event loop: a STIX bundle takes the stix2 library milliseconds to build.
            body = await asyncio.to_thread(payload, pending, self.body_format)
            timestamp = int(self.wall_clock())
            headers = {
                "Content-Type": CONTENT_TYPES[self.body_format],
                "User-Agent": USER_AGENT,
                EVENT_HEADER: "alert",
                IDEMPOTENCY_HEADER: idempotency_key(pending),
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            }
            try:
                await self.sender.send(url, body, headers)
            except WebhookError as exc:
                too_old = self.clock() - pending.created_at >= self.give_up_after
                if exc.permanent or too_old:
                    log.error("webhook of alert %s to %s abandoned: %s", pending.alert.id, target, exc)
                    await self._settle(pending, "abandoned", str(exc))
                else:
                    log.warning(
                        "webhook of alert %s to %s failed (attempt %s): %s",
                        pending.alert.id,
                        target,
                        pending.attempts + 1,
                        exc,
                    )
                    await self._settle(pending, "failed", str(exc), retry_after=exc.retry_after)
                return False
            await self._settle(pending, "delivered", "")
            return True

    async def _settle(
        self, pending: PendingWebhook, outcome: str, error: str, retry_after: float | None = None
    ) -> None:
        now = self.clock()
        if outcome == "delivered":
            await self.db.run(self.db.webhook_outbox.mark_delivered, pending.id, now=now)
        elif outcome == "abandoned":
            await self.db.run(self.db.webhook_outbox.mark_abandoned, pending.id, error=error, now=now)
        else:
            retry_at = now + retry_delay(pending.attempts, retry_after)
            await self.db.run(self.db.webhook_outbox.mark_failed, pending.id, error=error, retry_at=retry_at)
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(outcome).inc()

    async def aclose(self) -> None:
        close = getattr(self.sender, "aclose", None)
        if close is not None:
            await close()


def idempotency_key(pending: PendingWebhook) -> str:
    """The same for every attempt of one delivery, different for each target."""
    return f"{pending.alert.batch_id}-{pending.channel_id or 'all'}"


def payload(pending: PendingWebhook, body_format: WebhookFormat = WebhookFormat.JSON) -> bytes:
    """The body: the global webhook (the operator's) hears every channel the alert went
    to; a channel's webhook only its own (bot/model/walls.py). In STIX, the alert's bundle
    (which names no channel; the changes are already the target's, see PendingWebhook)."""
    alert = pending.alert
    if pending.channel_id is not None:
        own = tuple(
            c for c in alert.channels if (c.team_id, c.channel_id) == (pending.team_id, pending.channel_id)
        )
        alert = replace(alert, channels=own, triage=overall_triage([c.triage for c in own]))
    if body_format is WebhookFormat.STIX:
        return json.dumps(stix.alert_bundle(alert), separators=(",", ":"), ensure_ascii=False).encode()
    body: dict[str, Any] = {
        "type": "alert",
        "idempotency_key": idempotency_key(pending),
        "channel": None
        if pending.channel_id is None
        else {"team": pending.team_id, "channel": pending.channel_id},
        "alert": alert_json(alert),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
