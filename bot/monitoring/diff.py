"""Pure diff: the stored state of one dataset plus a new observation -> new state and changes.

The rules (DESIGN.md):
- baselines are kept per source and field: a source's first successful read of a field
  for a subject is that field's baseline from that source — silently, whenever it comes
  (a source that was down, waiting for its quota or distrusted when the monitor was set
  never turns its late first answer into a change). The first observation in which any
  source answered is the dataset's baseline;
- a failed, deferred or distrusted source changes nothing (its fields are not known, and
  a field any failing source speaks for is not known either: never a removal);
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

from bot.core.observations import (
    Change,
    ChangeKind,
    Fact,
    FactKey,
    FactState,
    FactStatus,
    Observation,
    SourceField,
)


@dataclass(frozen=True)
class DiffResult:
    state: dict[FactKey, FactState]  # every open fact (ACTIVE, REMOVING, ADDING) after the check
    closed: list[FactState]  # facts whose interval ended with this check
    changes: list[Change]
    baseline: bool  # this observation set the dataset's baseline
    # Every (source, field) with a baseline after this check, and those this check added.
    baselined: frozenset[SourceField] = frozenset()
    first_reads: frozenset[SourceField] = frozenset()


def diff_observation(
    previous: Mapping[FactKey, FactState] | None,
    observation: Observation,
    *,
    now: datetime,
    previous_check_at: datetime | None,
    baselined: frozenset[SourceField] | None = None,
) -> DiffResult:
    """Apply one observation to the open facts of a dataset (None: no baseline yet).

    `baselined`: the (source, field) pairs that already have a baseline; None for a
    dataset stored before baselines were kept per source, whose open facts say which
    sources answered."""
    before = baselined if baselined is not None else legacy_baselines(previous, observation.dataset)
    if observation.failed:
        return DiffResult(dict(previous or {}), [], [], baseline=False, baselined=before)
    first = _first_reads(observation, before)
    after = before | first if first else before
    start = dict(previous or {})
    if first:
        start.update(_seed_first_reads(start, observation, first, now))
    if previous is None:  # the dataset's first answer: its baseline
        state = {
            fact_key(fact): start.get(fact_key(fact)) or FactState(fact.field, fact.value, fact.source, now)
            for fact in _first_per_single_field(observation)
        }
        return DiffResult(state, [], [], baseline=previous is None, baselined=after, first_reads=first)
    if _same_as_before(start, observation):
        # The common case by far: what the last check found, all of it current. The
        # general path below would return exactly this, at ten times the cost.
        return DiffResult(start, [], [], baseline=False, baselined=after, first_reads=first)
    result = _diff_against(start, observation, now=now, previous_check_at=previous_check_at)
    return replace(result, baselined=after, first_reads=first)


def _first_reads(observation: Observation, before: frozenset[SourceField]) -> frozenset[SourceField]:
    """The (source, field) pairs this observation reads for the first time (most checks:
    none, found without building a set)."""
    first: list[SourceField] = []
    for read in observation.source_reads:
        source = read.source
        for name in read.fields:
            if (source, name) not in before:
                first.append((source, name))
    return frozenset(first) if first else _NONE


_NONE: frozenset[SourceField] = frozenset()


def legacy_baselines(previous: Mapping[FactKey, FactState] | None, dataset: str) -> frozenset[SourceField]:
    """For a dataset stored before per-source baselines: each (source, field) of its open
    facts answered once, so it has its baseline (and the dataset as a whole, for its
    observations that name no sources). A source that answered with nothing is not known
    to have answered: its next answer is its baseline, silently (a missed change on the
    first check after the upgrade rather than a false alert)."""
    facts = (previous or {}).values()
    return frozenset((fact.source, fact.field) for fact in facts) | {(dataset, fact.field) for fact in facts}


def _seed_first_reads(
    previous: Mapping[FactKey, FactState],
    observation: Observation,
    first: frozenset[SourceField],
    now: datetime,
) -> dict[FactKey, FactState]:
    """The values that first reads bring, as baseline facts: a value some source with a
    baseline for its field also gave is left to the diff (that source saw it arrive), and
    a single-valued field that already holds a value keeps the usual confirmation."""
    seen_by_baselined: set[FactKey] = set()
    for read in observation.source_reads:
        seen_by_baselined.update(key for key in read.values if (read.source, key[0]) not in first)
    holding = {state.field for state in previous.values() if state.status is not FactStatus.ADDING}
    seeded: dict[FactKey, FactState] = {}
    for read in observation.source_reads:
        for key in sorted(read.values):
            field_name, value = key
            if (read.source, field_name) not in first or key in previous or key in seen_by_baselined:
                continue
            if field_name in observation.single_valued:
                if field_name in holding:
                    continue
                holding.add(field_name)
            seeded.setdefault(key, FactState(field_name, value, read.source, now))
    return seeded


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
    # A field some failing source speaks for is not known: what only that source would
    # have said is missing from this answer, not gone.
    unsure = {name for failure in observation.failures for name in failure.fields}
    for field_name in sorted(set(old_by_field) | set(observed)):
        old_facts = old_by_field.get(field_name, {})
        new_facts = observed.get(field_name, {})
        known = field_name in observation.known_fields and field_name not in unsure
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
