"""Pure diff: the stored state of one dataset plus a new observation -> new state and changes.

The rules (DESIGN.md):
- the first observation that is not a total failure is the baseline: no changes;
- a failed lookup changes nothing (its fields are not in `known_fields`);
- facts of a field that is not known are add-only (a partial answer cannot remove);
- a new value of a multi-valued field is reported at once;
- a value missing from a known field is reported removed only when it is missing
  on two consecutive checks; if it comes back in between, nothing is reported;
- a new value of a single-valued field (SOA, registrar, status) replaces the old one
  as "changed" once it has been seen on two consecutive checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from bot.model.observations import Change, ChangeKind, Fact, FactKey, FactState, FactStatus, Observation


@dataclass(frozen=True)
class DiffResult:
    state: dict[FactKey, FactState]  # every open fact (ACTIVE, REMOVING, ADDING) after the check
    closed: list[FactState]  # facts whose interval ended with this check
    changes: list[Change]
    baseline: bool  # this observation set the baseline


def diff_observation(
    previous: Mapping[FactKey, FactState] | None,
    observation: Observation,
    *,
    now: datetime,
    previous_check_at: datetime | None,
) -> DiffResult:
    """Apply one observation to the open facts of a dataset (None: no baseline yet)."""
    if observation.failed:
        return DiffResult(dict(previous or {}), [], [], baseline=False)
    if previous is None:
        baseline = {
            fact_key(fact): FactState(fact.field, fact.value, fact.source, now)
            for fact in _first_per_single_field(observation)
        }
        return DiffResult(baseline, [], [], baseline=True)

    if _same_as_before(previous, observation):
        # The common case by far: what the last check found, all of it current. The
        # general path below would return exactly this, at ten times the cost.
        return DiffResult(dict(previous), [], [], baseline=False)
    return _diff_against(previous, observation, now=now, previous_check_at=previous_check_at)


def _diff_against(
    previous: Mapping[FactKey, FactState],
    observation: Observation,
    *,
    now: datetime,
    previous_check_at: datetime | None,
) -> DiffResult:
    """The general rules, field by field."""
    seen_since = previous_check_at or now
    state: dict[FactKey, FactState] = {}
    closed: list[FactState] = []
    changes: list[Change] = []
    observed: dict[str, dict[str, Fact]] = defaultdict(dict)
    for fact in observation.facts:
        observed[fact.field].setdefault(fact.value, fact)
    old_by_field: dict[str, dict[str, FactState]] = defaultdict(dict)
    for old in previous.values():
        old_by_field[old.field][old.value] = old

    dataset = observation.dataset
    for field_name in sorted(set(old_by_field) | set(observed)):
        old_facts = old_by_field.get(field_name, {})
        new_facts = observed.get(field_name, {})
        known = field_name in observation.known_fields
        if field_name in observation.single_valued:
            outcome = _diff_single(dataset, field_name, old_facts, new_facts, known, now, seen_since)
        else:
            outcome = _diff_multi(dataset, field_name, old_facts, new_facts, known, now, seen_since)
        state.update((s.key, s) for s in outcome.state.values())
        closed.extend(outcome.closed)
        changes.extend(outcome.changes)
    return DiffResult(state, closed, changes, baseline=False)


def _same_as_before(previous: Mapping[FactKey, FactState], observation: Observation) -> bool:
    """Every open fact is ACTIVE and exactly the observed ones, and no single-valued field
    holds two values: nothing added, nothing missing, nothing pending."""
    if len(previous) != len(observation.facts):
        return False
    single_seen: set[str] = set()
    for fact in observation.facts:
        old = previous.get((fact.field, fact.value))
        if old is None or old.status is not FactStatus.ACTIVE or old.last_seen is not None:
            return False
        if fact.field in observation.single_valued:
            if fact.field in single_seen:
                return False
            single_seen.add(fact.field)
    return True


def fact_key(fact: Fact) -> FactKey:
    return (fact.field, fact.value)


def _first_per_single_field(observation: Observation) -> Iterable[Fact]:
    """At baseline a single-valued field keeps one value (the smallest, to be stable)."""
    taken: set[str] = set()
    for fact in sorted(observation.facts):
        if fact.field in observation.single_valued:
            if fact.field in taken:
                continue
            taken.add(fact.field)
        yield fact


def _diff_multi(
    dataset: str,
    field_name: str,
    old_facts: Mapping[str, FactState],
    new_facts: Mapping[str, Fact],
    known: bool,
    now: datetime,
    seen_since: datetime,
) -> DiffResult:
    state: dict[FactKey, FactState] = {}
    closed: list[FactState] = []
    changes: list[Change] = []
    for value, old in old_facts.items():
        if value in new_facts:
            state[old.key] = replace(old, status=FactStatus.ACTIVE, last_seen=None)
        elif not known:
            state[old.key] = old  # a partial answer says nothing about absence
        elif old.status is FactStatus.REMOVING:
            gone = replace(old, status=FactStatus.CLOSED)
            closed.append(gone)
            changes.append(_change(dataset, ChangeKind.REMOVED, field_name, value, None, gone))
        else:
            state[old.key] = replace(old, status=FactStatus.REMOVING, last_seen=seen_since)
    for value, fact in sorted(new_facts.items()):
        if value not in old_facts:
            new = FactState(field_name, value, fact.source, now)
            state[new.key] = new
            changes.append(_change(dataset, ChangeKind.ADDED, field_name, None, value, new))
    return DiffResult(state, closed, changes, baseline=False)


def _diff_single(
    dataset: str,
    field_name: str,
    old_facts: Mapping[str, FactState],
    new_facts: Mapping[str, Fact],
    known: bool,
    now: datetime,
    seen_since: datetime,
) -> DiffResult:
    current = next((s for s in old_facts.values() if s.status is not FactStatus.ADDING), None)
    pending = next((s for s in old_facts.values() if s.status is FactStatus.ADDING), None)
    if not new_facts:
        if current is None:
            return DiffResult({}, [], [], baseline=False)  # nothing was there, nothing is
        # The field emptied: the same two-check confirmation as a removal.
        return _diff_multi(dataset, field_name, {current.value: current}, {}, known, now, seen_since)
    value = min(new_facts)
    fact = new_facts[value]
    if current is None:
        new = FactState(field_name, value, fact.source, now)
        change = _change(dataset, ChangeKind.ADDED, field_name, None, value, new)
        return DiffResult({new.key: new}, [], [change], baseline=False)
    if value == current.value:
        # Back to (or still at) the current value: a pending replacement was a flap.
        kept = replace(current, status=FactStatus.ACTIVE, last_seen=None)
        return DiffResult({kept.key: kept}, [], [], baseline=False)
    if pending is not None and pending.value == value:
        gone = replace(current, status=FactStatus.CLOSED, last_seen=seen_since)
        new = replace(pending, status=FactStatus.ACTIVE)
        change = _change(dataset, ChangeKind.CHANGED, field_name, current.value, value, new)
        return DiffResult({new.key: new}, [gone], [change], baseline=False)
    waiting = FactState(field_name, value, fact.source, now, status=FactStatus.ADDING)
    return DiffResult({current.key: current, waiting.key: waiting}, [], [], baseline=False)


def _change(
    dataset: str,
    kind: ChangeKind,
    field_name: str,
    old_value: str | None,
    new_value: str | None,
    fact: FactState,
) -> Change:
    return Change(
        dataset=dataset,
        kind=kind,
        field=field_name,
        old_value=old_value,
        new_value=new_value,
        source=fact.source,
        first_seen=fact.first_seen,
        last_seen=fact.last_seen,
    )
