"""The one protocol every dataset implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.core.observations import Fact, IndicatorKind, Observation


@runtime_checkable
class Dataset(Protocol):
    """A dataset collects one kind of knowledge about an indicator.

    `collect` never raises for a source failure: it returns an Observation whose
    `failures` say what failed, and whose `known_fields` leave those fields out.
    """

    name: str

    def applies_to(self, kind: IndicatorKind) -> bool: ...

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation: ...


@dataclass(frozen=True)
class PassiveDnsRecord:
    """One passive DNS row, normalised: lower-case names without trailing dot, upper-case type."""

    rrname: str
    rrtype: str
    rdata: str
    first_seen: datetime | None
    last_seen: datetime | None
    source: str


class PassiveDnsSource(Protocol):
    """A passive DNS provider. `lookup` raises SourceError on any failure."""

    name: str

    async def lookup(self, indicator: str, kind: IndicatorKind) -> list[PassiveDnsRecord]: ...


class TlsProbe(Protocol):
    """Active probe of the certificate an IP serves (opt-in). Raises SourceError on failure."""

    async def certificate_facts(self, ip: str) -> list[Fact]: ...
