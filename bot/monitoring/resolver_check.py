"""A resolver that is checked before it is believed.

`CheckedDnsClient` wraps the bot's DnsClient. Before any answer counts, the resolver
must pass two questions: the canary name (WATCHPOST_DNS_CANARY, `example.com` by
default, a name that exists) must not be NXDOMAIN, and a random label under the canary
(`wp-<32 hex>.example.com`, a name that cannot exist) must be NXDOMAIN. The random name
sits inside the canary's own zone on purpose: a resolver may answer a reserved suffix
such as `.invalid` locally, which would prove nothing about how it treats real zones.

A resolver that fails either (or cannot be asked) makes every query an ERROR answer
whose reason says why ("the resolver at 10.0.0.2:53 answers NXDOMAIN for everything"),
so every DNS dataset fails: no baseline is set and no change is reported. The verdict
is kept for `RECHECK_SECONDS` (a failing or undecided one for less, so a recovery is
seen soon); one check runs at a time however many lookups wait on it; a verdict that
changes is logged once, and `verdict` is what this process's /healthz reads.

Each verdict is also written to the database (`SharedResolverVerdicts`): with `watchpost
serve` the checks run in worker processes, and the web process — `/monitor health`, the
App Home, `/api/v1/health`, /healthz — reads the verdict they reached from there.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.core.observations import Outcome
from bot.monitoring.dns import DnsAnswer, DnsClient
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.storage.db import Database

log = logging.getLogger(__name__)

DEFAULT_CANARY = "example.com"
RECHECK_SECONDS = 300.0
# A resolver that answered wrongly, or could not be asked, is asked again sooner.
RECHECK_FAILING_SECONDS = 30.0


@dataclass(frozen=True)
class ResolverVerdict:
    """The outcome of one resolver check. `problem` is None when the resolver passed."""

    where: str
    problem: str | None
    checked_at: float  # the clock's time (monotonic seconds)

    @property
    def ok(self) -> bool:
        return self.problem is None


def judge_resolver(where: str, canary: str, canary_answer: DnsAnswer, random_answer: DnsAnswer) -> str | None:
    """The problem the answers for the canary and for a random name under it show, or None
    when the resolver can be believed (pure). The texts name no random label, so the same
    fault always reads the same (and is logged once)."""
    resolver = f"the resolver at {where}"
    random_name = f"a random name under {canary}"
    if canary_answer.outcome is Outcome.ERROR:
        return f"{resolver} could not be checked: {canary} gave no answer ({canary_answer.error})"
    if canary_answer.outcome is Outcome.NXDOMAIN:
        if random_answer.outcome is Outcome.NXDOMAIN:
            return f"{resolver} answers NXDOMAIN for everything (even {canary}, which exists)"
        return f"{resolver} answers NXDOMAIN for {canary}, which exists"
    if random_answer.outcome is Outcome.ERROR:
        return f"{resolver} could not be checked: {random_name} gave no answer ({random_answer.error})"
    if random_answer.outcome is Outcome.RECORDS:
        shown = ", ".join(random_answer.records[:2])
        return (
            f"{resolver} answers an address for names that do not exist ({random_name} gave {shown}): "
            "it rewrites NXDOMAIN"
        )
    if random_answer.outcome is Outcome.NO_DATA:
        return f"{resolver} says {random_name}, which cannot exist, exists: it rewrites NXDOMAIN"
    return None


class VerdictBook(Protocol):
    """Where each fresh verdict is written for other processes to read."""

    async def record(self, verdict: ResolverVerdict) -> None: ...


class SharedResolverVerdicts:
    """The resolver check's verdicts in the database. `where` is this process's resolver
    as configured: `current` prefers its row, else the one most recently checked (a
    process configured otherwise, or a worker on another host)."""

    def __init__(self, db: Database, *, where: str, clock: Callable[[], datetime]) -> None:
        self._db = db
        self.where = where
        self._clock = clock

    async def record(self, verdict: ResolverVerdict) -> None:
        try:
            await self._db.run(
                self._db.resolver_verdicts.record, verdict.where, verdict.problem, now=self._clock()
            )
        except Exception as exc:  # the database away must not cost DNS its answers
            log.warning("the resolver's verdict was not shared (%s)", exc.__class__.__name__)

    async def current(self) -> ResolverStatus | None:
        """The shared verdict (None: no process has checked the resolver yet)."""
        statuses = await self._db.run(self._db.resolver_verdicts.statuses)
        return next((s for s in statuses if s.resolver == self.where), statuses[0] if statuses else None)


class CheckedDnsClient:
    """A DnsClient whose answers count only while the resolver passes its check."""

    def __init__(
        self,
        inner: DnsClient,
        *,
        where: str,
        canary: str = DEFAULT_CANARY,
        recheck: float = RECHECK_SECONDS,
        recheck_failing: float = RECHECK_FAILING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        random_label: Callable[[], str] | None = None,
        book: VerdictBook | None = None,
    ) -> None:
        self._inner = inner
        self._where = where
        self._canary = canary.strip().rstrip(".").lower()
        self._recheck = recheck
        self._recheck_failing = recheck_failing
        self._clock = clock
        self._random_label = random_label or (lambda: "wp-" + secrets.token_hex(16))
        self._verdict: ResolverVerdict | None = None
        self._checking = asyncio.Lock()
        self._book = book

    @property
    def verdict(self) -> ResolverVerdict | None:
        """The last check's outcome (None before the first lookup)."""
        return self._verdict

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        problem = await self.problem()
        if problem is not None:
            return DnsAnswer(Outcome.ERROR, error=problem, distrusted=True)
        return await self._inner.query(name, rdtype)

    async def query_many(self, name: str, rdtypes: Sequence[str]) -> list[DnsAnswer]:
        problem = await self.problem()
        if problem is not None:
            return [DnsAnswer(Outcome.ERROR, error=problem, distrusted=True)] * len(rdtypes)
        query_many = getattr(self._inner, "query_many", None)
        if query_many is not None:
            answers: list[DnsAnswer] = await query_many(name, rdtypes)
            return answers
        return list(await asyncio.gather(*(self._inner.query(name, rdtype) for rdtype in rdtypes)))

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()

    async def problem(self) -> str | None:
        """Why the resolver is not to be believed now, or None; checks it when due."""
        verdict = self._verdict
        if verdict is not None and not self._due(verdict):
            return verdict.problem
        fresh = None
        async with self._checking:
            verdict = self._verdict
            if verdict is None or self._due(verdict):
                verdict = fresh = await self._check()
        if fresh is not None and self._book is not None:
            # Outside the lock: lookups that waited for the check need not wait for the write.
            await self._book.record(fresh)
        return verdict.problem

    def _due(self, verdict: ResolverVerdict) -> bool:
        keep = self._recheck if verdict.ok else self._recheck_failing
        return self._clock() - verdict.checked_at >= keep

    async def _check(self) -> ResolverVerdict:
        random_name = f"{self._random_label()}.{self._canary}"
        canary_answer, random_answer = await asyncio.gather(
            self._inner.query(self._canary, "A"), self._inner.query(random_name, "A")
        )
        problem = judge_resolver(self._where, self._canary, canary_answer, random_answer)
        previous = self._verdict
        verdict = ResolverVerdict(self._where, problem, self._clock())
        self._verdict = verdict
        if problem is not None and (previous is None or previous.problem != problem):
            log.error("DNS is off for every dataset: %s", problem)
        elif problem is None and previous is not None and not previous.ok:
            log.warning("the resolver at %s passes its check again: DNS datasets resume", self._where)
        return verdict
