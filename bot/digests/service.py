"""The daily digest, posted: one per channel per day, exactly once, caught up after downtime.

`run_due()` is what the scheduler calls (at the digest time, at start and every few
minutes): for every channel that monitors something and every day of the last
`catch_up_days` whose digest time has passed and that has no finished run, it claims
the day (storage/digests.py), builds the digest from the stored history, posts the
parent message, uploads one CSV per dataset and posts the per-indicator notes in its
thread, emails it when email is configured, and marks it posted. A day with nothing to
report (no change, no failed lookup, and on the newest day nothing stale or unchecked)
is marked skipped and posts nothing.

A claim's progress is recorded after each step, so a digest whose poster died is
finished by the next run from where it stopped: the parent is never posted twice
unless the process dies in the instant between Slack accepting it and the database
recording its ts (at-least-once there, rather than losing the day's digest). A
transient failure (Slack rate limit, 5xx, SMTP down) releases the claim for the next
run; a permanent one (channel gone) or `max_attempts` failures give the day up.

`post_digest_now()` (`/monitor digest`) posts "today so far": the window from the latest
scheduled digest time until now, even when nothing happened. It does not count as the
day's digest and does not change it: the next scheduled digest still covers its whole
day. It is not emailed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Literal
from zoneinfo import ZoneInfo

from bot.alerts.delivery.mail import Mailer, compose_email
from bot.config import Settings
from bot.core.errors import UserInputError
from bot.core.message import Message
from bot.core.metrics import Metrics
from bot.core.transport import DeliveryError, Transport
from bot.digests.build import (
    CsvFile,
    Digest,
    DigestWindow,
    build_digest,
    daily_window,
    first_day_after,
    latest_due_day,
    so_far_window,
)
from bot.digests.render import build_digest_email, build_digest_message
from bot.digests.store import FINAL, DigestChannel, DigestClaim
from bot.investigations.messages.drawing import draw
from bot.storage.db import Database
from bot.watches.model import Finding

log = logging.getLogger(__name__)


@dataclass
class DigestReport:
    posted: list[tuple[str, date]] = field(default_factory=list)  # (channel, day)
    skipped: list[tuple[str, date]] = field(default_factory=list)
    failed: list[tuple[str, date]] = field(default_factory=list)
    retried: list[tuple[str, date]] = field(default_factory=list)  # failed for now: next run resumes

    def add(self, outcome: Outcome, channel_id: str, day: date) -> None:
        getattr(self, outcome).append((channel_id, day))


Outcome = Literal["posted", "skipped", "failed", "retried"]


class LostClaim(Exception):
    """Our lease ran out and another process took the digest over: stop here."""


class DigestService:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        settings: Settings,
        clock: Callable[[], datetime],
        mailer: Mailer | None = None,
        lease: timedelta = timedelta(minutes=10),
        catch_up_days: int = 7,
        max_attempts: int = 24,
        channel_concurrency: int = 4,
        metrics: Metrics | None = None,
        lookalikes: bool = False,  # lookalike watches on: the digest carries their findings
        week_chart: bool = False,
    ) -> None:
        self.db = db
        self.lookalikes = lookalikes
        # A small PNG of the week's changes per dataset, the last thing in the thread.
        self.week_chart = week_chart
        self.metrics = metrics
        self.transport = transport
        self.clock = clock
        self.mailer = mailer
        self.timezone: ZoneInfo = settings.timezone
        self.digest_time: time = settings.digest_time
        self.check_interval = timedelta(seconds=settings.check_interval)
        self.lease = lease
        self.catch_up_days = catch_up_days
        self.max_attempts = max_attempts
        self._gate = asyncio.Semaphore(channel_concurrency)
        self._running = asyncio.Lock()

    # --- scheduled --------------------------------------------------------------------

    async def run_due(self) -> DigestReport:
        """Post every digest that is due and not yet done, oldest day first per channel."""
        report = DigestReport()
        async with self._running:  # the cron and the catch-up job may meet: one after the other
            channels = await self.db.run(self.db.digests.channels)
            await asyncio.gather(*(self._run_channel(channel, report) for channel in channels))
        if self.metrics is not None:
            for outcome in ("posted", "skipped", "failed", "retried"):
                if done := len(getattr(report, outcome)):
                    self.metrics.digest_runs.labels(outcome).inc(done)
        return report

    def due_days(self, channel: DigestChannel, now: datetime) -> list[date]:
        """The days whose digest time has passed, at most `catch_up_days` back, none
        before the channel's first monitor."""
        latest = latest_due_day(now, self.digest_time, self.timezone)
        first = max(
            latest - timedelta(days=self.catch_up_days - 1),
            first_day_after(channel.monitoring_since, self.digest_time, self.timezone),
        )
        return [first + timedelta(days=n) for n in range((latest - first).days + 1)]

    async def _run_channel(self, channel: DigestChannel, report: DigestReport) -> None:
        async with self._gate:
            try:
                days = self.due_days(channel, self.clock())
                if not days:
                    return
                done = await self.db.run(
                    self.db.digests.runs, channel.team_id, channel.channel_id, since=days[0]
                )
                for day in days:
                    if day in done and done[day].status in FINAL:
                        continue
                    claim = await self.db.run(
                        self.db.digests.claim,
                        channel.team_id,
                        channel.channel_id,
                        day,
                        self.clock(),
                        lease=self.lease,
                    )
                    if claim is None:
                        continue  # another process has it, or finished it a moment ago
                    outcome = await self._run_claim(claim, newest=day == days[-1])
                    report.add(outcome, channel.channel_id, day)
            except Exception:
                # The database went away mid-run, or a bug: the next run starts over from
                # what the database says (a claim left behind is taken over after its lease).
                log.exception("digests for %s failed", channel.channel_id)

    async def _run_claim(self, claim: DigestClaim, *, newest: bool) -> Outcome:
        """Build and deliver a claimed digest; the outcome names a DigestReport list."""
        try:
            window = daily_window(claim.day, self.digest_time, self.timezone)
            digest = await self._build(claim.team_id, claim.channel_id, window, health=newest)
            if not digest.has_news and claim.message_ts is None:
                await self.db.run(self.db.digests.mark_skipped, claim)
                return "skipped"
            return await self._deliver(claim, digest)
        except LostClaim:
            log.warning("digest %s for %s: claim lost to another process", claim.day, claim.channel_id)
            return "retried"
        except Exception as exc:
            await self.db.run(self.db.digests.release, claim, error=f"{exc.__class__.__name__}: {exc}")
            raise

    async def _deliver(self, claim: DigestClaim, digest: Digest) -> Outcome:
        """Post what the claim has not posted yet, then email it."""
        progress = _DigestProgress(claim.message_ts, claim.steps_done, claim.emailed)
        try:
            await self._post_to_slack(claim, digest, progress)
        except DeliveryError as exc:
            if exc.permanent or claim.attempts >= self.max_attempts:
                log.error("digest %s for %s abandoned: %s", claim.day, claim.channel_id, exc)
                await self.db.run(self.db.digests.mark_failed, claim, error=str(exc))
                return "failed"
            log.warning("digest %s for %s failed, will retry: %s", claim.day, claim.channel_id, exc)
            await self.db.run(self.db.digests.release, claim, error=str(exc))
            return "retried"
        email_error = None
        if self.mailer is not None and not progress.emailed:
            try:
                await self._email(claim, digest)
            except DeliveryError as exc:
                if not exc.permanent and claim.attempts < self.max_attempts:
                    log.warning(
                        "digest email %s for %s failed, will retry: %s", claim.day, claim.channel_id, exc
                    )
                    await self.db.run(self.db.digests.release, claim, error=f"email: {exc}")
                    return "retried"
                # Slack has it all: the day counts as posted, with the email's error on record.
                log.error("digest email %s for %s abandoned: %s", claim.day, claim.channel_id, exc)
                email_error = f"email: {exc}"
        await self.db.run(self.db.digests.mark_posted, claim, self.clock(), error=email_error)
        return "posted"

    async def _post_to_slack(self, claim: DigestClaim, digest: Digest, progress: _DigestProgress) -> None:
        message = build_digest_message(digest)
        if progress.message_ts is None:
            ts = await self.transport.post(
                claim.channel_id, Message(message.text, message.blocks, label=message.label)
            )
            progress.message_ts = ts
            await self._record(claim, message_ts=ts)
        steps = _thread_steps(self.transport, claim.channel_id, digest, message)
        if progress.steps_done <= len(steps):
            steps += await self._chart_steps(claim.team_id, claim.channel_id, digest)
        for number, step in enumerate(steps, 1):
            if number <= progress.steps_done:
                continue
            await step(progress.message_ts)
            progress.steps_done = number
            await self._record(claim, steps_done=number)

    async def _email(self, claim: DigestClaim, digest: Digest) -> None:
        assert self.mailer is not None
        subject, body = build_digest_email(digest, claim.channel_id)
        email = compose_email(
            sender=self.mailer.sender,
            recipients=self.mailer.recipients,
            subject=subject,
            body=body,
            attachments=[(f.filename, f.content) for f in digest.files],
        )
        await self.mailer.send(email)
        await self._record(claim, emailed=True)

    async def _record(
        self,
        claim: DigestClaim,
        *,
        message_ts: str | None = None,
        steps_done: int | None = None,
        emailed: bool = False,
    ) -> None:
        kept = await self.db.run(
            self.db.digests.record_progress,
            claim,
            self.clock(),
            message_ts=message_ts,
            steps_done=steps_done,
            emailed=emailed,
        )
        if not kept:
            raise LostClaim

    # --- on demand --------------------------------------------------------------------

    async def post_digest_now(self, team_id: str, channel_id: str) -> str:
        """`/monitor digest`: post today's digest so far in the channel; returns the
        confirmation to show the user."""
        channel = await self.db.run(self.db.digests.channel, team_id, channel_id)
        if channel is None:
            raise UserInputError("This channel monitors nothing yet, so there is no digest to post.")
        now = self.clock()
        window = so_far_window(now, self.digest_time, self.timezone)
        digest = await self._build(team_id, channel_id, window, health=True)
        message = build_digest_message(digest)
        try:
            ts = await self.transport.post(
                channel_id, Message(message.text, message.blocks, label=message.label)
            )
            steps = _thread_steps(self.transport, channel_id, digest, message)
            for step in steps + await self._chart_steps(team_id, channel_id, digest):
                await step(ts)
        except DeliveryError as exc:
            if exc.permanent:
                raise UserInputError(
                    "I cannot post in this channel. Invite me to it (`/invite @Watchpost`) and try again."
                ) from None
            raise UserInputError("Slack did not take the digest just now; try again in a minute.") from None
        start = window.start.astimezone(self.timezone)
        same_day = start.date() == now.astimezone(self.timezone).date()
        since = f"{start:%H:%M %Z}" if same_day else f"{start:%A %H:%M %Z}"
        changes = f"{digest.total_changes} change{'s' * (digest.total_changes != 1)}"
        return f"Posted the digest so far: {changes} since {since}."

    # --- shared -----------------------------------------------------------------------

    async def _chart_steps(self, team_id: str, channel_id: str, digest: Digest) -> list[Step]:
        """The week chart's upload when it is on; none if it cannot be drawn (the digest
        itself matters more than its picture)."""
        if not self.week_chart:
            return []
        window = digest.window
        last_day = (window.end - timedelta(microseconds=1)).astimezone(window.tz).date()
        start = datetime.combine(last_day - timedelta(days=6), time(0), window.tz).astimezone(UTC)
        changes = await self.db.run(
            self.db.history.change_times, start, window.end, team_id=team_id, channel_id=channel_id
        )
        try:
            png = await draw("render_week_chart", changes, last_day=last_day, timezone=window.tz)
        except Exception:
            log.exception("week chart for %s not drawn", channel_id)
            return []
        # Named like the digest's CSVs: a digest asked for later the same day keeps its own.
        name = f"watchpost-{window.label}-week.png"
        upload = partial(
            self.transport.upload_file,
            channel_id,
            filename=name,
            content=png,
            title="changes per day this week",
        )
        return [lambda ts: upload(thread_ts=ts)]

    async def _build(self, team_id: str, channel_id: str, window: DigestWindow, *, health: bool) -> Digest:
        records = await self.db.run(
            self.db.history.changes_between, window.start, window.end, team_id=team_id, channel_id=channel_id
        )
        failures = await self.db.run(
            self.db.history.source_failures_between,
            window.start,
            window.end,
            team_id=team_id,
            channel_id=channel_id,
        )
        channel_health = await self.db.run(self.db.digests.health, team_id, channel_id) if health else None
        findings: list[Finding] = []
        if self.lookalikes:
            findings = await self.db.run(
                self.db.lookalikes.findings,
                team_id=team_id,
                channel_id=channel_id,
                start=window.start,
                end=window.end,
                limit=100_000,
            )
        batches = sorted({record.batch_id for record in records})
        states = await self.db.run(self.db.triage.batch_states, team_id, channel_id, batches)
        silenced = await self.db.run(self.db.triage.silenced_in, team_id, channel_id, batches)
        triage = {}
        for record in records:
            key = (record.change.dataset, record.change.field, record.change.value)
            if key in silenced.get(record.batch_id, set()):
                triage[record.id] = "suppressed"
            elif record.change.alert and record.batch_id in states:
                triage[record.id] = states[record.batch_id].value
        between = {"since": window.start, "until": window.end}
        return build_digest(
            records,
            failures,
            window=window,
            now=self.clock(),
            health=channel_health,
            triage=triage,
            open_alerts=await self.db.run(self.db.triage.open_count, team_id, channel_id, **between),
            suppressed=await self.db.run(self.db.triage.silenced_count, team_id, channel_id, **between),
            overdue_after=2 * self.check_interval,
            findings=findings,
        )


@dataclass
class _DigestProgress:
    message_ts: str | None
    steps_done: int
    emailed: bool


Step = Callable[[str], Awaitable[None]]


def _thread_steps(transport: Transport, channel_id: str, digest: Digest, message: Message) -> list[Step]:
    """What goes in the digest's thread, in a fixed order (progress counts these): one
    CSV per dataset, then the per-indicator notes."""
    uploads: list[Step] = [partial(_upload, transport, channel_id, csv_file) for csv_file in digest.files]
    notes: list[Step] = [partial(_post_note, transport, channel_id, note) for note in message.thread_messages]
    return uploads + notes


async def _upload(transport: Transport, channel_id: str, csv_file: CsvFile, thread_ts: str) -> None:
    await transport.upload_file(
        channel_id,
        thread_ts=thread_ts,
        filename=csv_file.filename,
        content=csv_file.content,
        title=f"{csv_file.dataset}: {csv_file.rows} change{'s' * (csv_file.rows != 1)}",
    )


async def _post_note(transport: Transport, channel_id: str, note: Message, thread_ts: str) -> None:
    await transport.post(channel_id, note, thread_ts=thread_ts)
