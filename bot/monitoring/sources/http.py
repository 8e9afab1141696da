"""One HTTP client per source: a reused aiohttp session, a concurrency limit, timeouts,
and the request gate (bot/monitoring/quota.py: quota slots shared by every process, and
the request log behind source health) that every request passes.

Every failure becomes a SourceError, so a dataset can turn it into a failure of its
observation; nothing here ever raises aiohttp's own exceptions to the caller.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from bot.core.errors import SourceError
from bot.storage.rate_limits import LocalRateLimiter, RateLimit


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes
    content_type: str
    location: str = ""  # the Location header, for callers that follow redirects themselves

    def json(self, source: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(source, f"malformed JSON ({exc.__class__.__name__})") from None


class TokenBucket:
    """Client-side rate limit of one source: `capacity` requests at once, refilled at
    `per_second` (a `LocalRateLimiter` of bot/storage/rate_limits.py, keyed by the source).

    A caller whose turn comes within `max_wait` seconds sleeps until then (waiters are
    served in arrival order, each holding a reservation); beyond that it fails fast with
    a SourceError saying the quota is used up, so a big cycle never hammers the API.
    """

    def __init__(
        self,
        *,
        per_second: float,
        capacity: float,
        max_wait: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for one request")
        self.per_second = per_second
        self.capacity = capacity
        self.max_wait = max_wait
        self._limiter = LocalRateLimiter(RateLimit(per_second, 1.0, burst=capacity), clock=clock)
        self._sleep = sleep

    def _reserve(self, source: str) -> float:
        """Take a token now or book the next free one; return how long to wait for it."""
        delay = self._limiter.reserve(source, within=self.max_wait)
        if delay > self.max_wait:
            raise SourceError(
                source,
                f"quota: client-side limit of {self.per_second * 60:g} requests/min reached, "
                f"next slot in {math.ceil(delay)}s",
            )
        return delay

    async def acquire(self, source: str) -> None:
        delay = self._reserve(source)
        if delay <= 0:
            return
        try:
            await self._sleep(delay)
        except asyncio.CancelledError:
            await self._limiter.give_back(source)  # the unused slot
            raise


class RequestGate(Protocol):
    """What every request of a source passes: `admit`, before it waits for a connection,
    raises a SourceError if it would have to wait for a slot; `before` takes the slot (or
    raises saying when one is expected); `after` says how the request ended (`ok`,
    `timeout`, `connection`, `rate_limited`, `http_NNN`)."""

    async def admit(self, source: str) -> None: ...

    async def before(self, source: str) -> object: ...

    async def after(self, ticket: object, outcome: str) -> None: ...


@asynccontextmanager
async def gated(gate: RequestGate | None, source: str) -> AsyncIterator[None]:
    """One request of a source that is not an HTTP API (WHOIS over port 43, the ASN's DNS
    lookups, IANA's RDAP bootstrap) passes `gate` too, so health shows it beside the others:
    its requests, errors by kind, last success and latency."""
    if gate is None:
        yield
        return
    ticket = await gate.before(source)
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except SourceError as exc:
        outcome = _outcome_kind(exc.message.split(": ", 1)[-1])
        raise
    finally:
        await gate.after(ticket, outcome)


class NonPublicAddress(OSError):
    """A host name resolved only to addresses that are not on the public internet."""


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only public addresses, except for `trusted` host names
    (the operator's configured base URL, which may well be internal). A source that follows
    redirects resolves through this, so a redirect can never reach the bot's own network,
    whatever the name, and the check holds at connection time (no DNS-rebinding gap).
    IP literals never reach a resolver: callers check those themselves."""

    def __init__(self, trusted: Collection[str], inner: AbstractResolver | None = None) -> None:
        self._trusted = {host.lower().rstrip(".") for host in trusted}
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if host.lower().rstrip(".") in self._trusted:
            return found
        public = [item for item in found if ipaddress.ip_address(item["host"].split("%")[0]).is_global]
        if not public:
            raise NonPublicAddress(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class SourceHttpClient:
    """GETs for one source. `ok_statuses` lists statuses that are data (404 for some).
    With `resolver`, connections use it (see PublicOnlyResolver)."""

    def __init__(
        self,
        source: str,
        *,
        timeout: float = 20.0,
        concurrency: int = 4,
        headers: Mapping[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        max_body: int = 16 * 1024 * 1024,
        rate_limit: TokenBucket | None = None,
        clock: Callable[[], float] = time.monotonic,
        resolver: AbstractResolver | None = None,
        gate: RequestGate | None = None,
        verify_tls: bool = True,
    ) -> None:
        self.source = source
        # False only where the operator said so (a test MISP with a self-signed certificate).
        self._verify_tls = verify_tls
        self._gate = gate
        self._resolver = resolver
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._headers = dict(headers or {})
        self._auth = auth
        self._max_body = max_body
        self._rate_limit = rate_limit
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        # When a 429 said "come back later", no request goes out before this monotonic time.
        self._blocked_until = 0.0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = None
            if self._resolver is not None or not self._verify_tls:
                connector = aiohttp.TCPConnector(resolver=self._resolver, ssl=self._verify_tls)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": "watchpost", **self._headers},
                auth=self._auth,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._session

    def __repr__(self) -> str:
        # Headers and auth hold credentials: never part of the representation.
        return f"SourceHttpClient({self.source!r})"

    def _check_blocked(self) -> None:
        wait = self._blocked_until - self._clock()
        if wait > 0:
            raise SourceError(self.source, f"rate limited, retrying in {int(wait) + 1}s")

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, ok_statuses: tuple[int, ...] = (200,)
    ) -> HttpReply:
        self._check_blocked()
        if self._rate_limit is not None:
            await self._rate_limit.acquire(self.source)
            self._check_blocked()  # a 429 may have arrived while this call waited its turn
        tickets: list[object] = []
        outcome = "error"
        try:
            reply = await self._get(url, params, ok_statuses, tickets)
            outcome = "ok"
            return reply
        except SourceError as exc:
            outcome = _outcome_kind(exc.message)
            raise
        finally:
            if self._gate is not None and tickets:
                await self._gate.after(tickets[0], outcome)

    async def _get(
        self, url: str, params: Mapping[str, str] | None, ok_statuses: tuple[int, ...], tickets: list[object]
    ) -> HttpReply:
        if self._gate is not None:
            await self._gate.admit(self.source)
        try:
            # The wait for a free connection counts too: when the source hangs, calls queued
            # behind the hanging ones fail at the timeout instead of holding their checks up.
            async with asyncio.timeout(self._timeout), self._limit:
                if self._gate is not None:
                    # The slot is taken once a connection is free, just before the request leaves.
                    tickets.append(await self._gate.before(self.source))
                async with self._client().get(url, params=params, allow_redirects=False) as response:
                    body = await _read_body(response, self._max_body + 1)
                    status = response.status
                    content_type = response.content_type
                    retry_after = response.headers.get("Retry-After", "")
                    location = response.headers.get("Location", "")
        except TimeoutError:
            raise SourceError(self.source, f"no answer within {self._timeout:g}s") from None
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, NonPublicAddress):
                raise SourceError(self.source, f"refused: {exc.os_error}", transient=False) from None
            raise SourceError(self.source, "connection failed (ClientConnectorDNSError)") from None
        except aiohttp.ClientError as exc:
            raise SourceError(self.source, f"connection failed ({exc.__class__.__name__})") from None
        if len(body) > self._max_body:
            raise SourceError(self.source, "reply too large")
        if status == 429:
            delay = _retry_after_seconds(retry_after)
            self._blocked_until = self._clock() + delay
            raise SourceError(self.source, f"rate limited (HTTP 429), retry after {delay:g}s")
        if status not in ok_statuses:
            transient = status >= 500 or status in (408, 425)
            raise SourceError(self.source, f"HTTP {status}", transient=transient)
        return HttpReply(status, body, content_type, location)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or its first `limit` bytes when it is longer. (`content.read(n)` returns
    what has arrived so far, which truncates a body that comes in several chunks.)"""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) >= limit:
            return bytes(body[:limit])
    return bytes(body)


def _outcome_kind(message: str) -> str:
    """The kind of a failed request, for health: a few fixed names, never free text."""
    if message.startswith(("no answer within", "no complete answer within")):
        return "timeout"
    if message.startswith("connection failed") or message.startswith("refused"):
        return "connection"
    if message.startswith("rate limited"):
        return "rate_limited"
    if message.startswith("HTTP "):
        return "http_" + message[5:8]
    if message == "reply too large":
        return "too_large"
    return "error"


def _retry_after_seconds(header: str, default: float = 60.0) -> float:
    try:
        return max(0.0, min(float(header.strip()), 3600.0))
    except ValueError:
        return default
