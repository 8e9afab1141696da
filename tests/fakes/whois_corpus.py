"""The WHOIS reply table in tests/data/whois/ (see its README), and the field agreement
of the parser with it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.errors import SourceError
from bot.core.observations import Fact

DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "whois"


@dataclass(frozen=True)
class WhoisCase:
    name: str  # the file name
    domain: str
    family: str  # "gTLD" or "ccTLD"
    server: str
    facts: dict[str, list[str]] = field(default_factory=dict)
    not_registered: bool = False
    error: str | None = None  # what the error must name
    refusal: bool = False  # the error is a refusal (throttled, quota, access): transient, retried

    @property
    def text(self) -> str:
        return (DIRECTORY / self.name).read_text(encoding="utf-8")

    @property
    def tld(self) -> str:
        return self.domain.rsplit(".", 1)[-1]

    def expected(self) -> dict[str, list[str]]:
        return {"status": ["not registered"]} if self.not_registered else self.facts


def load_cases() -> list[WhoisCase]:
    table = json.loads((DIRECTORY / "expected.json").read_text(encoding="utf-8"))
    return [
        WhoisCase(
            name,
            row["domain"],
            row["family"],
            row["server"],
            {key: sorted(values) for key, values in row.get("facts", {}).items()},
            bool(row.get("not_registered")),
            row.get("error"),
            bool(row.get("refusal")),
        )
        for name, row in sorted(table.items())
    ]


def by_field(facts: Iterable[Fact]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for fact in facts:
        found.setdefault(fact.field, []).append(fact.value)
    return {key: sorted(values) for key, values in found.items()}


@dataclass
class Agreement:
    agreed: int = 0
    compared: int = 0
    records: int = 0
    records_right: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.agreed / self.compared if self.compared else 1.0


def field_agreement(
    cases: Iterable[WhoisCase], parse: Callable[[str, str, str], list[Fact]]
) -> dict[str, Agreement]:
    """Per family: of every (record, field) the table or the parser names, how many agree.
    A "not registered" or unreadable record counts as one field."""
    results: dict[str, Agreement] = {}
    for case in cases:
        agreement = results.setdefault(case.family, Agreement())
        agreement.records += 1
        try:
            got: dict[str, list[str]] | str = by_field(parse(case.domain, case.text, case.server))
        except SourceError as exc:
            got = str(exc)
        if case.error is not None:
            right = isinstance(got, str) and case.error in got
            agreement.compared += 1
            agreement.agreed += right
        elif isinstance(got, str):
            fields = max(1, len(case.expected()))
            agreement.compared += fields
            right = False
        else:
            want = case.expected()
            names = set(want) | set(got)
            agreed = sum(want.get(name) == got.get(name) for name in names)
            agreement.compared += len(names)
            agreement.agreed += agreed
            right = agreed == len(names)
        agreement.records_right += right
        if not right:
            agreement.wrong.append(case.name)
    return results


# -- RDAP domain replies (tests/data/rdap/) ------------------------------------------------

RDAP_DIRECTORY = DIRECTORY.parent / "rdap"


@dataclass(frozen=True)
class RdapCase:
    name: str
    family: str
    registry: str
    kind: str  # "registry" (the domain object) or "registrar" (its registrant)
    facts: dict[str, list[str]]

    @property
    def document(self) -> object:
        return json.loads((RDAP_DIRECTORY / self.name).read_text(encoding="utf-8"))


def load_rdap_cases() -> list[RdapCase]:
    table = json.loads((RDAP_DIRECTORY / "expected.json").read_text(encoding="utf-8"))
    return [
        RdapCase(name, row["family"], row["registry"], row["kind"], row["facts"])
        for name, row in sorted(table.items())
    ]


def rdap_agreement(
    cases: Iterable[RdapCase],
    registry_facts: Callable[[object], list[Fact]],
    registrant_facts: Callable[[object], list[Fact]],
) -> dict[str, Agreement]:
    """Field agreement of the RDAP normaliser with the table, per family."""
    results: dict[str, Agreement] = {}
    for case in cases:
        agreement = results.setdefault(f"{case.family} via RDAP", Agreement())
        agreement.records += 1
        read = registrant_facts if case.kind == "registrar" else registry_facts
        got = by_field(read(case.document))
        names = set(case.facts) | set(got) or {"(nothing)"}
        agreed = sum(case.facts.get(name) == got.get(name) for name in names)
        agreement.compared += len(names)
        agreement.agreed += agreed
        agreement.records_right += agreed == len(names)
        if agreed != len(names):
            agreement.wrong.append(case.name)
    return results
