"""What each /monitor verb does. Shared by every surface (Slack, console): a surface
turns its input into text and a Caller, and shows the Messages that come back."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

from bot.commands.access import AccessPolicy, CommandRateLimiter, SharedRateLimiter
from bot.commands.grammar import (
    AddCommand,
    CheckCommand,
    Command,
    DigestCommand,
    HealthCommand,
    HelpCommand,
    HistoryCommand,
    ListCommand,
    MuteCommand,
    RemoveCommand,
    StatusCommand,
    parse_command,
)
from bot.errors import NotPermitted, UserInputError
from bot.model.indicators import Indicator, parse_indicator
from bot.model.observations import ADDRESS_AND_NAME_FIELDS
from bot.monitoring.quota import (
    BOTH_KINDS,
    SOURCE_DATASETS,
    SOURCE_FEEDS,
    SOURCE_KINDS,
    SOURCE_LABELS,
    QuotaGate,
    describe_budget,
    describe_interval,
)
from bot.monitoring.requested_checks import Checks
from bot.render.health import SourceHealthRow, build_health_message, build_home_health_blocks
from bot.render.home import HomeRow, build_home_blocks
from bot.render.investigation import build_investigation_message
from bot.render.limits import MAX_BLOCKS_HOME
from bot.render.messages import Block, Message
from bot.render.mrkdwn import mention
from bot.render.replies import (
    DatasetView,
    ListRow,
    build_added_message,
    build_baseline_message,
    build_check_message,
    build_error_message,
    build_help_message,
    build_history_message,
    build_list_message,
    build_muted_message,
    build_notice_message,
    build_removed_message,
    build_status_message,
)
from bot.storage.history import HistoryStore
from bot.storage.quotas import QuotaStore
from bot.storage.repository import AsyncStore, MonitorView, SubjectView

# Fact fields whose values identify infrastructure: two indicators sharing one of these
# values share infrastructure (an address, a name server, a mail host, a certificate).
SHARED_FIELDS = ADDRESS_AND_NAME_FIELDS - {"subdomain"} | {"registrant_email", "cidr", "tls_fingerprint"}
HISTORY_LIMIT = 200

log = logging.getLogger(__name__)

FollowUp = Callable[[], Awaitable[list[Message]]]


@dataclass(frozen=True)
class Caller:
    team_id: str
    channel_id: str
    user_id: str


@dataclass(frozen=True)
class CommandResult:
    """`reply` answers at once (Slack's 3-second window); `follow_up`, when set, does the
    slow part (checks) and returns what to show after it. `public` replies are said in
    the channel (who muted what), the rest only to the user."""

    reply: Message
    follow_up: FollowUp | None = None
    public: bool = False


class DigestRequester(Protocol):
    """Posts a channel's digest of today on request (`/monitor digest`)."""

    async def post_digest_now(self, team_id: str, channel_id: str) -> str:
        """Post it; return a short confirmation to show the user. UserInputError for
        what the user should hear (nothing to digest)."""
        ...


class MonitorFlows:
    def __init__(
        self,
        store: AsyncStore,
        runner: Checks,
        *,
        clock: Callable[[], datetime],
        history: HistoryStore | None = None,
        digests: DigestRequester | None = None,
        timezone: tzinfo = UTC,
        access: AccessPolicy | None = None,
        rate_limit: CommandRateLimiter | SharedRateLimiter | None = None,
        quotas: QuotaStore | None = None,
        gate: QuotaGate | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        self.history = history if history is not None else HistoryStore(store.store.engine)
        # Set by the composition root once digests are wired; None: `/monitor digest` says so.
        self.digests = digests
        self.timezone = timezone
        self.access = access if access is not None else AccessPolicy()
        self.rate_limit = rate_limit
        # Quota-limited sources: which lookups wait for a slot, and each source's plan.
        self.quotas = quotas
        self.gate = gate

    async def throttled(self, caller: Caller) -> Message | None:
        """The reply to a user over the command rate limit (None: go ahead). Counts the command."""
        if self.rate_limit is None:
            return None
        wait = await self.rate_limit.wait_for(caller.team_id, caller.user_id)
        if wait <= 0:
            return None
        return build_error_message(
            f"Slow down: Watchpost takes at most {self.rate_limit.per_minute} commands a minute from "
            f"one person. Try again in {math.ceil(wait)} s; nothing was done."
        )

    async def execute(self, text: str, caller: Caller) -> CommandResult:
        """Run a /monitor command. User errors become an error reply; anything else is
        logged with an id and answered with a short apology naming it."""
        refusal = await self.throttled(caller)
        if refusal is not None:
            return CommandResult(refusal)
        command: Command | None = None
        try:
            command = parse_command(text)
            result = await self._dispatch(command, caller)
        except NotPermitted as exc:
            return CommandResult(build_error_message(self._not_permitted(exc, command)))
        except UserInputError as exc:
            return CommandResult(build_error_message(str(exc)))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("command failed (incident %s)", incident)
            return CommandResult(
                build_error_message(f"Sorry, something went wrong on our side (incident `{incident}`).")
            )
        if result.follow_up is not None:
            return replace(result, follow_up=self._guarded(result.follow_up))
        return result

    async def _dispatch(self, command: Command, caller: Caller) -> CommandResult:
        match command:
            case HelpCommand():
                return CommandResult(build_help_message())
            case AddCommand(indicators):
                return await self._add(indicators, caller)
            case RemoveCommand(indicators):
                removed = await self.store.run(
                    self.store.store.remove_monitors,
                    team_id=caller.team_id,
                    channel_id=caller.channel_id,
                    indicators=[i.value for i in indicators],
                    owner=self.access.owner_filter(caller.user_id),
                )
                return CommandResult(build_removed_message(removed))
            case ListCommand():
                monitors = await self.store.run(
                    self.store.store.list_monitors, team_id=caller.team_id, channel_id=caller.channel_id
                )
                rows = [
                    ListRow(m.indicator, m.kind.value, m.last_checked_at, m.stale_datasets, m.muted)
                    for m in monitors
                ]
                return CommandResult(build_list_message(rows))
            case StatusCommand(indicator):
                return await self._status(indicator, caller)
            case CheckCommand(indicator):
                return await self._check(indicator, caller)
            case HistoryCommand(indicator, day, dataset):
                return await self._history(indicator, day, dataset, caller)
            case MuteCommand(indicator, dataset, muted):
                await self.store.run(
                    self.store.store.set_muted,
                    team_id=caller.team_id,
                    channel_id=caller.channel_id,
                    indicator=indicator.value,
                    dataset=dataset,
                    muted=muted,
                    owner=self.access.owner_filter(caller.user_id),
                )
                log.info(
                    "%s %s of %s in %s/%s by %s",
                    "muted" if muted else "unmuted",
                    dataset,
                    indicator.value,
                    caller.team_id,
                    caller.channel_id,
                    caller.user_id,
                )
                message = build_muted_message(indicator.value, dataset, muted=muted, user_id=caller.user_id)
                return CommandResult(message, public=True)
            case DigestCommand():
                return self._digest(caller)
            case HealthCommand():
                return CommandResult(build_health_message(await self.source_health()))
        raise AssertionError(f"unhandled command {command!r}")

    def _not_permitted(self, exc: NotPermitted, command: Command | None) -> str:
        """Who may do it instead: the creator of each monitor, or an admin."""
        verb = "change"
        if isinstance(command, RemoveCommand):
            verb = "remove"
        elif isinstance(command, MuteCommand):
            verb = "mute" if command.muted else "unmute"
        admins = " or a Watchpost admin" if self.access.admins else ""
        if len(exc.owners) == 1:
            [(indicator, owner)] = exc.owners.items()
            return (
                f"Only {mention(owner)}, who added `{indicator}` here{admins}, can {verb} it. "
                "Nothing was changed."
            )
        owners = ", ".join(f"`{i}` by {mention(owner)}" for i, owner in list(exc.owners.items())[:20])
        return f"Only whoever added a monitor{admins} can {verb} it: {owners}. Nothing was changed."

    def _digest(self, caller: Caller) -> CommandResult:
        digests = self.digests
        if digests is None:
            raise UserInputError(
                "Digests are not configured yet on this Watchpost, so there is nothing to post. "
                "Alerts still arrive as changes are found."
            )

        async def post() -> list[Message]:
            confirmation = await digests.post_digest_now(caller.team_id, caller.channel_id)
            return [build_notice_message(confirmation)]

        return CommandResult(Message("Posting today's digest for this channel…"), post)

    def _guarded(self, follow_up: FollowUp) -> FollowUp:
        """A follow-up whose failures become messages, like the command's own."""

        async def run() -> list[Message]:
            try:
                return await follow_up()
            except UserInputError as exc:
                return [build_error_message(str(exc))]
            except Exception:
                incident = uuid.uuid4().hex[:8]
                log.exception("follow-up failed (incident %s)", incident)
                return [
                    build_error_message(f"Sorry, something went wrong on our side (incident `{incident}`).")
                ]

        return run

    async def _history(
        self, indicator: Indicator, day: date | None, dataset: str | None, caller: Caller
    ) -> CommandResult:
        await self._monitored_here(indicator, caller)
        subject = await self._subject(indicator)
        start = end = None
        if day is not None:
            start = datetime.combine(day, time(0), self.timezone).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1), time(0), self.timezone).astimezone(UTC)
        records = await self.store.run(
            self.history.history, subject.id, start=start, end=end, dataset=dataset, limit=HISTORY_LIMIT
        )
        pairs = [(r.detected_at, r.change) for r in records]
        message = build_history_message(
            indicator.value, pairs, day=day, dataset=dataset, limited=len(records) >= HISTORY_LIMIT
        )
        return CommandResult(message)

    # --- pivots and the App Home -----------------------------------------------------

    async def investigate(self, text: str, *, team_id: str) -> CommandResult:
        """What every dataset sees of an indicator now (nothing stored), and which
        monitored indicators of the team share its infrastructure: a public reply (for
        the alert's thread), or an error for the one who asked."""
        try:
            indicator = parse_indicator(text)
            observations = await self.runner.collect(indicator.value, indicator.kind)
            values = [fact.value for o in observations for fact in o.facts if fact.field in SHARED_FIELDS]
            shared = await self.store.run(
                self.store.store.shared_infrastructure,
                team_id=team_id,
                indicator=indicator.value,
                values=values,
                fields=SHARED_FIELDS,
            )
            monitors = await self.store.run(self.store.store.list_monitors, team_id=team_id)
            monitored_in = [m.channel_id for m in monitors if m.indicator == indicator.value]
        except UserInputError as exc:
            return CommandResult(build_error_message(str(exc)))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("investigation failed (incident %s)", incident)
            apology = f"Sorry, the investigation failed on our side (incident `{incident}`)."
            return CommandResult(build_error_message(apology))
        message = build_investigation_message(
            indicator.value,
            indicator.kind,
            observations,
            shared,
            looked_up_at=self.clock(),
            monitored_in=monitored_in,
        )
        return CommandResult(message, public=True)

    async def home_blocks(
        self, *, team_id: str, user_id: str, channel_ids: Collection[str] | None
    ) -> list[Block]:
        """The App Home of a user: the team's monitors in `channel_ids` (the channels the
        user is in), or, when those are unknown, the monitors the user created."""
        monitors = await self.store.run(self.store.store.list_monitors, team_id=team_id)
        if channel_ids is None:
            visible = [m for m in monitors if m.created_by == user_id]
        else:
            wanted = set(channel_ids)
            visible = [m for m in monitors if m.channel_id in wanted]
        now = self.clock()
        day_start = datetime.combine(now.astimezone(self.timezone).date(), time(0), self.timezone)
        subject_ids = sorted({m.subject_id for m in visible})
        summaries = await self.store.run(
            self.history.summaries, subject_ids, day_start=day_start.astimezone(UTC)
        )
        by_indicator: dict[str, list[str]] = {}
        muted: dict[str, set[str]] = {}
        for m in visible:
            by_indicator.setdefault(m.indicator, []).append(m.channel_id)
            muted.setdefault(m.indicator, set()).update(m.muted)
        rows = []
        for summary in summaries.values():
            rows.append(
                HomeRow(
                    indicator=summary.indicator,
                    kind=summary.kind.value,
                    channel_ids=tuple(sorted(by_indicator.get(summary.indicator, ()))),
                    datasets_today=summary.datasets_today,
                    last_alert_at=summary.last_alert_at,
                    alert_count=summary.alert_count,
                    muted=tuple(sorted(muted.get(summary.indicator, ()))),
                )
            )
        blocks = build_home_blocks(rows, now=now, timezone=self.timezone)
        health = build_home_health_blocks(await self.source_health())
        if len(blocks) + len(health) <= MAX_BLOCKS_HOME:
            blocks.extend(health)
        return blocks

    async def _add(self, indicators: Sequence[Indicator], caller: Caller) -> CommandResult:
        added = await self.store.run(
            self.store.store.add_monitors,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            user_id=caller.user_id,
            indicators=[(i.value, i.kind) for i in indicators],
            now=self.clock(),
            first_check_delay=self.runner.interval,
            quota=self.access.channel_quota,
        )

        async def capture_baselines() -> list[Message]:
            async def one(subject_id: int, indicator: str) -> Message:
                subject = await self.store.run(self.store.store.get_subject, indicator)
                if subject is not None and subject.last_checked_at is None:
                    await self.runner.check(subject, manual=True)
                return build_baseline_message(indicator, await self._dataset_views(subject_id, indicator))

            fresh = [a for a in added if a.new_for_channel]
            return list(await asyncio.gather(*(one(a.subject_id, a.indicator) for a in fresh)))

        reply = build_added_message([(a.indicator, a.new_for_channel) for a in added])
        has_new = any(a.new_for_channel for a in added)
        return CommandResult(reply, capture_baselines if has_new else None)

    async def _status(self, indicator: Indicator, caller: Caller) -> CommandResult:
        monitor = await self._monitored_here(indicator, caller)
        subject = await self._subject(indicator)
        views = await self._dataset_views(subject.id, subject.indicator)
        plans = await self._plans(indicator, {view.name for view in views})
        return CommandResult(build_status_message(indicator.value, views, monitor.created_at, plans=plans))

    async def source_health(self) -> list[SourceHealthRow]:
        """Every source asked in the last day, and every quota-limited one, as health rows
        (from every process's requests)."""
        if self.quotas is None:
            return []
        now = self.clock()
        limits = dict(self.gate.limits) if self.gate is not None else {}
        known = await self.store.run(self.quotas.known_sources, now=now)
        wanted = {
            source: limits.get(source, ()) for source in {*known, *(s for s, lim in limits.items() if lim)}
        }
        usage = await self.store.run(self.quotas.usage, wanted, now=now)
        rows = []
        for item in usage:
            plan = await self.gate.plan(item.source) if self.gate is not None else None
            interval = f"every {describe_interval(plan.interval)}: {describe_budget(plan)}" if plan else ""
            rows.append(
                SourceHealthRow(
                    source=SOURCE_LABELS.get(item.source, item.source),
                    requests_hour=item.requests_hour,
                    requests_day=item.requests_day,
                    quota=tuple(
                        (_window_name(limit.window_seconds), used, limit.requests)
                        for limit, used in item.limits
                    ),
                    errors_day=item.errors_day,
                    last_success_at=item.last_success_at,
                    latency_p50_ms=item.latency_p50_ms,
                    latency_p95_ms=item.latency_p95_ms,
                    interval=interval,
                    waiting=item.waiting,
                    failing_since=item.failing_since,
                )
            )
        return rows

    async def _plans(self, indicator: Indicator, datasets: Collection[str]) -> list[str]:
        """How often each quota-limited source of these datasets is asked about one indicator."""
        if self.gate is None:
            return []
        lines = []
        for source in sorted(self.gate.limits):
            kinds = SOURCE_KINDS.get(source, BOTH_KINDS)
            feeds = SOURCE_DATASETS.get(source, ())
            if indicator.kind.value not in kinds or not any(d in datasets for d in feeds):
                continue
            plan = await self.gate.plan(source)
            if plan is not None:
                what = SOURCE_FEEDS.get(source, source)
                lines.append(f"{what} every {describe_interval(plan.interval)}: {describe_budget(plan)}")
        return lines

    async def _check(self, indicator: Indicator | None, caller: Caller) -> CommandResult:
        if indicator is None:
            monitors = await self.store.run(
                self.store.store.list_monitors, team_id=caller.team_id, channel_id=caller.channel_id
            )
            if not monitors:
                raise UserInputError("This channel monitors nothing yet.")
            names = [m.indicator for m in monitors]
        else:
            await self._monitored_here(indicator, caller)
            names = [indicator.value]

        async def run_checks() -> list[Message]:
            gate = asyncio.Semaphore(self.runner.concurrency)

            async def one(name: str) -> Message:
                async with gate:
                    subject = await self._subject_by_value(name)
                    report = await self.runner.check(subject, manual=True)
                failed = sorted({f.source for o in report.outcomes for f in o.observation.failures})
                return build_check_message(name, report.changes, failed=failed)

            return list(await asyncio.gather(*(one(name) for name in names)))

        plural = "s" * (len(names) != 1)
        reply = Message(f"Checking {len(names)} indicator{plural} now…")
        return CommandResult(reply, run_checks)

    async def _monitored_here(self, indicator: Indicator, caller: Caller) -> MonitorView:
        """The caller's channel's monitor of `indicator`, or a UserInputError saying how to add it."""
        monitor = await self.store.run(
            self.store.store.find_monitor,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            indicator=indicator.value,
        )
        if monitor is None:
            raise UserInputError(
                f"`{indicator.value}` is not monitored in this channel. "
                f"Add it with `/monitor {indicator.value}`."
            )
        return monitor

    async def _subject(self, indicator: Indicator) -> SubjectView:
        return await self._subject_by_value(indicator.value)

    async def _subject_by_value(self, value: str) -> SubjectView:
        subject = await self.store.run(self.store.store.get_subject, value)
        if subject is None:
            raise UserInputError(f"`{value}` is not monitored.")
        return subject

    async def _dataset_views(self, subject_id: int, indicator: str) -> list[DatasetView]:
        health = await self.store.run(self.store.store.dataset_health, subject_id)
        waits = await self.store.run(self.quotas.waits_for, indicator) if self.quotas is not None else {}
        return [
            DatasetView(
                h.dataset,
                h.facts,
                stale=h.stale,
                error=h.last_error,
                has_baseline=h.baseline_at is not None,
                pending=[
                    (source, at)
                    for source, at in sorted(waits.items())
                    if h.dataset in SOURCE_DATASETS.get(source, ())
                ],
            )
            for h in health
        ]


def _window_name(seconds: float) -> str:
    return {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}.get(seconds, f"{seconds:g} s")
