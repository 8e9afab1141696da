"""Checks run by worker processes on request, so the process that answers Slack and the
API never runs one (`watchpost serve` with workers).

`RequestedChecks` stands in for the runner in that process: `check` writes a request and
waits for a worker to finish it, and returns what the worker reported (changes and the
sources that failed or wait for a quota slot). `requested_check_job` is the worker's side
(the one handover's job, bot/storage/handovers.py): claimed requests are checked at once,
before routine ones, as a person asked for them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.alerts.model import ActiveSuppression, ChangeVerdict, Fate
from bot.core.errors import UserInputError
from bot.core.observations import Change, ChangeKind, IndicatorKind, Observation, SourceFailure, SourceRead
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.runner import CheckReport, Runner
from bot.monitoring.store.check_requests import CheckRequestStore, ClaimedCheck
from bot.storage.db import Database
from bot.storage.handovers import HandoverJob
from bot.storage.views import CheckOutcome, SubjectView

log = logging.getLogger(__name__)


class CheckRunner(Protocol):
    """What the command flows need of whoever runs checks (a Runner, or RequestedChecks)."""

    interval: timedelta
    concurrency: int
    datasets: list[Dataset]

    def clock(self) -> datetime: ...

    async def check(self, subject: SubjectView, *, manual: bool = False) -> CheckReport: ...

    async def collect(self, indicator: str, kind: IndicatorKind) -> list[Observation]: ...


class RequestedChecks:
    def __init__(
        self,
        runner: Runner,
        requests: CheckRequestStore,
        db: Database,
        *,
        poll: float = 0.2,
        patience: float = 600.0,
    ) -> None:
        self.runner = runner
        self.requests = requests
        self.db = db
        self.interval = runner.interval
        self.concurrency = runner.concurrency
        self.datasets = runner.datasets
        self.poll = poll
        self.patience = patience
        # Every pending request is watched by one poller: one query a tick for all of them,
        # however many people wait, so waiting costs the process answering Slack nothing.
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._poller: asyncio.Task[None] | None = None

    def clock(self) -> datetime:
        return self.runner.clock()

    async def collect(self, indicator: str, kind: IndicatorKind) -> list[Observation]:
        """A look without storing anything (an investigation): done here, through the same
        quota gate as every lookup."""
        return await self.runner.collect(indicator, kind)

    async def check(self, subject: SubjectView, *, manual: bool = False) -> CheckReport:
        request_id = await self.db.run(self.requests.request, subject.id, now=self.clock())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._watch(), name="requested checks")
        try:
            async with asyncio.timeout(self.patience):
                return report_from_summary(subject, await future)
        except TimeoutError:
            pass
        finally:
            self._waiting.pop(request_id, None)
        raise UserInputError(
            f"The check of `{subject.indicator}` is queued but no worker has run it yet; "
            "its alerts will be posted when it runs."
        )

    async def _watch(self) -> None:
        while self._waiting:
            await asyncio.sleep(self.poll)
            try:
                done = await self.db.run(self.requests.results, list(self._waiting))
            except Exception:
                log.warning("reading requested checks failed; trying again", exc_info=True)
                continue
            for request_id, result in done.items():
                future = self._waiting.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(result)


# How often a worker looks for checks people asked for: the wait they see beyond the check.
REQUESTED_CHECK_TICK = 0.25
# A check runs well within this; a worker that died leaves it to another once it passes.
REQUESTED_CHECK_LEASE = timedelta(minutes=5)


def requested_check_job(
    runner: Runner,
    requests: CheckRequestStore,
    *,
    lease: timedelta = REQUESTED_CHECK_LEASE,
    clock: Callable[[], datetime] | None = None,
) -> HandoverJob[ClaimedCheck]:
    """The worker's side: claimed requests are checked at once, before routine ones (at
    most the runner's concurrency in flight), each completed with the summary its asker
    reads; a tick never waits behind a slow check."""

    async def run(claim: ClaimedCheck) -> dict[str, Any]:
        try:
            return summary_of(await runner.check(claim.subject, manual=True))
        except Exception:
            log.exception("requested check of %s failed", claim.subject.indicator)
            return {"error": True}

    return HandoverJob(
        requests,
        runner.db,
        run,
        clock=clock or runner.clock,
        lease=lease,
        concurrency=runner.concurrency,
        tick_seconds=REQUESTED_CHECK_TICK,
        what="requested check",
    )


def summary_of(report: CheckReport) -> dict[str, Any]:
    """What the asker shows of a check: its changes and the sources that failed or wait."""
    return {
        "baseline": report.baseline,
        "outcomes": [
            {
                "dataset": outcome.observation.dataset,
                "failed": outcome.observation.failed,
                "failures": [
                    {
                        "source": f.source,
                        "message": f.message,
                        "deferred_until": f.deferred_until.isoformat() if f.deferred_until else None,
                    }
                    for f in outcome.observation.failures
                ],
                "changes": [_change_json(change) for change in outcome.changes],
                "baseline": outcome.baseline,
                "verdicts": [_verdict_json(verdict) for verdict in outcome.verdicts],
            }
            for outcome in report.outcomes
        ],
    }


def report_from_summary(subject: SubjectView, summary: Any) -> CheckReport:
    if not isinstance(summary, dict):
        return CheckReport(subject, [])
    if summary.get("error"):
        raise RuntimeError(f"the worker's check of {subject.indicator} failed")
    outcomes = []
    for item in summary.get("outcomes", []):
        failures = tuple(
            SourceFailure(
                f["source"],
                f["message"],
                deferred_until=datetime.fromisoformat(f["deferred_until"])
                if f.get("deferred_until")
                else None,
            )
            for f in item.get("failures", [])
        )
        # No source read is carried over: a summary whose every dataset failed reads as failed.
        reads = () if item.get("failed") else (SourceRead(item["dataset"], frozenset()),)
        observation = Observation(item["dataset"], frozenset(), frozenset(), failures, reads=reads)
        changes = [_change_from_json(c) for c in item.get("changes", [])]
        verdicts = tuple(_verdict_from_json(v) for v in item.get("verdicts", []))
        outcomes.append(
            CheckOutcome(observation, changes, [], {}, bool(item.get("baseline")), verdicts=verdicts)
        )
    return CheckReport(subject, outcomes)


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "dataset": change.dataset,
        "kind": change.kind.value,
        "field": change.field,
        "old_value": change.old_value,
        "new_value": change.new_value,
        "source": change.source,
        "first_seen": change.first_seen.isoformat() if change.first_seen else None,
        "last_seen": change.last_seen.isoformat() if change.last_seen else None,
        "alert": change.alert,
    }


def _change_from_json(item: dict[str, Any]) -> Change:
    def moment(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    return Change(
        dataset=item["dataset"],
        kind=ChangeKind(item["kind"]),
        field=item["field"],
        old_value=item["old_value"],
        new_value=item["new_value"],
        source=item["source"],
        first_seen=moment(item.get("first_seen")),
        last_seen=moment(item.get("last_seen")),
        alert=bool(item.get("alert", True)),
    )


def _verdict_json(verdict: ChangeVerdict) -> dict[str, Any]:
    suppression = verdict.suppression
    return {
        "change": _change_json(verdict.change),
        "team": verdict.team_id,
        "channel": verdict.channel_id,
        "fate": verdict.fate.value,
        "stage": verdict.stage,
        "suppression": None
        if suppression is None
        else {
            "id": suppression.id,
            "kind": suppression.kind,
            "dataset": suppression.dataset,
            "value": suppression.value,
            "expires_at": suppression.expires_at.isoformat(),
        },
        "outbox_id": verdict.outbox_id,
        "parent_outbox_id": verdict.parent_outbox_id,
    }


def _verdict_from_json(item: dict[str, Any]) -> ChangeVerdict:
    held = item.get("suppression")
    suppression = (
        None
        if not isinstance(held, dict)
        else ActiveSuppression(
            held["id"],
            held["kind"],
            held.get("dataset"),
            held.get("value"),
            datetime.fromisoformat(held["expires_at"]),
        )
    )
    return ChangeVerdict(
        _change_from_json(item["change"]),
        item["team"],
        item["channel"],
        Fate(item["fate"]),
        item.get("stage"),
        suppression,
        item.get("outbox_id"),
        item.get("parent_outbox_id"),
    )
