"""Lookalike watches at work: CT entries through the matcher into stored findings, and
each lookalike watch's permutations resolved on a schedule within a query budget.

Every match passes the alert policy's finding stages (`FindingRouter`, the stages in
bot/alerts/pipeline/): a match whose watches are all muted or snoozed in its channel
is stored as silenced, not alerted.

`LookalikeWatcher.handle_entries` is the CT follower's sink. It keeps a matcher built
from the stored watches and rebuilds it (off the event loop) when they change. A watch
matches entries logged after it was set: history is not alerted.

`PermutationResolver.run_due` resolves the permutations checked longest ago (never
checked first), at most a 24th of `budget` (queries per interval) a run, run 24 times an
interval by the scheduler; a permutation's first resolution is its
baseline, and NXDOMAIN -> resolving, or no MX -> MX, later is a finding, as a
certificate is. Failed lookups change nothing (they are tried again next run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.alerts.pipeline import AlertPolicy
from bot.core.observations import Outcome
from bot.monitoring.dns import DnsClient
from bot.storage.db import DatabaseRunner
from bot.watches.ct.certstream import CertstreamReader
from bot.watches.ct.entries import CtEntry
from bot.watches.ct.follower import CtFollower, CtPollReport
from bot.watches.ct.model import CtReading
from bot.watches.ct.status import CtReaderStatus
from bot.watches.matcher import Matcher, NameMatch
from bot.watches.model import Reason, Sighting, Watch, WatchKind, WatchTarget
from bot.watches.permutations import permutations
from bot.watches.store.lookalikes import FindingHit, LookalikeStore, PermutationState, RecordReport
from bot.watches.store.suppressions import WatchSuppressions

log = logging.getLogger(__name__)

# The resolver runs this many times an interval, each run taking its share of the budget,
# so a day's queries are spread over the day rather than sent in one burst.
RUNS_PER_INTERVAL = 24
FIRST_LOOK_SECONDS = 10.0  # a new watch's first look waits this long for a certstream server


def reason_record(reason: Reason, watch: Watch) -> dict[str, Any]:
    """A reason as stored with a finding: enough to render it without the watch."""
    return {
        "watch_id": watch.id,
        "kind": watch.kind.value,
        "term": watch.term,
        "rule": reason.rule,
        "detail": reason.detail,
        "why": reason.describe(watch.term),
    }


def hits_for_entries(matcher: Matcher, entries: Sequence[CtEntry]) -> list[FindingHit]:
    """What the entries' names match, per channel and registrable domain (pure)."""
    hits: list[FindingHit] = []
    for entry in entries:
        for found in matcher.match_names(entry.names):
            hits.extend(_channel_hits(matcher, found, entry))
    return hits


def _channel_hits(matcher: Matcher, found: NameMatch, entry: CtEntry) -> list[FindingHit]:
    by_channel: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for reason in found.reasons:
        watch = matcher.watches[reason.watch_id]
        if entry.logged_at < watch.created_at:
            continue  # logged before the watch was set
        by_channel.setdefault((watch.team_id, watch.channel_id), []).append(reason_record(reason, watch))
    sighting = Sighting(entry.log, entry.index, found.name, entry.issuer, entry.serial, entry.logged_at)
    return [
        FindingHit(
            team, channel, found.registrable, found.name, tuple(reasons), "ct", entry.logged_at, sighting
        )
        for (team, channel), reasons in by_channel.items()
    ]


def watch_ids(hit: FindingHit) -> list[int]:
    """The watches behind a match, in the order they matched."""
    return list(dict.fromkeys(int(r["watch_id"]) for r in hit.reasons if r.get("watch_id") is not None))


def route_hits(
    hits: Sequence[FindingHit], targets: Mapping[int, WatchTarget], policy: AlertPolicy, now: datetime
) -> list[FindingHit]:
    """Each match with the policy's verdict for its channel (pure): silenced by a stage
    when every watch behind it is muted or snoozed there."""
    routed = []
    for hit in hits:
        verdict = policy.route_finding([targets.get(i, WatchTarget(i)) for i in watch_ids(hit)], now)
        routed.append(replace(hit, silenced=verdict.stage))
    return routed


