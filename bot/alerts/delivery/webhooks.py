"""Outgoing webhooks: each alert POSTed as JSON to the global URL and to the URL of each
channel it went to, signed, retried with backoff until the receiver answers 2xx.

Deliveries are rows of the one receiver queue, written with the alert
(storage/receivers.py) and sent by bot/alerts/delivery/receivers.py, so an alert is never lost
between the check and the POST; a receiver may see one twice (a crash after it
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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiohttp

from bot.alerts.delivery.receivers import ReceiverError
from bot.alerts.messages import stix
from bot.alerts.messages.payloads import alert_json
from bot.alerts.store.receivers import WEBHOOK, PendingDelivery
from bot.config import WebhookFormat
from bot.core.transport import retry_after_seconds
from bot.triage.model import overall_triage

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


class WebhookSender(Protocol):
    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST once; raise ReceiverError unless the receiver answered 2xx."""
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
            raise ReceiverError(f"receiver unreachable ({exc.__class__.__name__})") from None
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise ReceiverError(f"HTTP {status}: redirects are not followed")
        if status == 410:
            raise ReceiverError("HTTP 410: the receiver is gone", permanent=True)
        retry_after = retry_after_seconds(reply_headers) if status in (429, 503) else None
        raise ReceiverError(f"HTTP {status}", retry_after=retry_after)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class WebhookReceiver:
    """Webhooks as a receiver of the one queue (bot/alerts/delivery/receivers.py): the body signed
    afresh at each attempt, the idempotency key the same. A repeat is the receiver's to
    drop by its key, so an uncertain delivery is simply sent again."""

    name = WEBHOOK

    def __init__(
        self,
        targets: WebhookTargets,
        secret: str,
        *,
        sender: WebhookSender | None = None,
        wall_clock: Callable[[], float] = time.time,
        body_format: WebhookFormat = WebhookFormat.JSON,
    ) -> None:
        self.body_format = body_format
        self.targets = targets
        self.secret = secret
        self.sender = sender if sender is not None else HttpWebhookSender()
        # Signatures carry the real time of sending (receivers compare it with theirs).
        self.wall_clock = wall_clock

    async def send(self, delivery: PendingDelivery) -> None:
        url = self.targets.url_for(delivery.channel_id)
        if not url:
            target = delivery.channel_id or "global"
            raise ReceiverError(f"no webhook URL is configured for {target} any more", permanent=True)
        # Off the event loop: a STIX bundle takes the stix2 library milliseconds to build.
        body = await asyncio.to_thread(payload, delivery, self.body_format)
        timestamp = int(self.wall_clock())
        headers = {
            "Content-Type": CONTENT_TYPES[self.body_format],
            "User-Agent": USER_AGENT,
            EVENT_HEADER: "alert",
            IDEMPOTENCY_HEADER: idempotency_key(delivery),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        await self.sender.send(url, body, headers)

    async def already_delivered(self, delivery: PendingDelivery) -> bool:
        return False  # the receiver drops a repeat by its Idempotency-Key

    async def aclose(self) -> None:
        close = getattr(self.sender, "aclose", None)
        if close is not None:
            await close()


def idempotency_key(pending: PendingDelivery) -> str:
    """The same for every attempt of one delivery, different for each target."""
    return pending.idempotency_key


def payload(pending: PendingDelivery, body_format: WebhookFormat = WebhookFormat.JSON) -> bytes:
    """The body: the global webhook (the operator's) hears every channel the alert went
    to; a channel's webhook only its own delivery (bot/core/walls.py). As JSON, or as a
    STIX 2.1 bundle (which names no channel)."""
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
