"""What a check stage may read besides the changes (pure values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.observations import FactKey, FactState, FactStatus, Observation


@dataclass(frozen=True)
class CheckView:
    """One dataset of one check: its values per field as stored before the check (empty: no
    baseline yet) and as observed now, with the fields the observation knows in full."""

    dataset: str = ""
    before: Mapping[str, frozenset[str]] = field(default_factory=dict)
    now: Mapping[str, frozenset[str]] = field(default_factory=dict)
    known_now: frozenset[str] = frozenset()

    @classmethod
    def of(cls, stored: Mapping[FactKey, FactState] | None, observation: Observation) -> CheckView:
        before: dict[str, set[str]] = {}
        for fact in (stored or {}).values():
            if fact.status in (FactStatus.ACTIVE, FactStatus.REMOVING):
                before.setdefault(fact.field, set()).add(fact.value)
        now: dict[str, set[str]] = {}
        for seen in observation.facts:
            now.setdefault(seen.field, set()).add(seen.value)
        return cls(
            observation.dataset,
            {k: frozenset(v) for k, v in before.items()},
            {k: frozenset(v) for k, v in now.items()},
            observation.known_fields,
        )
