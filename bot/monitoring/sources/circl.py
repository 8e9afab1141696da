"""CIRCL passive DNS: Common Output Format (COF) as NDJSON, HTTP Basic auth."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Secret
from bot.core.errors import SourceError
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.http import RequestGate, SourceHttpClient
from bot.monitoring.sources.passive_dns import (
    epoch_to_utc,
    indicator_path,
    make_record,
    normalise_query,
)

logger = logging.getLogger(__name__)

SOURCE = "circl"
_REQUIRED = ("rrname", "rrtype", "rdata", "time_first", "time_last")


@dataclass(frozen=True)
class CofResult:
    records: list[PassiveDnsRecord]
    skipped: int  # non-empty lines that were not COF objects


def parse_cof(text: str, query: str, source: str = SOURCE) -> CofResult:
    """COF NDJSON → records whose rrname or rdata is the queried value.

    Numbers may be strings and rdata a list (one record per element). Lines that are not
    COF objects are skipped and counted; if every non-empty line is one, SourceError.
    """
    wanted = normalise_query(query)
    records: list[PassiveDnsRecord] = []
    lines = 0
    skipped = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        lines += 1
        try:
            rows = _records(json.loads(line), source)
        except (ValueError, TypeError, KeyError, RecursionError):
            skipped += 1
            continue
        records.extend(row for row in rows if wanted in (row.rrname, row.rdata))
    if lines and skipped == lines:
        raise SourceError(source, f"reply is not COF NDJSON ({lines} unreadable lines)")
    return CofResult(records, skipped)


def _records(obj: Any, source: str) -> list[PassiveDnsRecord]:
    if not isinstance(obj, dict):
        raise TypeError("line is not a JSON object")
    missing = [key for key in _REQUIRED if key not in obj]
    if missing:
        raise KeyError(missing[0])
    rrname, rrtype, rdata = obj["rrname"], obj["rrtype"], obj["rdata"]
    if not isinstance(rrname, str) or not isinstance(rrtype, str):
        raise TypeError("rrname and rrtype must be text")
    values = rdata if isinstance(rdata, list) else [rdata]
    if not values or not all(isinstance(value, str) for value in values):
        raise TypeError("rdata must be text or a list of text")
    first = epoch_to_utc(obj["time_first"])
    last = epoch_to_utc(obj["time_last"])
    return [make_record(rrname, rrtype, value, first, last, source) for value in values]


class CirclPassiveDns:
    """`GET {url}{indicator}` with HTTP Basic auth (none when `user` is empty)."""

    name = SOURCE

    def __init__(
        self,
        url: str,
        user: str,
        password: Secret,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        gate: RequestGate | None = None,
    ) -> None:
        self._url = url
        self._user = user
        headers = {"Accept": "application/x-ndjson, application/json;q=0.5"}
        if user:
            # Built by hand: aiohttp.BasicAuth is deprecated from 3.14 on, its successor absent before.
            token = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        self._http = SourceHttpClient(SOURCE, timeout=timeout, headers=headers, clock=clock, gate=gate)

    def __repr__(self) -> str:
        return f"CirclPassiveDns(url={self._url!r}, user={self._user!r}, password=Secret('********'))"

    async def lookup(self, indicator: str, kind: IndicatorKind) -> list[PassiveDnsRecord]:
        reply = await self._http.get(f"{self._url}{indicator_path(indicator)}", ok_statuses=(200, 401, 403))
        if reply.status in (401, 403):
            raise SourceError(
                SOURCE, f"credentials refused (HTTP {reply.status}): check user and password", transient=False
            )
        try:
            text = reply.body.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(SOURCE, "reply is not UTF-8 text") from None
        result = parse_cof(text, indicator)
        if result.skipped:
            logger.warning("circl: skipped %d unreadable COF lines for one query", result.skipped)
        return result.records

    async def close(self) -> None:
        await self._http.close()
