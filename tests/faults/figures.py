"""The reliability figures the docs quote, counted by the tests that earn them.

Fault-injection tests count each fault they inject and each alert they expect, find
delivered, lost or duplicated; the hostile-input and fuzz tests count the inputs they
try. The totals print at the end of the run; when $WATCHPOST_FIGURES_FILE is set (`make
pytest` sets it to docs/figures/reliability.md) they are written there as the Markdown
table docs/security.md includes, so the docs' figures are read off a test run, never typed
in. Only a run of both suites writes it: a partial run would publish partial counts."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Figures:
    faults: Counter[str] = field(default_factory=Counter)  # kind -> times injected
    inputs: Counter[str] = field(default_factory=Counter)  # corpus -> inputs tried
    alerts_expected: int = 0
    alerts_delivered: int = 0
    alerts_lost: int = 0
    alerts_duplicated: int = 0
    false_alerts: int = 0

    def fault(self, kind: str, times: int = 1) -> None:
        self.faults[kind] += times

    def tried(self, corpus: str, count: int = 1) -> None:
        self.inputs[corpus] += count

    def as_dict(self) -> dict[str, Any]:
        return {
            "faults_injected": sum(self.faults.values()),
            "fault_kinds": len(self.faults),
            "faults": dict(sorted(self.faults.items())),
            "inputs_tried": sum(self.inputs.values()),
            "inputs": dict(sorted(self.inputs.items())),
            "alerts_expected": self.alerts_expected,
            "alerts_delivered": self.alerts_delivered,
            "alerts_lost": self.alerts_lost,
            "alerts_duplicated": self.alerts_duplicated,
            "false_alerts": self.false_alerts,
        }


FIGURES = Figures()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    figures = FIGURES.as_dict()
    if not figures["faults_injected"] and not figures["inputs_tried"]:
        return
    terminalreporter.write_sep("-", "reliability figures")
    fuzzed = sum(count for name, count in FIGURES.inputs.items() if name.startswith("fuzz:"))
    hostile = figures["inputs_tried"] - fuzzed
    terminalreporter.write_line(
        f"faults injected: {figures['faults_injected']} ({figures['fault_kinds']} kinds), "
        f"inputs tried: {figures['inputs_tried']} ({hostile} hostile, {fuzzed} fuzzed), "
        f"alerts expected: {figures['alerts_expected']}, delivered: {figures['alerts_delivered']}, "
        f"lost: {figures['alerts_lost']}, duplicated: {figures['alerts_duplicated']}, "
        f"false alerts: {figures['false_alerts']}"
    )
    target = os.environ.get("WATCHPOST_FIGURES_FILE")
    if target and figures["faults_injected"] and fuzzed:
        Path(target).write_text(figures_table(figures, fuzzed))


def figures_table(figures: dict[str, Any], fuzzed: int) -> str:
    """The figures as the Markdown table docs/security.md includes."""
    hostile = figures["inputs_tried"] - fuzzed
    rows = [
        ("faults injected", f"{figures['faults_injected']:,}, of {figures['fault_kinds']:,} kinds"),
        (
            "inputs tried",
            f"{figures['inputs_tried']:,}: {hostile:,} hostile requests, commands, bodies and "
            f"source items, {fuzzed:,} fuzzed",
        ),
        *(
            (f"… {corpus}", f"{count:,}")
            for corpus, count in figures["inputs"].items()
            if not corpus.startswith("fuzz:")
        ),
        ("alerts expected during and after faults", f"{figures['alerts_expected']:,}"),
        ("alerts lost", f"{figures['alerts_lost']:,}"),
        ("alerts duplicated", f"{figures['alerts_duplicated']:,}"),
        ("false alerts (a fault taken for a change)", f"{figures['false_alerts']:,}"),
    ]
    lines = ["| | |", "|---|---|", *(f"| {label} | {value} |" for label, value in rows)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def figures() -> Figures:
    return FIGURES
