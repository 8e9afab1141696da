"""Tables. Observations are intervals (value, first_seen, last_seen): rows change only
when what is observed changes, never because a check ran."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Subject(Base):
    """An indicator being collected. Several channels' monitors share one subject."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_check_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Monitor(Base):
    """A channel's request to be told when a subject changes. Its mutes are suppressions
    (SuppressionRow, kind `mute`)."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "subject_id", name="uq_monitor_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Free labels set through the API (a report name, a campaign); filterable there.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))


class DatasetState(Base):
    """Per subject and dataset: baseline, freshness and health."""

    __tablename__ = "dataset_states"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(32), primary_key=True)
    baseline_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Per source: the fields with a baseline, and why a source without one is pending
    # (bot/core/observations.SourceBaselines). NULL: stored before baselines were kept
    # per source (the open facts' sources stand in, bot/monitoring/diff.legacy_baselines).
    sources: Mapped[str | None] = mapped_column(Text, nullable=True)


class FactRow(Base):
    """One observed value as an interval. Open while status is not 'closed'."""

    __tablename__ = "facts"
    __table_args__ = (
        Index("ix_facts_open", "subject_id", "dataset", "status"),
        # "Which monitored domains resolve to this IP?" Partial: only addresses are short
        # enough for a b-tree; TXT values can be kilobytes.
        Index(
            "ix_facts_address",
            "value",
            postgresql_where=text("field IN ('A', 'AAAA')"),
            sqlite_where=text("field IN ('A', 'AAAA')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ChangeRow(Base):
    """A confirmed change. Rows of one check of one subject share a batch id."""

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_subject_time", "subject_id", "detected_at"),
        Index("ix_changes_time", "detected_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    dataset: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    alerted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class OutboxRow(Base):
    """A message to deliver to one Slack channel, written in the same transaction as what
    it tells: an alert (and its copy's triage: a *delivery*), a follow-up in an alert's
    thread, a lookalike finding, a later certificate of one, or the notice that a
    suppression ended. One queue: one channel's messages go out in order."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),
        Index("ix_outbox_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="alert", server_default="alert")
    # An alert's (kind alert): the subject and the check that found its changes.
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    # A lookalike finding's alert (kind lookalike) or a later certificate of it (sighting).
    finding_id: Mapped[int | None] = mapped_column(
        ForeignKey("lookalike_findings.id", ondelete="CASCADE", name="fk_outbox_finding")
    )
    sighting_id: Mapped[int | None] = mapped_column(Integer)
    suppression_id: Mapped[int | None] = mapped_column(Integer)  # kind notice: the one that ended
    datasets: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set when Slack refused the alert for good (channel archived, bot removed): it stays
    # on record with its error, but no longer blocks the channel's queue.
    abandoned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_ts: Mapped[str | None] = mapped_column(String(32))


class AlertRow(Base):
    """One check of one subject that found changes worth an alert (the alerted changes of
    its batch): what the API lists and webhooks carry. Ids are handed out in commit order
    (see Store.record_check), so a cursor over them never skips a row; AUTOINCREMENT
    keeps SQLite from reusing the id of a deleted newest row."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_time", "detected_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[str] = mapped_column(String(32), unique=True)
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReceiverDeliveryRow(Base):
    """An alert to send to one HTTP receiver (bot/alerts/delivery/receivers.py): a webhook (the
    global one, `channel_id` None, or a channel's), MISP or TheHive; written in the same
    transaction as the alert, one row per (alert, channel, receiver)."""

    __tablename__ = "receiver_deliveries"
    __table_args__ = (Index("ix_receiver_pending", "delivered_at", "abandoned_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    receiver: Mapped[str] = mapped_column(String(16), server_default="webhook")
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    datasets: Mapped[list[str]] = mapped_column(JSON)
    # MISP: the event the monitor came from (its uuid); None: the monitor's own event.
    origin_event: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # when it last ended
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    abandoned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SourceFailureRow(Base):
    """A failed lookup, kept for source health reports (grows with failures, not checks)."""

    __tablename__ = "source_failures"
    __table_args__ = (Index("ix_source_failures_time", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class DigestRun(Base):
    """One channel's digest of one day. The unique row is the claim: whoever inserts it
    posts the digest; its progress columns let a successor finish a crashed post without
    repeating what Slack already has."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "day", name="uq_digest_run_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # claimed, posted, skipped, failed
    claim_token: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    message_ts: Mapped[str | None] = mapped_column(String(32))  # the parent, once posted
    steps_done: Mapped[int] = mapped_column(Integer, default=0)  # thread files and notes sent
    emailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class LookalikeWatchRow(Base):
    """A channel's watch for lookalikes of a brand domain, or for names containing a word."""

    __tablename__ = "lookalike_watches"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "kind", "term", name="uq_lookalike_watch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # lookalike, keyword
    term: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LookalikeFindingRow(Base):
    """One lookalike registrable domain found for one channel: one alert, whichever and
    however many of the channel's watches match it; later certificates go to its thread."""

    __tablename__ = "lookalike_findings"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "domain", name="uq_lookalike_finding"),
        Index("ix_lookalike_findings_time", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))  # the name first seen (www.interfaxru.com)
    # [{"watch_id", "kind", "term", "rule", "detail", "why"}]: every watch that matched.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))  # ct, dns
    issuer: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    message_ts: Mapped[str | None] = mapped_column(String(32))  # the alert, once posted
    # The policy stage (mute, snooze) that kept its alert out of the channel; None once
    # an alert was queued (at once, or with a later certificate after the silence ended).
    silenced: Mapped[str | None] = mapped_column(String(16))


class LookalikeSightingRow(Base):
    """A certificate of a finding's domain. A precertificate and its certificate (in any
    number of logs) share issuer and serial: one row."""

    __tablename__ = "lookalike_sightings"
    __table_args__ = (UniqueConstraint("finding_id", "issuer", "serial", name="uq_lookalike_sighting"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("lookalike_findings.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    log: Mapped[str] = mapped_column(Text)
    log_index: Mapped[int] = mapped_column(Integer)
    logged_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LookalikeDismissalRow(Base):
    """ "Not a lookalike": the domain stays quiet in the channel, whichever watch matches it."""

    __tablename__ = "lookalike_dismissals"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "domain", name="uq_lookalike_dismissal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255))
    dismissed_by: Mapped[str] = mapped_column(String(64))
    dismissed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PermutationStateRow(Base):
    """What the last resolution of a permutation found: NXDOMAIN -> resolving, or gaining
    MX, is a finding."""

    __tablename__ = "permutation_states"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    resolves: Mapped[bool] = mapped_column(Boolean)
    has_mx: Mapped[bool] = mapped_column(Boolean)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class CtLogPosition(Base):
    """How far the Certificate Transparency reader has read one log: entries before
    `position` were handed to the watches; `tree_size` is the log's size when last seen."""

    __tablename__ = "ct_log_positions"

    log: Mapped[str] = mapped_column(String(512), primary_key=True)  # its url / monitoring_url
    position: Mapped[int] = mapped_column(BigInteger)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryTriageRow(Base):
    """Where a channel is with its copy of an alert (an outbox row): its triage state (no
    row: `open`), who set it, when and why. What one channel decides never touches
    another's copy of the same alert."""

    __tablename__ = "delivery_triage"

    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # open, acknowledged, expected, false_positive
    set_by: Mapped[str] = mapped_column(String(128))  # a Slack user id, or api:<token name>
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class SuppressionRow(Base):
    """Something that silences a monitor's alerts for a while: a value marked false positive
    (`value`: that value of that dataset, both directions), a snooze (the whole monitor) or
    a mute (one dataset). Or a lookalike/keyword watch's (`watch_id`, no monitor): a snooze
    or a mute of the whole watch (bot/watches/store/suppressions.py). A mute until unmuted
    ends at bot/triage/model.UNTIMED. Lifted early or expired, it stays on record."""

    __tablename__ = "suppressions"
    __table_args__ = (
        Index("ix_suppressions_active", "monitor_id", "expires_at"),
        Index("ix_suppressions_watch", "watch_id", "expires_at"),
        CheckConstraint("(monitor_id IS NULL) <> (watch_id IS NULL)", name="ck_suppressions_one_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A monitor's (with its subject), or a watch's: never both.
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    watch_id: Mapped[int | None] = mapped_column(ForeignKey("lookalike_watches.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # value, snooze, mute
    dataset: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    alert_id: Mapped[int | None] = mapped_column(Integer)  # the alert marked false positive
    delivery_id: Mapped[int | None] = mapped_column(Integer)  # its copy in this channel (outbox id)
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(128))
    # Set once the channel was told the suppression ended by itself.
    end_noticed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SilencedChangeRow(Base):
    """A change kept out of one channel's alert by a policy stage (mute, snooze, suppress):
    stored so history can show it as suppressed and the digest can count it."""

    __tablename__ = "silenced_changes"
    __table_args__ = (
        Index("ix_silenced_batch", "batch_id"),
        Index("ix_silenced_channel_time", "team_id", "channel_id", "detected_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(32))
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertThreadRow(Base):
    """An outbox row posted as a follow-up in the thread of an earlier, still open alert
    of the same monitor (`parent_id`, an outbox row) instead of a new top-level message."""

    __tablename__ = "alert_threads"

    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)


class SourceQuotaRow(Base):
    """One row per quota-limited source: the row every process locks to take a request slot,
    so slots are counted one claimer at a time across all processes."""

    __tablename__ = "source_quotas"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SourceRequestRow(Base):
    """One HTTP request to a source: when its slot was taken, how it ended and how long it
    took. Counted for quotas (sliding windows) and read for source health; kept a day."""

    __tablename__ = "source_requests"
    __table_args__ = (Index("ix_source_requests_source_at", "source", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))  # ok, or the kind of error; None: in flight
    latency_ms: Mapped[int | None] = mapped_column(Integer)


class SourceWaitRow(Base):
    """A lookup that could not get a slot and will come back for one (a new monitor's
    baseline, a manual check): queued in priority order, with the time it was told."""

    __tablename__ = "source_waits"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(255), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    expected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SourceTurnRow(Base):
    """When a quota-limited source was last asked about an indicator: its next turn comes
    one planned interval later."""

    __tablename__ = "source_turns"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SourceOutageRow(Base):
    """A source failing for longer than the notice delay; the notice columns are claims, so
    each of its two notices is posted once whatever the number of processes."""

    __tablename__ = "source_outages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    noticed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recovered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recovery_noticed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RateBucketRow(Base):
    """A shared token bucket (a user's command rate): every process takes from the same row."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SeenSignatureRow(Base):
    """A Slack request signature already served, kept for the five minutes it is valid:
    a replay to any process is refused."""

    __tablename__ = "seen_signatures"
    __table_args__ = (Index("ix_seen_signatures_stamp", "stamp"),)

    signature: Mapped[str] = mapped_column(String(80), primary_key=True)
    stamp: Mapped[int] = mapped_column(Integer)


class CheckRequestRow(Base):
    """A check asked for by a person (a new monitor's baseline, `/monitor check`), for a
    worker process to run first; `done_at` tells the asker it ran."""

    __tablename__ = "check_requests"
    __table_args__ = (Index("ix_check_requests_open", "done_at", "requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)


class ResolverVerdictRow(Base):
    """The last verdict of the resolver check for one resolver (as configured: its
    addresses), written by every process that checks it and read by those that do not."""

    __tablename__ = "resolver_verdicts"

    resolver: Mapped[str] = mapped_column(
        String(255), primary_key=True
    )  # "10.0.0.2:53", "the system resolver"
    problem: Mapped[str | None] = mapped_column(Text)  # None: it passed
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the first failing check in a row


class SlashCommandRow(Base):
    """A slash command the web process answered and handed to a worker to run. `key` is
    the request's signature (Socket Mode: its envelope), unique: a replay to any process
    is dropped here. `fields` (with the command's response_url) is cleared once it ran;
    the key is kept for the five minutes a signature is valid."""

    __tablename__ = "slash_commands"
    __table_args__ = (Index("ix_slash_commands_open", "done_at", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    fields: Mapped[Any] = mapped_column(JSON, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
