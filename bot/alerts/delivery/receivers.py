"""Alerts out to HTTP receivers: webhooks, MISP, TheHive, any later one. Each is a
`Receiver` (send one delivery; say whether an uncertain one already arrived); one worker
claims the due rows of the one queue (bot/alerts/store/receivers.py), sends each through its
receiver, and settles it: delivered, retried with backoff (never sooner than a
Retry-After), or given up with the reason kept (a permanent refusal, or a day of failures).

A delivery whose earlier attempt may have arrived (it failed after sending, timed out,
or its process died holding the lease) is looked for first, for receivers that cannot
drop a repeat by themselves (MISP's sightings carry no idempotency key).

`ReceiverHttp` is the one way receivers talk HTTP: aiohttp on the event loop, no
redirects followed, no cookies, no proxy from the environment, a hard timeout, and error
messages that never carry the URL or the key. A configured URL is trusted as written
(loopback included): the operator chose it."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp

from bot.alerts.delivery.outbox import DeliveryReport, retry_delay
from bot.alerts.store.receivers import WEBHOOK, PendingDelivery
from bot.core.metrics import Metrics
from bot.core.transport import retry_after_seconds
from bot.storage.db import Database

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 1_000_000


class ReceiverError(Exception):
    """A delivery attempt that did not arrive (or may not have): retried, unless
    `permanent` (the receiver refused it for good); never sooner than `retry_after`."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Receiver(Protocol):
    name: str

    async def send(self, delivery: PendingDelivery) -> None:
        """Deliver once; raise ReceiverError unless the receiver has it now."""
        ...

    async def already_delivered(self, delivery: PendingDelivery) -> bool:
        """Whether an earlier, uncertain attempt arrived (False: not known to have)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error(self, what: str) -> ReceiverError:
        """The usual reading of a non-2xx answer: 429 and 503 wait as asked, a request the
        receiver cannot take (400, 410, 413, 422) is not sent again, the rest is retried."""
        status = self.status
        if 300 <= status < 400:
            return ReceiverError(f"{what}: HTTP {status}: redirects are not followed")
        if status in (429, 503):
            return ReceiverError(f"{what}: HTTP {status}", retry_after=retry_after_seconds(self.headers))
        detail = _message_of(self.json())
        said = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
        return ReceiverError(said, permanent=status in (400, 410, 413, 422))


def _message_of(body: Any) -> str:
    """A receiver's error message (MISP's and TheHive's `message`, MISP's `errors`), short."""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("message") or body.get("name") or "")]
    errors = body.get("errors")
    if errors:
        parts.append(json.dumps(errors, sort_keys=True))
    return " ".join(p for p in parts if p)[:300]


class ReceiverHttp:
    """HTTP for receivers (see the module's docstring). `verify_tls` False: MISP's
    self-signed certificates, when the operator says so."""

    def __init__(self, *, timeout: float = 10.0, verify_tls: bool = True) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        data: bytes | None = None,
    ) -> HttpAnswer:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        body = data if data is not None else None if json_body is None else json.dumps(json_body).encode()
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=dict(headers),
                allow_redirects=False,
                ssl=self.verify_tls,  # False: no certificate check (the operator said so)
            ) as reply:
                raw = await reply.content.read(MAX_ANSWER_BYTES)
                return HttpAnswer(reply.status, dict(reply.headers), raw)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ReceiverError(f"receiver unreachable ({exc.__class__.__name__})") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}\.?")


def value_kind(value: str) -> str:
    """What a changed value is, as receivers type observables: ip, url, domain or other."""
    text = value.strip()
    try:
        ipaddress.ip_address(text)
        return "ip"
    except ValueError:
        pass
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        return "url"
    if _HOSTNAME.fullmatch(text.lower()):
        return "domain"
    return "other"


def channels_of(raw: str) -> frozenset[str] | None:
    """A `WATCHPOST_*_CHANNELS` value: channel ids, or None (empty: every channel)."""
    found = frozenset(item.strip() for item in raw.split(",") if item.strip())
    return found or None


class ReceiverWorker:
    """Sends the due deliveries of every configured receiver, `concurrency` at a time."""

    def __init__(
        self,
        db: Database,
        receivers: Sequence[Receiver],
        *,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        lease: timedelta = timedelta(seconds=60),
        give_up_after: timedelta = timedelta(hours=24),
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.receivers = {receiver.name: receiver for receiver in receivers}
        self.clock = clock
        self.metrics = metrics
        self.lease = lease
        self.give_up_after = give_up_after
        self._gate = asyncio.Semaphore(concurrency)

    async def deliver_due(self, *, limit: int = 50) -> DeliveryReport:
        """One tick: every due delivery (up to `limit`)."""
        queue = self.db.receiver_queue
        due = await self.db.run(queue.claim, now=self.clock(), lease=self.lease, limit=limit)
        results = await asyncio.gather(*(self._deliver(pending) for pending in due))
        sent = sum(results)
        return DeliveryReport(sent, len(results) - sent)

    async def _deliver(self, pending: PendingDelivery) -> bool:
        async with self._gate:
            target = f"{pending.receiver} ({pending.channel_id or 'every channel'})"
            receiver = self.receivers.get(pending.receiver)
            if receiver is None:
                why = f"the {pending.receiver} receiver is not configured any more"
                await self._settle(pending, "abandoned", why)
                return False
            try:
                if pending.uncertain and await receiver.already_delivered(pending):
                    log.info("alert %s is already at %s: not sent again", pending.alert.id, target)
                else:
                    await receiver.send(pending)
            except ReceiverError as exc:
                too_old = self.clock() - pending.created_at >= self.give_up_after
                if exc.permanent or too_old:
                    log.error("alert %s to %s abandoned: %s", pending.alert.id, target, exc)
                    await self._settle(pending, "abandoned", str(exc))
                else:
                    attempt = pending.attempts + 1
                    alert_id = pending.alert.id
                    log.warning("alert %s to %s failed (attempt %s): %s", alert_id, target, attempt, exc)
                    await self._settle(pending, "failed", str(exc), retry_after=exc.retry_after)
                return False
            await self._settle(pending, "delivered", "")
            return True

    async def _settle(
        self, pending: PendingDelivery, outcome: str, error: str, retry_after: float | None = None
    ) -> None:
        now, queue = self.clock(), self.db.receiver_queue
        if outcome == "delivered":
            await self.db.run(queue.mark_delivered, pending.id, now=now)
        elif outcome == "abandoned":
            await self.db.run(queue.mark_abandoned, pending.id, error=error, now=now)
        else:
            retry_at = now + retry_delay(pending.attempts, retry_after)
            await self.db.run(queue.mark_failed, pending.id, error=error, now=now, retry_at=retry_at)
        if self.metrics is not None:
            self.metrics.deliveries.labels(pending.receiver, "alert", outcome).inc()
            if pending.receiver == WEBHOOK:  # the older per-webhook counter, kept for dashboards
                self.metrics.webhook_deliveries.labels(outcome).inc()

    async def aclose(self) -> None:
        for receiver in self.receivers.values():
            await receiver.aclose()
