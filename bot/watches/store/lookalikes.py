"""Lookalike and keyword watches, their findings, and the deliveries of those findings.

One finding per registrable domain per channel: the first match stores it with its alert
(a delivery row) in one transaction; a later certificate of the same domain (another
issuer+serial) stores a sighting and a thread reply; the same certificate again (the
precertificate's certificate, another log) changes nothing. A dismissed domain stores
nothing in its channel. A match the policy silenced (`FindingHit.silenced`: every watch
behind it muted or snoozed there) is stored without a message: a new finding marked
silenced, a later certificate without its thread reply; the next match not silenced of a
finding never alerted raises its alert then. The messages are rows of the one Slack
outbox (bot/alerts/store/outbox.py), delivered in order with the channel's alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.errors import UserInputError
from bot.storage.models import (
    LookalikeDismissalRow,
    LookalikeFindingRow,
    LookalikeSightingRow,
    LookalikeWatchRow,
    OutboxRow,
    PermutationStateRow,
    SuppressionRow,
)
from bot.storage.views import OutboxKind
from bot.watches.model import Finding, Sighting, Watch, WatchKind


@dataclass(frozen=True)
class FindingHit:
    """A match for one channel: what to store as a finding (or add to one)."""

    team_id: str
    channel_id: str
    domain: str
    name: str
    reasons: tuple[dict[str, Any], ...]  # {"watch_id", "kind", "term", "rule", "detail", "why"}
    source: str  # ct, dns
    seen_at: datetime
    sighting: Sighting | None = None
    silenced: str | None = None  # the policy stage that keeps it out of the channel (None: alert)


@dataclass(frozen=True)
class RecordReport:
    findings: int = 0  # new findings (alerts)
    sightings: int = 0  # later certificates of known findings (thread replies)
    dismissed: int = 0  # matches left quiet by a dismissal
    silenced: int = 0  # matches stored without a message (muted or snoozed watches)


@dataclass(frozen=True)
class PermutationState:
    domain: str
    resolves: bool
    has_mx: bool
    checked_at: datetime


@dataclass
class WatchChange:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


class LookalikeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # --- watches ---------------------------------------------------------------

    def add_watches(
        self,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        kind: WatchKind,
        terms: Sequence[str],
        now: datetime,
        quota: int | None = None,
    ) -> WatchChange:
        """Watch each term in the channel; terms it already watches are reported as such."""
        change = WatchChange()
        with self._sessions.begin() as session:
            known = set(
                session.scalars(
                    select(LookalikeWatchRow.term).where(
                        LookalikeWatchRow.team_id == team_id,
                        LookalikeWatchRow.channel_id == channel_id,
                        LookalikeWatchRow.kind == kind.value,
                    )
                )
            )
            fresh = [t for t in dict.fromkeys(terms) if t not in known]
            if quota is not None and len(known) + len(fresh) > quota:
                raise UserInputError(
                    f"This channel may have at most {quota} {kind.value} watches; it has {len(known)}. "
                    "Nothing was changed."
                )
            for term in dict.fromkeys(terms):
                if term in known:
                    change.already.append(term)
                    continue
                session.add(
                    LookalikeWatchRow(
                        team_id=team_id,
                        channel_id=channel_id,
                        kind=kind.value,
                        term=term,
                        created_by=user_id,
                        created_at=now,
                    )
                )
                known.add(term)
                change.added.append(term)
        return change

    def remove_watches(
        self, *, team_id: str, channel_id: str, kind: WatchKind, terms: Sequence[str]
    ) -> list[str]:
        """Stop watching; returns the terms that were watched (and are no longer)."""
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(LookalikeWatchRow).where(
                    LookalikeWatchRow.team_id == team_id,
                    LookalikeWatchRow.channel_id == channel_id,
                    LookalikeWatchRow.kind == kind.value,
                    LookalikeWatchRow.term.in_(list(terms)),
                )
            ).all()
            # Explicit: SQLite enforces ON DELETE CASCADE only with the pragma on.
            session.execute(delete(SuppressionRow).where(SuppressionRow.watch_id.in_([r.id for r in rows])))
            for row in rows:
                session.delete(row)
            return sorted(row.term for row in rows)

    def watches(self, *, team_id: str | None = None, channel_id: str | None = None) -> list[Watch]:
        """Every watch (of a team, of a channel), oldest first."""
        query = select(LookalikeWatchRow).order_by(LookalikeWatchRow.id)
        if team_id is not None:
            query = query.where(LookalikeWatchRow.team_id == team_id)
        if channel_id is not None:
            query = query.where(LookalikeWatchRow.channel_id == channel_id)
        with self._sessions() as session:
            return [_watch(row) for row in session.scalars(query)]

    def watch_generation(self) -> tuple[int, int]:
        """Changes whenever a watch is added or removed: (count, highest id)."""
        with self._sessions() as session:
            count, top = session.execute(
                select(func.count(LookalikeWatchRow.id), func.max(LookalikeWatchRow.id))
            ).one()
            return int(count or 0), int(top or 0)

    # --- findings --------------------------------------------------------------

    def record_hits(self, hits: Sequence[FindingHit], *, now: datetime) -> RecordReport:
        """Store what the matcher found, in one transaction (see the module docstring). Two
        writers storing the same new finding at once (two logs, two processes): the loser's
        transaction is run again, and then finds the winner's finding."""
        for attempt in range(3):
            try:
                return self._record_hits(hits, now)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _record_hits(self, hits: Sequence[FindingHit], now: datetime) -> RecordReport:
        counts = {"finding": 0, "sighting": 0, "dismissed": 0, "silenced": 0, "": 0}
        with self._sessions.begin() as session:
            for hit in hits:
                if self._dismissed(session, hit.team_id, hit.channel_id, hit.domain):
                    counts["dismissed"] += 1
                    continue
                finding = session.scalars(
                    select(LookalikeFindingRow).where(
                        LookalikeFindingRow.team_id == hit.team_id,
                        LookalikeFindingRow.channel_id == hit.channel_id,
                        LookalikeFindingRow.domain == hit.domain,
                    )
                ).first()
                if finding is None:
                    counts[_new_finding(session, hit, now)] += 1
                else:
                    counts[_known_finding(session, finding, hit, now)] += 1
        return RecordReport(counts["finding"], counts["sighting"], counts["dismissed"], counts["silenced"])

    def findings(
        self,
        *,
        team_id: str | None = None,
        channel_id: str | None = None,
        domain: str | None = None,
        term: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after_id: int = 0,
        limit: int = 200,
    ) -> list[Finding]:
        """Findings oldest first, narrowed by the filters given (`term`: a watch's term)."""
        query = select(LookalikeFindingRow).where(LookalikeFindingRow.id > after_id)
        if team_id is not None:
            query = query.where(LookalikeFindingRow.team_id == team_id)
        if channel_id is not None:
            query = query.where(LookalikeFindingRow.channel_id == channel_id)
        if domain is not None:
            query = query.where(LookalikeFindingRow.domain == domain)
        if start is not None:
            query = query.where(LookalikeFindingRow.first_seen_at >= start)
        if end is not None:
            query = query.where(LookalikeFindingRow.first_seen_at < end)
        query = query.order_by(LookalikeFindingRow.id)
        with self._sessions() as session:
            rows = list(session.scalars(query))
            if term is not None:
                rows = [r for r in rows if any(reason.get("term") == term for reason in r.reasons)]
            rows = rows[:limit]
            counts: dict[int, int] = dict(
                session.execute(
                    select(LookalikeSightingRow.finding_id, func.count(LookalikeSightingRow.id))
                    .where(LookalikeSightingRow.finding_id.in_([r.id for r in rows]))
                    .group_by(LookalikeSightingRow.finding_id)
                )
                .tuples()
                .all()
            )
            quiet = {
                (d.team_id, d.channel_id, d.domain)
                for d in session.scalars(
                    select(LookalikeDismissalRow).where(
                        LookalikeDismissalRow.domain.in_({r.domain for r in rows})
                    )
                )
            }
            return [
                finding_of(r, int(counts.get(r.id, 0)), (r.team_id, r.channel_id, r.domain) in quiet)
                for r in rows
            ]

    def finding_at(self, *, team_id: str, channel_id: str, message_ts: str) -> Finding | None:
        """The finding whose alert was posted as `message_ts` in the channel."""
        with self._sessions() as session:
            row = session.scalars(
                select(LookalikeFindingRow).where(
                    LookalikeFindingRow.team_id == team_id,
                    LookalikeFindingRow.channel_id == channel_id,
                    LookalikeFindingRow.message_ts == message_ts,
                )
            ).first()
            return None if row is None else finding_of(row, 0, False)

    def dismiss(self, *, team_id: str, channel_id: str, domain: str, user_id: str, now: datetime) -> bool:
        """Quiet `domain` in the channel for good; False if it already was. Its undelivered
        messages are dropped."""
        with self._sessions.begin() as session:
            if self._dismissed(session, team_id, channel_id, domain):
                return False
            session.add(
                LookalikeDismissalRow(
                    team_id=team_id,
                    channel_id=channel_id,
                    domain=domain,
                    dismissed_by=user_id,
                    dismissed_at=now,
                )
            )
            finding_ids = select(LookalikeFindingRow.id).where(
                LookalikeFindingRow.team_id == team_id,
                LookalikeFindingRow.channel_id == channel_id,
                LookalikeFindingRow.domain == domain,
            )
            session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.finding_id.in_(finding_ids),
                    OutboxRow.kind == OutboxKind.SIGHTING.value,
                    OutboxRow.delivered_at.is_(None),
                )
                .values(abandoned_at=now, last_error="dismissed")
            )
        return True

    @staticmethod
    def _dismissed(session: Session, team_id: str, channel_id: str, domain: str) -> bool:
        return (
            session.scalar(
                select(LookalikeDismissalRow.id).where(
                    LookalikeDismissalRow.team_id == team_id,
                    LookalikeDismissalRow.channel_id == channel_id,
                    LookalikeDismissalRow.domain == domain,
                )
            )
            is not None
        )

    # --- resolved permutations -------------------------------------------------

    def permutation_states(self, domains: Sequence[str]) -> dict[str, PermutationState]:
        found: dict[str, PermutationState] = {}
        with self._sessions() as session:
            for start in range(0, len(domains), 500):
                chunk = list(domains[start : start + 500])
                for row in session.scalars(
                    select(PermutationStateRow).where(PermutationStateRow.domain.in_(chunk))
                ):
                    found[row.domain] = PermutationState(row.domain, row.resolves, row.has_mx, row.checked_at)
        return found

    def save_permutation_states(self, states: Sequence[PermutationState]) -> None:
        with self._sessions.begin() as session:
            domains = [s.domain for s in states]
            for start in range(0, len(domains), 500):
                session.execute(
                    delete(PermutationStateRow).where(
                        PermutationStateRow.domain.in_(domains[start : start + 500])
                    )
                )
            session.add_all(
                PermutationStateRow(
                    domain=s.domain, resolves=s.resolves, has_mx=s.has_mx, checked_at=s.checked_at
                )
                for s in states
            )


