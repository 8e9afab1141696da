"""The one protocol every dataset implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.monitoring.observation import IndicatorKind, Observation


@runtime_checkable
class Dataset(Protocol):
    """A dataset collects one kind of knowledge about an indicator.

    `collect` never raises for a source failure: it returns an Observation whose
    `failures` say what failed, and whose `known_fields` leave those fields out.
    """

    name: str

    def applies_to(self, kind: IndicatorKind) -> bool: ...

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation: ...
