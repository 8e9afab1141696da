"""A webhook receiver on 127.0.0.1, written as docs/api.md tells receivers to write one: it
checks X-Watchpost-Signature over the timestamp and the raw body, refuses stale or
unsigned deliveries, and drops duplicates by their Idempotency-Key.

`receiver.fail_next(status, times)` answers the next deliveries with an error status
(a 30x carries a Location pointing at `receiver.trap`, which must never be hit);
`receiver.hang_next(times)` answers too late for the sender's timeout."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web

WEBHOOK_SECRET = "whsec-test-4c1d9a7e2b6f"


def signature_is_valid(
    secret: str, body: bytes, timestamp: str, signature: str, *, tolerance: int = 300
) -> bool:
    """The receiver snippet of docs/api.md, verbatim in spirit."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    secret: str = WEBHOOK_SECRET
    base_url: str = ""
    received: list[Delivery] = field(default_factory=list)  # every attempt, answered or not
    accepted: dict[str, Delivery] = field(default_factory=dict)  # by idempotency key, first wins
    duplicates: int = 0
    trap_hits: int = 0
    _faults: list[tuple[int, float]] = field(default_factory=list)  # (status, delay)

    def url(self, path: str = "hook") -> str:
        return f"{self.base_url}/{path}"

    @property
    def trap(self) -> str:
        return self.url("trap")

    def fail_next(self, status: int, times: int = 1) -> None:
        self._faults += [(status, 0.0)] * times

    def hang_next(self, seconds: float, times: int = 1) -> None:
        self._faults += [(200, seconds)] * times

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["path"] == "trap":
            self.trap_hits += 1
            return web.Response(status=200)
        body = await request.read()
        valid = signature_is_valid(
            self.secret,
            body,
            request.headers.get("X-Watchpost-Timestamp", ""),
            request.headers.get("X-Watchpost-Signature", ""),
        )
        delivery = Delivery(request.path, dict(request.headers), body, valid)
        self.received.append(delivery)
        if self._faults:
            status, delay = self._faults.pop(0)
            if delay:
                await asyncio.sleep(delay)
            if status != 200:
                headers = {"Location": self.trap} if 300 <= status < 400 else {"Retry-After": "7"}
                return web.Response(status=status, headers=headers)
        if not valid:
            return web.Response(status=401)
        key = request.headers.get("Idempotency-Key", "")
        if key in self.accepted:
            self.duplicates += 1
        else:
            self.accepted[key] = delivery
        return web.Response(status=204)


@pytest_asyncio.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_route("*", "/{path}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.base_url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
