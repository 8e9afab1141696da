"""VirusTotal v3 resolutions (passive DNS), behind a client-side rate limit."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Secret
from bot.core.errors import SourceError
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.http import RequestGate, SourceHttpClient, TokenBucket
from bot.monitoring.sources.passive_dns import epoch_to_utc, indicator_path, make_record

logger = logging.getLogger(__name__)

SOURCE = "virustotal"
# The public tier allows about 4 requests a minute.
PUBLIC_REQUESTS_PER_MINUTE = 4.0


@dataclass(frozen=True)
class VirusTotalPage:
    records: list[PassiveDnsRecord]
    cursor: str | None
    skipped: int


def parse_virustotal_page(payload: Any) -> VirusTotalPage:
    """`{"data":[{"attributes":{date, host_name, ip_address}}], "meta":{"cursor":..}}` → records.

    VirusTotal gives one date per (host, IP): when it last saw the resolution, so that is
    `last_seen`; `first_seen` is unknown.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise SourceError(SOURCE, "reply is not a resolutions list (no data list)")
    data: list[Any] = payload["data"]
    records: list[PassiveDnsRecord] = []
    skipped = 0
    for item in data:
        try:
            records.append(_record(item))
        except (ValueError, TypeError, KeyError):
            skipped += 1
    if data and not records:
        raise SourceError(SOURCE, f"none of the {len(data)} resolutions is readable")
    meta = payload.get("meta")
    cursor = meta.get("cursor") if isinstance(meta, dict) else None
    return VirusTotalPage(records, cursor if isinstance(cursor, str) and cursor else None, skipped)


def _record(item: Any) -> PassiveDnsRecord:
    attributes = item["attributes"]
    host, ip = attributes["host_name"], attributes["ip_address"]
    if not isinstance(host, str) or not isinstance(ip, str):
        raise TypeError("host_name and ip_address must be text")
    rrtype = "A" if ipaddress.ip_address(ip.strip()).version == 4 else "AAAA"
    return make_record(host, rrtype, ip, None, epoch_to_utc(attributes.get("date")), SOURCE)


class VirusTotalPassiveDns:
    """`GET {base_url}ip_addresses/{ip}/resolutions` or `domains/{d}/resolutions`, key in `x-apikey`.

    Requests pass a token bucket (`requests_per_minute`, bursts of `burst`): a call whose
    slot is more than `max_wait` seconds away fails at once with SourceError("quota ...").
    Reads `max_pages` pages of `page_size` (newest first) per lookup.
    """

    name = SOURCE

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        requests_per_minute: float = PUBLIC_REQUESTS_PER_MINUTE,
        burst: int = 4,
        max_wait: float = 30.0,
        page_size: int = 40,
        max_pages: int = 1,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        gate: RequestGate | None = None,
    ) -> None:
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages must be positive")
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._has_key = bool(api_key)
        self._page_size = page_size
        self._max_pages = max_pages
        # With a gate (as the bot runs it), WATCHPOST_QUOTAS is the limit, shared by every
        # process through the database; the in-process bucket is for a source used alone.
        bucket = (
            None
            if gate is not None
            else TokenBucket(
                per_second=requests_per_minute / 60.0,
                capacity=burst,
                max_wait=max_wait,
                clock=clock,
                sleep=sleep,
            )
        )
        self._http = SourceHttpClient(
            SOURCE,
            timeout=timeout,
            headers={"x-apikey": api_key.reveal(), "Accept": "application/json"} if api_key else {},
            rate_limit=bucket,
            clock=clock,
            gate=gate,
        )

    def __repr__(self) -> str:
        key = "Secret('********')" if self._has_key else "Secret('')"
        return f"VirusTotalPassiveDns(base_url={self._base_url!r}, api_key={key})"

    async def lookup(self, indicator: str, kind: IndicatorKind) -> list[PassiveDnsRecord]:
        if not self._has_key:
            raise SourceError(SOURCE, "no API key configured", transient=False)
        collection = "ip_addresses" if kind is IndicatorKind.IP else "domains"
        url = f"{self._base_url}{collection}/{indicator_path(indicator)}/resolutions"
        records: list[PassiveDnsRecord] = []
        skipped = 0
        cursor: str | None = None
        for _ in range(self._max_pages):
            params = {"limit": str(self._page_size)}
            if cursor:
                params["cursor"] = cursor
            reply = await self._http.get(url, params=params, ok_statuses=(200, 401, 403, 404))
            if reply.status in (401, 403):
                raise SourceError(
                    SOURCE, f"API key refused or quota used up (HTTP {reply.status})", transient=False
                )
            if reply.status == 404:
                if _is_not_found(reply.body):
                    break  # VirusTotal has never seen the indicator: no data
                raise SourceError(SOURCE, "HTTP 404", transient=False)
            page = parse_virustotal_page(reply.json(SOURCE))
            records.extend(page.records)
            skipped += page.skipped
            cursor = page.cursor
            if cursor is None:
                break
        if skipped:
            logger.warning("virustotal: skipped %d unreadable resolutions for one query", skipped)
        return records

    async def close(self) -> None:
        await self._http.close()


def _is_not_found(body: bytes) -> bool:
    """VirusTotal's own 404 (`{"error":{"code":"NotFoundError"}}`), not a wrong URL."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    error = payload.get("error") if isinstance(payload, dict) else None
    return isinstance(error, dict) and error.get("code") == "NotFoundError"
