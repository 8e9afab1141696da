"""Mnemonic passive DNS v3 (works without a key at a low daily quota)."""

from __future__ import annotations

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
from bot.monitoring.sources.passive_dns import epoch_to_utc, indicator_path, make_record

logger = logging.getLogger(__name__)

SOURCE = "mnemonic"
# Quota used up (402) or key refused (401/403): waiting for the next check will not help.
_REFUSED = (401, 402, 403)
# However small the server's pages, one lookup never sends more requests than this.
_MAX_PAGES = 20


@dataclass(frozen=True)
class MnemonicPage:
    records: list[PassiveDnsRecord]
    rows: int  # rows in this reply, parseable or not: what the next offset moves by
    total: int | None  # `count`: rows matching the query on the server
    skipped: int


def parse_mnemonic_page(payload: Any) -> MnemonicPage:
    """One reply `{"responseCode":200,"count":..,"data":[{query, answer, rrtype, ...}]}`.

    Rows that are not records are skipped and counted; a reply of nothing but such rows,
    or of another shape, raises SourceError.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise SourceError(SOURCE, "reply is not a passive DNS result (no data list)")
    code = payload.get("responseCode")
    if code != 200:
        raise SourceError(SOURCE, f"reply says responseCode {code!r}")
    data: list[Any] = payload["data"]
    records: list[PassiveDnsRecord] = []
    skipped = 0
    for row in data:
        try:
            records.append(_record(row))
        except (ValueError, TypeError, KeyError):
            skipped += 1
    if data and not records:
        raise SourceError(SOURCE, f"none of the {len(data)} rows is a passive DNS record")
    count = payload.get("count")
    total = count if isinstance(count, int) and not isinstance(count, bool) else None
    return MnemonicPage(records, len(data), total, skipped)


def _record(row: Any) -> PassiveDnsRecord:
    if not isinstance(row, dict):
        raise TypeError("row is not an object")
    query, answer, rrtype = row["query"], row["answer"], row["rrtype"]
    if not (isinstance(query, str) and isinstance(answer, str) and isinstance(rrtype, str)):
        raise TypeError("query, answer and rrtype must be text")
    return make_record(
        query,
        rrtype,
        answer,
        epoch_to_utc(row.get("firstSeenTimestamp"), millis=True),
        epoch_to_utc(row.get("lastSeenTimestamp"), millis=True),
        SOURCE,
    )


class MnemonicPassiveDns:
    """`GET {base_url}{indicator}?offset=&limit=`, paged up to `max_rows` rows.

    The key, when set, goes in the `Argus-API-Key` header; without one the public quota applies.
    """

    name = SOURCE

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        page_size: int = 500,
        max_rows: int = 1000,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        gate: RequestGate | None = None,
    ) -> None:
        if page_size < 1 or max_rows < 1:
            raise ValueError("page_size and max_rows must be positive")
        self._base_url = base_url
        self._has_key = bool(api_key)
        self._page_size = page_size
        self._max_rows = max_rows
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Argus-API-Key"] = api_key.reveal()
        self._http = SourceHttpClient(SOURCE, timeout=timeout, headers=headers, clock=clock, gate=gate)

    def __repr__(self) -> str:
        key = "Secret('********')" if self._has_key else "Secret('')"
        return f"MnemonicPassiveDns(base_url={self._base_url!r}, api_key={key})"

    async def lookup(self, indicator: str, kind: IndicatorKind) -> list[PassiveDnsRecord]:
        url = f"{self._base_url}{indicator_path(indicator)}"
        records: list[PassiveDnsRecord] = []
        offset = 0
        skipped = 0
        pages = 0
        while True:
            limit = min(self._page_size, self._max_rows - offset)
            reply = await self._http.get(
                url, params={"offset": str(offset), "limit": str(limit)}, ok_statuses=(200, *_REFUSED)
            )
            if reply.status in _REFUSED:
                what = "daily quota used up" if reply.status == 402 else "API key refused or quota used up"
                raise SourceError(SOURCE, f"{what} (HTTP {reply.status})", transient=False)
            page = parse_mnemonic_page(reply.json(SOURCE))
            records.extend(page.records)
            skipped += page.skipped
            offset += page.rows
            pages += 1
            if page.rows == 0 or offset >= self._max_rows or pages >= _MAX_PAGES:
                break
            # A server may cap `limit` below ours: trust its total when it gives one.
            if (offset >= page.total) if page.total is not None else (page.rows < limit):
                break
        if skipped:
            logger.warning("mnemonic: skipped %d unreadable rows for one query", skipped)
        return records

    async def close(self) -> None:
        await self._http.close()
