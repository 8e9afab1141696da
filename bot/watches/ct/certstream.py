"""Certificates from a certstream server instead of every CT log (WATCHPOST_CERTSTREAM_URL):
one WebSocket to a server that reads the logs once for all its clients — certstream-server-go
or CaliDog's certstream-server, which speak the same messages.

Wire format (certstream-server-go; `/` leaves out the DER, `/full-stream` adds it):
    {"message_type": "certificate_update", "data": {"update_type": "X509LogEntry" |
     "PrecertLogEntry", "cert_index": 123, "seen": 1764547200.123 (seconds),
     "source": {"url", "name"}, "leaf_cert": {"all_domains": [SAN dNSNames, then the CN
     when not among them], "serial_number": "0A1B" (upper-case hex, even length),
     "issuer": {"O": "..", "CN": ".."}, ...}}}
Heartbeats (`{"message_type": "heartbeat"}`, CaliDog's) and `dns_entries` (/domains-only)
carry no certificate. certstream-server-go pings every 30 s and closes a client that has
not pinged it for 65 s: the reader pings every 20 s.

A stream has no replay: whatever was sent while the reader was not connected is lost,
which the reader's status (and so `/monitor health`) says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.watches.ct.entries import CtEntry

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[CtEntry]], Awaitable[None]]
PING_SECONDS = 20.0  # the server drops a client silent for 65 s
BATCH = 256  # entries handed to the sink at once, or what came in FLUSH_SECONDS
FLUSH_SECONDS = 1.0
RECONNECT_SECONDS = (1.0, 60.0)  # the first wait after a failure, and the longest


def parse_update(text: str | bytes) -> CtEntry | None:
    """A `certificate_update` message as a CtEntry; None for anything else (heartbeats,
    dns_entries, a message that is not JSON or lacks what an entry needs)."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("message_type") != "certificate_update":
        return None
    data = message.get("data")
    leaf = data.get("leaf_cert") if isinstance(data, dict) else None
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(leaf, dict) or not isinstance(source, dict):
        return None
    domains = leaf.get("all_domains")
    index, seen, url = data.get("cert_index"), data.get("seen"), source.get("url")
    if not isinstance(domains, list) or not isinstance(index, int) or not isinstance(url, str):
        return None
    if not isinstance(seen, (int, float)) or isinstance(seen, bool):
        return None
    names = dict.fromkeys(n.strip().lower() for n in domains if isinstance(n, str) and n.strip())
    return CtEntry(
        log=url,
        index=index,
        names=tuple(names),
        precertificate=data.get("update_type") == "PrecertLogEntry",
        issuer=_issuer(leaf.get("issuer")),
        logged_at=datetime.fromtimestamp(float(seen), UTC),
        serial=_serial(leaf.get("serial_number")),
    )


def _issuer(issuer: Any) -> str:
    if not isinstance(issuer, dict):
        return ""
    for key in ("O", "CN"):
        value = issuer.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _serial(serial: Any) -> str:
    """Upper-case, zero-padded hex as the server sends it -> the reader's form (lower-case,
    no leading zeros), so that a certificate seen both ways is one certificate."""
    try:
        return f"{int(str(serial), 16):x}"
    except ValueError:
        return ""


@dataclass(frozen=True)
class StreamProgress:
    url: str
    connected_since: datetime | None  # None: not connected
    error: str  # why the last connection failed or ended ("" when none did)
    error_since: datetime | None
    entries: int  # since the reader started
    bytes_read: int
    logs_seen: int
    reconnects: int


class CertstreamReader:
    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime],
        reconnect_seconds: tuple[float, float] = RECONNECT_SECONDS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.url = url
        self._clock = clock
        self._reconnect = reconnect_seconds
        self._flush = flush_seconds
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._attempted = asyncio.Event()  # a connection was made or failed since `start`
        self._connected_since: datetime | None = None
        self._error = ""
        self._error_since: datetime | None = None
        self._entries = self._bytes = self._reconnects = 0
        self._logs: set[str] = set()

    def start(self, sink: Sink) -> None:
        """Connect (and stay connected) unless already; idempotent."""
        if self._task is None or self._task.done():
            self._attempted.clear()
            self._task = asyncio.create_task(self._run(sink), name="certstream")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connected.clear()
        self._connected_since = None

    async def first_attempt(self, within: float) -> bool:
        """Wait up to `within` seconds for the first connection attempt since `start` to
        succeed or fail; whether the stream is connected."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._attempted.wait()
        return self._connected.is_set()

    def progress(self) -> StreamProgress:
        return StreamProgress(
            self.url,
            self._connected_since,
            self._error,
            self._error_since,
            self._entries,
            self._bytes,
            len(self._logs),
            self._reconnects,
        )

    async def _run(self, sink: Sink) -> None:
        wait = self._reconnect[0]
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self._read(session, sink)
                    error = "the server closed the stream"
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    error = f"{exc.__class__.__name__}: {exc}"[:300]
                if self._connected.is_set():  # it had connected: the next try comes soon
                    wait = self._reconnect[0]
                    self._reconnects += 1
                self._connected.clear()
                self._connected_since = None
                self._error, self._error_since = error, self._clock()
                self._attempted.set()
                log.warning("certstream %s: %s; connecting again in %.0f s", self.url, error, wait)
                await asyncio.sleep(wait)
                wait = min(self._reconnect[1], wait * 2)

    async def _read(self, session: aiohttp.ClientSession, sink: Sink) -> None:
        async with session.ws_connect(self.url, heartbeat=PING_SECONDS, max_msg_size=16 * 1024 * 1024) as ws:
            self._connected_since, self._error, self._error_since = self._clock(), "", None
            self._connected.set()
            self._attempted.set()
            log.info("certstream %s: connected", self.url)
            batch: list[CtEntry] = []
            while True:
                try:
                    message = await ws.receive(timeout=self._flush)
                except TimeoutError:
                    await self._hand_on(batch, sink)
                    continue
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    await self._hand_on(batch, sink)
                    return
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    continue
                self._bytes += len(message.data)
                entry = parse_update(message.data)
                if entry is None:
                    continue
                self._entries += 1
                self._logs.add(entry.log)
                batch.append(entry)
                if len(batch) >= BATCH:
                    await self._hand_on(batch, sink)

    async def _hand_on(self, batch: list[CtEntry], sink: Sink) -> None:
        if not batch:
            return
        try:
            await sink(list(batch))
        except Exception:  # the stream has no replay: a batch the sink refused is lost, said once
            log.exception("certstream %s: %d entries could not be stored and are lost", self.url, len(batch))
        batch.clear()
