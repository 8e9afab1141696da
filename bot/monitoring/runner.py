"""Collect -> diff -> store, per subject. One dataset failing never stops the others, and
one subject's check never blocks another's."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.alerts.model import ChangeVerdict
from bot.alerts.pipeline import AlertPolicy
from bot.core.metrics import Metrics
from bot.core.observations import Change, IndicatorKind, Observation, bounded
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.quota import current_lookup, lookup_context, mark_deferred
from bot.monitoring.recorder import CheckRecorder
from bot.storage.db import Database
from bot.storage.views import CheckOutcome, CheckToRecord, SubjectView

log = logging.getLogger(__name__)

# How soon to try again when a dataset has no baseline yet (its source was down).
BASELINE_RETRY = timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckReport:
    subject: SubjectView
    outcomes: list[CheckOutcome]
    # A quota-limited source keeps a place for this subject then: check it again at that time.
    come_back_at: datetime | None = None

    @property
    def changes(self) -> list[Change]:
        return [change for outcome in self.outcomes for change in outcome.changes]

    @property
    def baseline(self) -> bool:
        return any(outcome.baseline for outcome in self.outcomes)

    @property
    def verdicts(self) -> list[ChangeVerdict]:
        """What became of each change in each channel of the subject."""
        return [verdict for outcome in self.outcomes for verdict in outcome.verdicts]

    @property
    def nothing_read(self) -> bool:
        """Every dataset failed: nothing was learned (never "no change")."""
        return bool(self.outcomes) and all(outcome.observation.failed for outcome in self.outcomes)


class Runner:
    def __init__(
        self,
        datasets: Sequence[Dataset],
        db: Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        dataset_timeout: float = 120.0,
        interval: timedelta = timedelta(hours=1),
        concurrency: int = 50,
        policy: AlertPolicy | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.datasets = list(datasets)
        self.metrics = metrics
        self.interval = interval
        self.concurrency = concurrency
        # Whether and where each change is alerted (bot/alerts/pipeline/).
        self.policy = policy if policy is not None else AlertPolicy()
        self.db = db
        # Finished checks are written in batches (group commit), not one transaction each.
        self.recorder = CheckRecorder(db, policy=self.policy)
        self.clock = clock
        self.dataset_timeout = dataset_timeout
        # Two checks of one subject at once (a manual check during a cycle) would diff
        # against the same state and report a change twice: serialise them per subject.
        # Weak values: a subject's lock disappears once no check holds or awaits it.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def check(self, subject: SubjectView, *, manual: bool = False) -> CheckReport:
        """`manual`: a person asked (a new monitor's baseline, `/monitor check`): quota
        slots go to such checks first."""
        lock = self._locks.setdefault(subject.id, asyncio.Lock())
        async with lock:
            with lookup_context(subject.indicator, manual=manual) as lookups:
                observations = await self.collect(subject.indicator, subject.kind)
            now = self.clock()
            retry_at = now + min(self.interval, BASELINE_RETRY)
            if lookups.come_back_at is not None:  # a source keeps a place for this check
                retry_at = max(retry_at, lookups.come_back_at)
            outcomes = await self.recorder.record(
                CheckToRecord(
                    subject_id=subject.id,
                    observations=observations,
                    now=now,
                    retry_without_baseline_at=retry_at,
                    next_check_by=lookups.come_back_at,
                )
            )
            if self.metrics is not None:
                self.metrics.observe_check(outcome.observation for outcome in outcomes)
            return CheckReport(subject, outcomes, lookups.come_back_at)

    async def collect(self, indicator: str, kind: IndicatorKind) -> list[Observation]:
        """Every applicable dataset's observation of an indicator, collected concurrently."""
        applicable = [d for d in self.datasets if d.applies_to(kind)]
        # Outside a check (an investigation, `watchpost check`): as a person asked, no queue.
        outside = lookup_context(None, manual=True, returns=False)
        with outside if current_lookup() is None else nullcontext():
            lookups = current_lookup()
            assert lookups is not None
            found = await asyncio.gather(*(self._timed(d, indicator, kind) for d in applicable))
        # A source that waited for a slot failed nothing: its dataset's last state stands.
        return [mark_deferred(observation, lookups.deferred) for observation in found]

    async def _timed(self, dataset: Dataset, indicator: str, kind: IndicatorKind) -> Observation:
        started = time.monotonic()
        observation = await self._collect(dataset, indicator, kind)
        if self.metrics is not None:
            self.metrics.check_seconds.labels(dataset.name).observe(time.monotonic() - started)
        return observation

    async def _collect(self, dataset: Dataset, indicator: str, kind: IndicatorKind) -> Observation:
        try:
            async with asyncio.timeout(self.dataset_timeout):
                return bounded(await dataset.collect(indicator, kind))
        except TimeoutError:
            message = f"no result within {self.dataset_timeout:g}s"
            return Observation.error(dataset.name, dataset.name, message)
        except Exception as exc:  # a bug in one dataset must not stop the others
            log.exception("dataset %s failed on %s", dataset.name, indicator)
            return Observation.error(dataset.name, dataset.name, f"internal error ({exc.__class__.__name__})")

    async def run_due(self, *, limit: int = 10_000) -> list[CheckReport]:
        """Check every subject that is due, `concurrency` at a time."""
        subjects = await self.db.run(
            self.db.checks.claim_due, now=self.clock(), interval=self.interval, limit=limit
        )
        if not subjects:
            return []
        gate = asyncio.Semaphore(self.concurrency)

        async def one(subject: SubjectView) -> CheckReport | None:
            async with gate:
                try:
                    return await self.check(subject)
                except Exception:
                    log.exception("check of %s failed", subject.indicator)
                    return None

        reports = await asyncio.gather(*(one(subject) for subject in subjects))
        return [report for report in reports if report is not None]