class FindingRouter:
    """The policy's finding stages over stored mutes and snoozes: read, then decide. The
    watches' mutes and snoozes are read just before the findings are written (a mute set
    in between holds from the next match), so storage decides nothing."""

    def __init__(self, db: DatabaseRunner, suppressions: WatchSuppressions, policy: AlertPolicy) -> None:
        self.db = db
        self.suppressions = suppressions
        self.policy = policy

    async def route(self, hits: Sequence[FindingHit], now: datetime) -> list[FindingHit]:
        ids = {watch_id for hit in hits for watch_id in watch_ids(hit)}
        targets = await self.db.run(self.suppressions.targets, ids, now=now) if ids else {}
        return route_hits(hits, targets, self.policy, now)


class LookalikeWatcher:
    def __init__(
        self,
        db: DatabaseRunner,
        store: LookalikeStore,
        router: FindingRouter,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.store = store
        self.router = router
        self.clock = clock
        self._matcher: Matcher | None = None
        self._generation: tuple[int, int] | None = None
        self._lock = asyncio.Lock()
        self._recording = asyncio.Lock()

    async def matcher(self) -> Matcher:
        """The matcher of the stored watches, rebuilt when they changed."""
        async with self._lock:
            generation = await self.db.run(self.store.watch_generation)
            if self._matcher is None or generation != self._generation:
                watches = await self.db.run(self.store.watches)
                # Permutations of 1,000 brands take seconds: off the event loop.
                self._matcher = await asyncio.to_thread(Matcher, watches)
                self._generation = generation
            return self._matcher

    async def has_watches(self) -> bool:
        """Any lookalike or keyword watch, in any channel (one small query)."""
        count, _ = await self.db.run(self.store.watch_generation)
        return count > 0

    async def handle_entries(self, entries: Sequence[CtEntry]) -> None:
        """The CT follower's sink: matches stored as findings before it moves on."""
        await self.record(entries)

    async def record(self, entries: Sequence[CtEntry]) -> RecordReport:
        matcher = await self.matcher()
        if not matcher.watches:
            return RecordReport()
        hits = hits_for_entries(matcher, entries)
        if not hits:
            return RecordReport()
        async with self._recording:  # logs are read at once: one writer of findings here
            now = self.clock()
            routed = await self.router.route(hits, now)
            report = await self.db.run(self.store.record_hits, routed, now=now)
        if report.findings or report.sightings or report.silenced:
            log.info(
                "lookalikes: %d new findings, %d more certificates (%d dismissed, %d silenced)",
                report.findings,
                report.sightings,
                report.dismissed,
                report.silenced,
            )
        return report


class PermutationResolver:
    def __init__(
        self,
        db: DatabaseRunner,
        store: LookalikeStore,
        dns: DnsClient,
        router: FindingRouter,
        *,
        clock: Callable[[], datetime],
        interval: timedelta = timedelta(days=1),
        budget: int = 20_000,
        concurrency: int = 50,
    ) -> None:
        self.db = db
        self.store = store
        self.dns = dns
        self.router = router
        self.clock = clock
        self.interval = interval
        self.budget = budget  # DNS queries per interval (two per permutation: A and MX)
        self.concurrency = concurrency
        self.runs_per_interval = RUNS_PER_INTERVAL

    async def run_due(self) -> RecordReport:
        now = self.clock()
        watches = [w for w in await self.db.run(self.store.watches) if w.kind is WatchKind.LOOKALIKE]
        if not watches:
            return RecordReport()
        owners: dict[str, list[tuple[Watch, str]]] = {}
        for watch in watches:
            if watch.created_at > now:
                continue
            for permutation in await asyncio.to_thread(permutations, watch.term):
                owners.setdefault(permutation.domain, []).append((watch, permutation.rule))
        domains = sorted(owners)
        states = await self.db.run(self.store.permutation_states, domains)
        cutoff = now - self.interval
        due = [d for d in domains if d not in states or states[d].checked_at <= cutoff]
        due.sort(key=lambda d: (d in states, states[d].checked_at if d in states else now, d))
        due = due[: max(1, self.budget // 2 // self.runs_per_interval)]
        gate = asyncio.Semaphore(self.concurrency)

        async def resolve(domain: str) -> PermutationState | None:
            async with gate:
                address, mail = await asyncio.gather(
                    self.dns.query(domain, "A"), self.dns.query(domain, "MX")
                )
            if Outcome.ERROR in (address.outcome, mail.outcome):
                return None
            resolves = address.outcome is Outcome.RECORDS or mail.outcome is Outcome.RECORDS
            return PermutationState(domain, resolves, mail.outcome is Outcome.RECORDS, now)

        results = [s for s in await asyncio.gather(*(resolve(d) for d in due)) if s is not None]
        hits: list[FindingHit] = []
        for state in results:
            before = states.get(state.domain)
            if before is None:
                continue  # the baseline
            rule = None
            if state.resolves and not before.resolves:
                rule = "resolves"
            elif state.has_mx and not before.has_mx:
                rule = "mx"
            if rule is None:
                continue
            by_channel: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for watch, fuzzer in owners[state.domain]:
                reason = reason_record(Reason(watch.id, rule, fuzzer), watch)
                by_channel.setdefault((watch.team_id, watch.channel_id), []).append(reason)
            hits.extend(
                FindingHit(team, channel, state.domain, state.domain, tuple(reasons), "dns", now)
                for (team, channel), reasons in by_channel.items()
            )
        # Findings first: after a crash between the two, the transition is seen again and
        # the finding, stored once per domain and channel, is not repeated.
        report = RecordReport()
        if hits:
            report = await self.db.run(self.store.record_hits, await self.router.route(hits, now), now=now)
        await self.db.run(self.store.save_permutation_states, results)
        log.info(
            "permutations: %d resolved of %d due (%d known), %d new findings",
            len(results),
            len(due),
            len(domains),
            report.findings,
        )
        return report


class CtPollJob:
    """Every `interval`, while a lookalike or keyword watch exists: the CT follower's new
    entries, into the watcher. With no watch, no CT request at all (neither the log list
    nor a log: following every log costs 13-100 GB a day); when watching starts again, each
    log is read from its head, not from where it was left."""

    def __init__(
        self,
        follower: CtFollower | None,
        watcher: LookalikeWatcher,
        *,
        interval: timedelta,
        stream: CertstreamReader | None = None,
    ) -> None:
        if follower is None and stream is None:
            raise ValueError("a CT job reads the logs, a certstream server, or both are missing")
        self.follower = follower
        self.watcher = watcher
        self.interval = interval
        # A certstream server read in place of the logs (WATCHPOST_CERTSTREAM_URL).
        self.stream = stream
        self.status = CtReaderStatus()
        self._idled = False  # nobody watched at some poll: the stored positions are stale
        self._polling = asyncio.Lock()  # the scheduled poll and a first look never overlap

    async def poll(self) -> CtPollReport | None:
        async with self._polling:
            if not await self.watcher.has_watches():
                if not self._idled:
                    log.info("CT: no lookalike or keyword watch, so no CT log is read")
                self._idled = True
                self.status.idle(self.watcher.clock())
                if self.stream is not None:
                    await self.stream.stop()
                return None
            if self.stream is not None:
                self.stream.start(self.watcher.handle_entries)
                self.status.streamed(self.stream.progress(), self.watcher.clock())
                return None
            assert self.follower is not None  # one of the two, said the constructor
            report = await self.follower.poll_once(self.watcher.handle_entries, from_head=self._idled)
            if report.logs:
                self._idled = False
            self.status.polled(report, self.watcher.clock())
        for failed in report.failed:
            log.warning("CT log %s: %s", failed.log, failed.error)
        return report

    def reading(self) -> CtReading:
        """What this process's reader has seen (the `CtReader` the commands ask)."""
        return self.status.reading(self.watcher.clock())

    async def look_now(self) -> CtReading:
        """A poll at once (a new watch's first look: the log list and each log's head),
        then what the reader sees."""
        await self.poll()
        if self.stream is not None and await self.watcher.has_watches():
            await self.stream.first_attempt(within=FIRST_LOOK_SECONDS)
            self.status.streamed(self.stream.progress(), self.watcher.clock())
        return self.reading()

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.stop()
