"""One unit of work per check: load what is stored and who should hear → a pure diff per
source → the alert policy → write facts and enqueue deliveries, in one transaction.

Storage reads and writes values and calls nothing back (bot/monitoring/store/checks.py); every
decision — what counts as a change, which source's first read is its baseline, which
channel hears of it and why another does not — is made here, between the read and the
write, by pure functions. Their output (`CheckOutcome.verdicts`) is what a check's reply,
history and the digest show.

Checks that found no change go together in one transaction (a few multi-row
statements); the others, and every check of a batch whose transaction failed, one by one,
so one bad check never costs the others.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from bot.alerts.pipeline import AlertPolicy
from bot.alerts.pipeline.view import CheckView
from bot.core.observations import Change, Observation, SourceStates
from bot.core.walls import OBSERVED_SOURCE
from bot.monitoring.diff import diff_observation
from bot.monitoring.store.checks import Checks
from bot.storage.views import CheckOutcome, CheckToRecord, DatasetSnapshot

log = logging.getLogger(__name__)

# Per check: its outcomes, or the exception that kept it from being written.
CheckResult = list[CheckOutcome] | Exception


def decide(
    check: CheckToRecord, snapshots: Mapping[str, DatasetSnapshot | None], policy: AlertPolicy
) -> list[CheckOutcome]:
    """Each dataset's observation against its stored state: the diff, per-source
    baselines and the check stages of the policy (pure)."""
    return [decide_dataset(o, snapshots.get(o.dataset), check, policy) for o in check.observations]


def decide_dataset(
    observation: Observation, snapshot: DatasetSnapshot | None, check: CheckToRecord, policy: AlertPolicy
) -> CheckOutcome:
    result = diff_observation(
        snapshot.facts if snapshot else None,
        observation,
        now=check.now,
        previous_check_at=snapshot.last_ok_at if snapshot else None,
        baselined=snapshot.baselined if snapshot else frozenset(),
    )
    # Facts of the retired observed source (other subjects' facts, stored by an earlier
    # version) close without a change: their removal would tell the walls' secret again.
    changes = policy.judge(
        [c for c in result.changes if c.source != OBSERVED_SOURCE],
        CheckView.of(snapshot.facts if snapshot else None, observation),
    )
    stored = snapshot.sources if snapshot is not None else None
    sources: SourceStates | None
    if stored is not None and not result.first_reads and not observation.failures and not stored.pending:
        sources = None  # every source read, nothing new baselined: as stored (the common case)
    else:
        sources = SourceStates.after(observation, result.baselined)
        if sources == stored:
            sources = None
    return CheckOutcome(observation, changes, result.closed, result.state, result.baseline, sources)


def record_checks(checks: Checks, batch: Sequence[CheckToRecord], policy: AlertPolicy) -> list[CheckResult]:
    """Write a batch of checks (in a database thread); results in the order of `batch`."""
    results: list[CheckResult | None] = [None] * len(batch)
    try:
        with checks.quiet_batch([check.subject_id for check in batch]) as quiet:
            seen: set[int] = set()
            for index, check in enumerate(batch):
                if check.subject_id in seen:
                    continue  # twice in one batch: the second reads what the first wrote, on its own
                seen.add(check.subject_id)
                snapshots = quiet.snapshots(check.subject_id, [o.dataset for o in check.observations])
                if snapshots is None:
                    results[index] = []  # removed while the check ran
                    continue
                outcomes = decide(check, snapshots, policy)
                if any(outcome.changes or outcome.closed for outcome in outcomes):
                    continue
                quiet.write(check, outcomes)
                results[index] = outcomes
    except Exception:
        log.warning("a batch of %d checks failed; writing them one by one", len(batch), exc_info=True)
        results = [None] * len(batch)
    for index, check in enumerate(batch):
        if results[index] is not None:
            continue
        try:
            results[index] = record_check(checks, check, policy)
        except Exception as exc:
            results[index] = exc
    return [result if result is not None else [] for result in results]


def record_check(checks: Checks, check: CheckToRecord, policy: AlertPolicy) -> list[CheckOutcome]:
    """One check in a transaction of its own: read, decide, write."""
    with checks.unit(check.subject_id) as unit:
        if unit is None:
            return []  # removed while the check ran
        outcomes = decide(check, unit.snapshots([o.dataset for o in check.observations]), policy)
        changes: list[Change] = [change for outcome in outcomes for change in outcome.changes]
        decisions = policy.route(changes, unit.audience(check.now), check.now) if changes else []
        return unit.write(check, outcomes, decisions)