def _new_finding(session: Session, hit: FindingHit, now: datetime) -> str:
    """The first match of a domain in a channel: the finding, its certificate, and its
    alert unless silenced. Returns what it counts as (`finding`, `silenced`)."""
    finding = LookalikeFindingRow(
        team_id=hit.team_id,
        channel_id=hit.channel_id,
        domain=hit.domain,
        name=hit.name,
        reasons=list(hit.reasons),
        source=hit.source,
        issuer=hit.sighting.issuer if hit.sighting else None,
        first_seen_at=hit.seen_at,
        silenced=hit.silenced,
    )
    session.add(finding)
    session.flush()
    if hit.sighting is not None:
        session.add(_sighting_row(finding.id, hit.sighting))
    if hit.silenced is not None:
        return "silenced"
    session.add(_delivery(finding, None, now))
    return "finding"


def _known_finding(session: Session, finding: LookalikeFindingRow, hit: FindingHit, now: datetime) -> str:
    """Another match of a known finding: its watches named, a new certificate stored with a
    thread reply (none when silenced), and the alert of a finding silenced so far once a
    match is not. Returns what it counts as (`sighting`, `finding`, `silenced`, or `""`)."""
    known = {reason.get("watch_id") for reason in finding.reasons}
    extra = [r for r in hit.reasons if r.get("watch_id") not in known]
    if extra:  # another watch of the channel matches it too: named, no new alert
        finding.reasons = [*finding.reasons, *extra]
    row = None
    if hit.sighting is not None:
        seen = session.scalar(
            select(LookalikeSightingRow.id).where(
                LookalikeSightingRow.finding_id == finding.id,
                LookalikeSightingRow.issuer == hit.sighting.issuer,
                LookalikeSightingRow.serial == hit.sighting.serial,
            )
        )
        if seen is not None:
            return ""  # the same certificate: its precertificate, or another log
        row = _sighting_row(finding.id, hit.sighting)
        session.add(row)
        session.flush()
    if hit.silenced is not None:
        return "silenced" if row is not None else ""
    if finding.silenced is not None:  # never alerted here: its alert now, with what is known
        finding.silenced = None
        session.add(_delivery(finding, None, now))
        return "finding"
    if row is None:
        return ""
    session.add(_delivery(finding, row.id, now))
    return "sighting"


