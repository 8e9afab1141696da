"""The diff rules, check by check: each case is a sequence of observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.observations import (
    ChangeKind,
    Fact,
    FactKey,
    FactState,
    FactStatus,
    Observation,
    SourceFailure,
    SourceRead,
)
from bot.monitoring.diff import DiffResult, _diff_against, _same_as_before, diff_observation

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def obs(
    *facts: tuple[str, str],
    known: set[str] | None = None,
    single: set[str] = frozenset(),
    failed: bool = False,
) -> Observation:
    """An observation of `resolutions`; `known` defaults to the fields present plus A."""
    fact_set = frozenset(Fact(f, v, "dns") for f, v in facts)
    if failed:
        return Observation("resolutions", frozenset(), frozenset(), (SourceFailure("dns", "SERVFAIL"),))
    known_fields = frozenset(known if known is not None else {f for f, _ in facts} | {"A"})
    return Observation("resolutions", fact_set, known_fields, single_valued=frozenset(single))


def run(*observations: Observation) -> list[list[tuple[str, str, str | None, str | None]]]:
    """Feed the observations in order; return the changes of each check (after the baseline)."""
    state: dict[FactKey, FactState] | None = None
    previous_at = None
    baselined: frozenset[tuple[str, str]] = frozenset()
    per_check = []
    for number, observation in enumerate(observations):
        now = T0 + timedelta(hours=number)
        result: DiffResult = diff_observation(
            state, observation, now=now, previous_check_at=previous_at, baselined=baselined
        )
        baselined = result.baselined
        if state is not None:
            per_check.append([(c.kind.value, c.field, c.old_value, c.new_value) for c in result.changes])
        else:
            assert result.changes == []
        if not result.baseline and state is None:
            continue  # still no baseline (the first check failed)
        state = result.state
        if not observation.failed:
            previous_at = now
    return per_check


A1, A2 = ("A", "192.0.2.1"), ("A", "192.0.2.2")


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        pytest.param([obs(A1), obs(A1)], [[]], id="no change"),
        pytest.param([obs(A1), obs(A1, A2)], [[("added", "A", None, "192.0.2.2")]], id="added at once"),
        pytest.param(
            [obs(A1, A2), obs(A1), obs(A1)],
            [[], [("removed", "A", "192.0.2.2", None)]],
            id="removal confirmed on the second check",
        ),
        pytest.param([obs(A1, A2), obs(A1), obs(A1, A2)], [[], []], id="flap away and back is silent"),
        pytest.param([obs(A1, A2), obs(failed=True), obs(A1, A2)], [[], []], id="error changes nothing"),
        pytest.param(
            [obs(A1, A2), obs(A1), obs(failed=True), obs(A1)],
            [[], [], [("removed", "A", "192.0.2.2", None)]],
            id="an error between two misses does not reset the confirmation",
        ),
        pytest.param(
            [obs(A1, A2), obs(A1, known=set()), obs(A1, known=set())],
            [[], []],
            id="a field that is not known cannot lose values",
        ),
        pytest.param(
            [obs(A1), obs(A1, A2, known=set())],
            [[("added", "A", None, "192.0.2.2")]],
            id="a partial answer can still add",
        ),
        pytest.param(
            [obs(failed=True), obs(A1), obs(A1, A2)],
            [[("added", "A", None, "192.0.2.2")]],
            id="a failed first check sets no baseline",
        ),
    ],
)
def test_diff_multi_valued(observations: list[Observation], expected: list[list[tuple]]) -> None:
    assert run(*observations) == expected


S = {"status"}


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        pytest.param(
            [
                obs(("status", "exists"), single=S),
                obs(("status", "NXDOMAIN"), single=S),
                obs(("status", "NXDOMAIN"), single=S),
            ],
            [[], [("changed", "status", "exists", "NXDOMAIN")]],
            id="change confirmed",
        ),
        pytest.param(
            [
                obs(("status", "exists"), single=S),
                obs(("status", "NXDOMAIN"), single=S),
                obs(("status", "exists"), single=S),
                obs(("status", "exists"), single=S),
            ],
            [[], [], []],
            id="single-valued flap is silent",
        ),
        pytest.param(
            [
                obs(("status", "exists"), single=S),
                obs(("status", "b"), single=S),
                obs(("status", "c"), single=S),
                obs(("status", "c"), single=S),
            ],
            [[], [], [("changed", "status", "exists", "c")]],
            id="pending value replaced",
        ),
        pytest.param(
            [obs(A1, known={"A", "status"}, single=S), obs(A1, ("status", "x"), single=S)],
            [[("added", "status", None, "x")]],
            id="first value of a field is an add",
        ),
    ],
)
def test_diff_single_valued(observations: list[Observation], expected: list[list[tuple]]) -> None:
    assert run(*observations) == expected


def test_diff_baseline_keeps_one_value_per_single_field() -> None:
    result = diff_observation(
        None, obs(("SOA", "b"), ("SOA", "a"), single={"SOA"}), now=T0, previous_check_at=None
    )
    assert result.baseline
    assert set(result.state) == {("SOA", "a")}


def test_diff_closed_interval_ends_where_last_seen() -> None:
    base = diff_observation(None, obs(A1, A2), now=T0, previous_check_at=None)
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    missing = diff_observation(base.state, obs(A1), now=t1, previous_check_at=T0)
    assert missing.state[A2].status is FactStatus.REMOVING
    gone = diff_observation(missing.state, obs(A1), now=t2, previous_check_at=t1)
    assert [(c.kind, c.first_seen, c.last_seen) for c in gone.changes] == [(ChangeKind.REMOVED, T0, T0)]
    assert gone.closed[0].last_seen == T0 and gone.closed[0].status is FactStatus.CLOSED
    assert A2 not in gone.state


# -- the shortcut for an unchanged observation ------------------------------------------------

_FIELDS = st.sampled_from(["A", "NS", "SOA", "status"])
_VALUES = st.sampled_from(["1", "2", "3"])
_STATUSES = st.sampled_from(list(FactStatus))


@st.composite
def _states(draw: st.DrawFn) -> dict[FactKey, FactState]:
    keys = draw(st.sets(st.tuples(_FIELDS, _VALUES), max_size=6))
    return {
        (f, v): FactState(
            f,
            v,
            "dns",
            T0,
            draw(_STATUSES.filter(lambda s: s is not FactStatus.CLOSED)),
            draw(st.sampled_from([None, T0 + timedelta(minutes=5)])),
        )
        for f, v in keys
    }


@settings(max_examples=400, deadline=None)
@given(
    previous=_states(),
    facts=st.sets(st.tuples(_FIELDS, _VALUES), max_size=6),
    known=st.sets(_FIELDS),
    single=st.sets(_FIELDS, max_size=2),
)
def test_diff_unchanged_shortcut_gives_what_the_rules_give(
    previous: dict[FactKey, FactState],
    facts: set[tuple[str, str]],
    known: set[str],
    single: set[str],
) -> None:
    observation = Observation(
        "resolutions",
        frozenset(Fact(f, v, "dns") for f, v in facts),
        frozenset(known),
        single_valued=frozenset(single),
    )
    now, before = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
    general = _diff_against(previous, observation, now=now, previous_check_at=before)
    # Every source already has its baseline: no first read seeds anything.
    every = frozenset(
        (source, name) for source in ("dns", "resolutions") for name in ("A", "NS", "SOA", "status")
    )
    found = diff_observation(previous, observation, now=now, previous_check_at=before, baselined=every)
    assert (found.state, found.closed, found.changes) == (general.state, general.closed, general.changes)
    if _same_as_before(previous, observation):
        assert (general.state, general.closed, general.changes) == (dict(previous), [], [])


def test_diff_unchanged_shortcut_is_taken_for_a_repeat_check() -> None:
    observation = obs(("A", "192.0.2.1"), ("status", "exists"), single={"status"})
    first = diff_observation(None, observation, now=T0, previous_check_at=None)
    assert _same_as_before(first.state, observation)
    assert not _same_as_before(first.state, obs(("A", "192.0.2.2"), ("status", "exists"), single={"status"}))


# -- baselines per source -------------------------------------------------------------------


def passive(**sources: set[str] | None) -> Observation:
    """`resolutions` of an IP from passive DNS only: per source the names it gave, or None
    for a source that failed."""
    reads, facts, failures = [], set(), []
    for source, names in sources.items():
        if names is None:
            failures.append(SourceFailure(source, "HTTP 500", frozenset({"domain"})))
            continue
        found = [Fact("domain", name, source) for name in names]
        facts.update(found)
        reads.append(SourceRead.of(source, {"domain"}, found))
    return Observation("resolutions", frozenset(facts), frozenset(), tuple(failures), reads=tuple(reads))


def step(
    state: DiffResult | None, observation: Observation, hours: int
) -> tuple[DiffResult, list[tuple[str, str | None]]]:
    result = diff_observation(
        state.state if state else None,
        observation,
        now=T0 + timedelta(hours=hours),
        previous_check_at=T0 + timedelta(hours=hours - 1) if state else None,
        baselined=state.baselined if state else frozenset(),
    )
    return result, [(c.kind.value, c.new_value) for c in result.changes]


def test_a_sources_first_read_is_its_baseline_however_late() -> None:
    state, changes = step(None, passive(mnemonic={"old.example"}, circl=None), 0)
    assert changes == [] and state.baselined == {("mnemonic", "domain")}
    # A week later CIRCL answers for the first time, with names nobody alerted on: silent.
    state, changes = step(state, passive(mnemonic={"old.example"}, circl={"years-old.example"}), 168)
    assert changes == [] and ("circl", "domain") in state.first_reads
    # From then on what it sees is news.
    state, changes = step(
        state, passive(mnemonic={"old.example"}, circl={"years-old.example", "new.example"}), 169
    )
    assert changes == [("added", "new.example")]


def test_a_value_a_baselined_source_also_gives_is_a_change_even_on_anothers_first_read() -> None:
    state, _ = step(None, passive(mnemonic={"old.example"}, circl=None), 0)
    state, changes = step(state, passive(mnemonic={"old.example", "both.example"}, circl={"both.example"}), 1)
    assert changes == [("added", "both.example")]


def test_a_failing_source_never_reads_as_a_removal_of_a_known_field() -> None:
    known = Observation(
        "resolutions",
        frozenset({Fact("A", "192.0.2.1", "dns"), Fact("A", "192.0.2.2", "other")}),
        frozenset({"A"}),
        reads=(
            SourceRead.of("dns", {"A"}, [Fact("A", "192.0.2.1", "dns")]),
            SourceRead.of("other", {"A"}, [Fact("A", "192.0.2.2", "other")]),
        ),
    )
    state, _ = step(None, known, 0)
    only_dns = Observation(
        "resolutions",
        frozenset({Fact("A", "192.0.2.1", "dns")}),
        frozenset({"A"}),
        (SourceFailure("other", "timeout", frozenset({"A"})),),
        reads=(SourceRead.of("dns", {"A"}, [Fact("A", "192.0.2.1", "dns")]),),
    )
    for hours in (1, 2, 3):
        state, changes = step(state, only_dns, hours)
        assert changes == []
    assert ("A", "192.0.2.2") in state.state


def test_a_dataset_stored_before_per_source_baselines_raises_no_false_alert() -> None:
    stored = {("domain", "old.example"): FactState("domain", "old.example", "mnemonic", T0)}
    # No per-source record (None): the open facts' sources stand in; CIRCL, which never
    # gave a fact, reads for the first time — silently; Mnemonic's new name is news.
    result = diff_observation(
        stored,
        passive(mnemonic={"old.example", "new.example"}, circl={"years-old.example"}),
        now=T0 + timedelta(hours=1),
        previous_check_at=T0,
        baselined=None,
    )
    assert [(c.kind.value, c.new_value) for c in result.changes] == [("added", "new.example")]
    assert {("mnemonic", "domain"), ("circl", "domain")} <= result.baselined
