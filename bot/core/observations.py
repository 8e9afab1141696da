"""Values shared by datasets, the diff, storage and rendering (no I/O here).

They live outside `monitoring/` so that storage and rendering need not import it."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


class IndicatorKind(enum.StrEnum):
    IP = "ip"
    DOMAIN = "domain"


class Outcome(enum.StrEnum):
    """The four ways a lookup can end. Only ERROR is not data."""

    RECORDS = "records"
    NXDOMAIN = "nxdomain"
    NO_DATA = "no_data"
    ERROR = "error"


@dataclass(frozen=True, order=True)
class Fact:
    """One observed value of one field of a dataset, e.g. ("A", "93.184.216.34").

    Identity is (field, value): the same fact reported by two sources is one fact.
    """

    field: str
    value: str
    source: str = dataclasses.field(default="", compare=False)


@dataclass(frozen=True)
class SourceFailure:
    source: str
    message: str
    fields: frozenset[str] = frozenset()
    # Set when the source was not asked (its quota or the indicator's turn): a wait, not a
    # failure. The dataset's last state stands and nothing goes stale.
    deferred_until: datetime | None = None
    # The resolver check does not believe the resolver: its answers were not asked for.
    distrusted: bool = False

    @property
    def why(self) -> SourcePending:
        if self.deferred_until is not None:
            return SourcePending.DEFERRED
        return SourcePending.DISTRUSTED if self.distrusted else SourcePending.FAILED


class SourcePending(enum.StrEnum):
    """Why a source of a dataset was not read in a check."""

    FAILED = "failed"
    DEFERRED = "deferred"  # waiting for its quota
    DISTRUSTED = "distrusted"  # the resolver check failed


@dataclass(frozen=True)
class SourceRead:
    """One source's successful answer in one check: the fields it speaks for and the
    values it gave. A source's first read of a field for a subject is that field's
    baseline from that source, silently, however late it comes (bot/monitoring/diff.py)."""

    source: str
    fields: frozenset[str]
    values: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, source: str, fields: Iterable[str], facts: Iterable[Fact]) -> SourceRead:
        return cls(source, frozenset(fields), frozenset((f.field, f.value) for f in facts))


# (source, field): the unit a baseline is kept for.
SourceField = tuple[str, str]


@dataclass(frozen=True)
class PendingSource:
    """A source of a dataset with no baseline yet for a subject, and why."""

    source: str
    why: SourcePending
    message: str


@dataclass(frozen=True)
class SourceStates:
    """Per source of one dataset of one subject: which fields have a baseline, and which
    sources are still pending (stored as JSON in dataset_states.sources)."""

    baselined: frozenset[SourceField] = frozenset()
    pending: tuple[PendingSource, ...] = ()

    @classmethod
    def after(cls, observation: Observation, baselined: frozenset[SourceField]) -> SourceStates:
        """The states once `observation` was applied: a source that failed, waited or was
        distrusted and has no baseline for any field is pending, with the reason."""
        with_baseline = {source for source, _ in baselined}
        pending: dict[str, PendingSource] = {}
        for failure in observation.failures:
            if failure.source not in with_baseline and failure.source not in pending:
                pending[failure.source] = PendingSource(failure.source, failure.why, failure.message[:300])
        return cls(baselined, tuple(pending[name] for name in sorted(pending)))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({source for source, _ in self.baselined}))

    def to_json(self) -> str:
        """Compact and canonical (sorted keys), so equal states are equal texts."""
        by_source: dict[str, list[str]] = {}
        for source, name in sorted(self.baselined):
            by_source.setdefault(source, []).append(name)
        pending = [{"source": p.source, "why": p.why.value, "message": p.message} for p in self.pending]
        return json.dumps({"baselined": by_source, "pending": pending}, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: object) -> SourceStates | None:
        """None for NULL or anything unreadable: the caller falls back to the open facts.
        Most subjects of a dataset store the same text: parsed once, shared (frozen)."""
        return _parse_source_states(text) if isinstance(text, str) else None

    @classmethod
    def _from_data(cls, data: object) -> SourceStates | None:
        if not isinstance(data, dict):
            return None
        baselined = data.get("baselined")
        if not isinstance(baselined, dict):
            return None
        pairs = frozenset(
            (str(source), str(name))
            for source, names in baselined.items()
            if isinstance(names, list)
            for name in names
        )
        pending = tuple(
            PendingSource(str(p.get("source", "")), SourcePending(p["why"]), str(p.get("message", "")))
            for p in data.get("pending") or []
            if isinstance(p, dict) and p.get("why") in {w.value for w in SourcePending}
        )
        return cls(pairs, pending)


@dataclass(frozen=True)
class Observation:
    """What one dataset saw of one indicator in one check.

    `known_fields` are the fields this observation speaks for: their lookups ended in
    records, NXDOMAIN or no data. Fields whose lookup failed are absent from it, so the
    diff keeps their last known state instead of reporting them removed.
    """

    dataset: str
    facts: frozenset[Fact]
    known_fields: frozenset[str]
    failures: tuple[SourceFailure, ...] = ()
    # Fields that hold one value at a time (SOA, registrar, status): a new value is a
    # "changed" once confirmed, not an add plus a remove.
    single_valued: frozenset[str] = frozenset()
    # Per source that answered: the fields it read and the values it gave. Empty for an
    # observation built without them (tests, old code): `source_reads` derives them.
    reads: tuple[SourceRead, ...] = ()

    @property
    def source_reads(self) -> tuple[SourceRead, ...]:
        """What each source read. Without explicit `reads` (an observation built by hand):
        the dataset as one source that read its known fields and those of its facts."""
        if self.reads or not (self.facts or self.known_fields):
            return self.reads
        fields = self.known_fields | {fact.field for fact in self.facts}
        return (SourceRead.of(self.dataset, fields, self.facts),)

    @property
    def failed(self) -> bool:
        """Nothing at all could be learned: no source answered in this check."""
        return bool(self.failures) and not self.source_reads

    @property
    def stale(self) -> bool:
        """A source failed (waiting for a quota slot is not failing)."""
        return any(f.deferred_until is None for f in self.failures)

    @property
    def real_failures(self) -> tuple[SourceFailure, ...]:
        return tuple(f for f in self.failures if f.deferred_until is None)

    @property
    def deferred_until(self) -> datetime | None:
        """The earliest time a deferred source of this observation expects a slot."""
        return min((f.deferred_until for f in self.failures if f.deferred_until is not None), default=None)

    @classmethod
    def error(cls, dataset: str, source: str, message: str) -> Observation:
        return cls(dataset, frozenset(), frozenset(), (SourceFailure(source, message),))


# The longest value kept: a longer one (a hostile WHOIS field, a giant TXT record) is cut
# here, so no source can bloat the database or an alert with one value.
MAX_VALUE_CHARS = 4096


def bounded(observation: Observation) -> Observation:
    """The observation with every value cut to MAX_VALUE_CHARS (the cut marked with …)."""
    if all(len(fact.value) <= MAX_VALUE_CHARS for fact in observation.facts):
        return observation
    facts = frozenset(
        fact
        if len(fact.value) <= MAX_VALUE_CHARS
        else dataclasses.replace(fact, value=fact.value[: MAX_VALUE_CHARS - 1] + "…")
        for fact in observation.facts
    )
    return dataclasses.replace(observation, facts=facts)


# Fields whose values are domains or IP addresses: new ones are worth a pivot, and two
# indicators holding the same value share infrastructure.
ADDRESS_AND_NAME_FIELDS = frozenset(
    {
        "A",
        "AAAA",
        "CNAME",
        "PTR",
        "NS",
        "MX",
        "domain",
        "pdns:A",
        "pdns:AAAA",
        "pdns:CNAME",
        "subdomain",
        "hostname",
        "name_server",
        "tls_san",
    }
)


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    dataset: str
    kind: ChangeKind
    field: str
    old_value: str | None
    new_value: str | None
    source: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    # False: recorded for history and the digest, but not worth an alert of its own
    # (e.g. IP churn inside one ASN, when the operator asked for that to be summarised).
    alert: bool = True

    @property
    def value(self) -> str:
        """The value the change is about: the new one, or the one that went away."""
        return self.new_value if self.new_value is not None else (self.old_value or "")


class FactStatus(enum.StrEnum):
    ACTIVE = "active"  # part of the current state
    REMOVING = "removing"  # missing on the last check; removed if missing again
    ADDING = "adding"  # a pending new value of a single-valued field
    CLOSED = "closed"  # history: the interval [first_seen, last_seen] is over


FactKey = tuple[str, str]


@dataclass(frozen=True)
class FactState:
    """A stored fact: one value of one field and the interval it was seen in."""

    field: str
    value: str
    source: str
    first_seen: datetime
    status: FactStatus = FactStatus.ACTIVE
    # While open, a fact is seen up to the dataset's last successful check; the moment
    # it went missing is kept here so the closed interval ends where it was last seen.
    last_seen: datetime | None = None

    @property
    def key(self) -> FactKey:
        return (self.field, self.value)


@functools.lru_cache(maxsize=4096)
def _parse_source_states(text: str) -> SourceStates | None:
    try:
        return SourceStates._from_data(json.loads(text))
    except (ValueError, KeyError, TypeError):
        return None