def _watch(row: LookalikeWatchRow) -> Watch:
    return Watch(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        kind=WatchKind(row.kind),
        term=row.term,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def finding_of(row: LookalikeFindingRow, certificates: int, dismissed: bool) -> Finding:
    return Finding(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        domain=row.domain,
        name=row.name,
        reasons=tuple(row.reasons),
        source=row.source,
        issuer=row.issuer,
        first_seen_at=row.first_seen_at,
        message_ts=row.message_ts,
        certificates=certificates,
        dismissed=dismissed,
        silenced=row.silenced,
    )


def _sighting_row(finding_id: int, sighting: Sighting) -> LookalikeSightingRow:
    return LookalikeSightingRow(
        finding_id=finding_id,
        issuer=sighting.issuer[:2000],
        serial=sighting.serial[:128],
        name=sighting.name[:255],
        log=sighting.log[:2000],
        log_index=sighting.index,
        logged_at=sighting.logged_at,
    )


def sighting_of(row: LookalikeSightingRow) -> Sighting:
    return Sighting(row.log, row.log_index, row.name, row.issuer, row.serial, row.logged_at)


def _delivery(finding: LookalikeFindingRow, sighting_id: int | None, now: datetime) -> OutboxRow:
    """The finding's alert (or a later certificate's reply in its thread), queued in the
    one outbox with the channel's other messages."""
    return OutboxRow(
        kind=(OutboxKind.LOOKALIKE if sighting_id is None else OutboxKind.SIGHTING).value,
        team_id=finding.team_id,
        channel_id=finding.channel_id,
        finding_id=finding.id,
        sighting_id=sighting_id,
        datasets=[],
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
