"""The bot's own live observations as a passive DNS source: when a monitored domain
resolves to a monitored IP, the IP's `domain` field learns it, even if no passive DNS
provider has seen it yet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.model.observations import IndicatorKind
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.passive_dns import make_record

SOURCE = "watchpost"

# ip -> [(domain, rrtype, first seen)] from the stored live A/AAAA facts of monitored domains
ObservedLookup = Callable[[str], Awaitable[list[tuple[str, str, datetime]]]]


class ObservedResolutions:
    name = SOURCE
    internal = True  # the bot's own memory: bot/model/observations.SourceRead.internal

    def __init__(self, lookup: ObservedLookup) -> None:
        self._lookup = lookup

    async def lookup(self, indicator: str, kind: IndicatorKind) -> list[PassiveDnsRecord]:
        if kind is not IndicatorKind.IP:
            return []  # a domain's own live records are already in its live fields
        rows = await self._lookup(indicator)
        return [
            make_record(domain, rrtype, indicator, first_seen, None, SOURCE)
            for domain, rrtype, first_seen in rows
        ]
