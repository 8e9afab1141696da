"""What each /monitor verb does. Shared by every surface (Slack, console): a surface
turns its input into text and a Caller, and shows the Messages that come back."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from time import monotonic
from typing import Protocol

from bot.commands.access import AccessPolicy
from bot.commands.grammar import (
    AddCommand,
    CheckCommand,
    Command,
    DigestCommand,
    HealthCommand,
    HelpCommand,
    HistoryCommand,
    LiftCommand,
    ListCommand,
    MispCommand,
    MuteCommand,
    RemoveCommand,
    StatusCommand,
    SuppressionsCommand,
    TimelineCommand,
    UnwatchCommand,
    WatchCommand,
    WatchMuteCommand,
    WatchSnoozeCommand,
    WatchStatusCommand,
    parse_command,
)
from bot.commands.imports import ImportFlows, MispEvents
from bot.commands.pivots import Pivots
from bot.commands.results import Caller, CommandResult, FollowUp
from bot.commands.watches import WatchFlows
from bot.errors import NotPermitted, UserInputError
from bot.model.ct_reading import CtReader, CtReading, CtState
from bot.model.indicators import Indicator
from bot.model.observations import IndicatorKind
from bot.model.triage import SuppressionKind, SuppressionView
from bot.model.watches import WatchKind
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
from bot.monitoring.requested_checks import CheckRunner
from bot.monitoring.resolver_check import SharedResolverVerdicts
from bot.render.ct_reading import watch_outlook_lines
from bot.render.health import HealthReport, SourceHealthRow, build_health_message
from bot.render.messages import Message
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
    build_lifted_message,
    build_list_message,
    build_muted_message,
    build_notice_message,
    build_removed_message,
    build_status_message,
    build_suppressions_message,
    build_timed_mute_message,
)
from bot.storage.ct_positions import CtPosition
from bot.storage.db import Database
from bot.storage.quotas import QuotaPlan, QuotaStore, SourceUsage
from bot.storage.rate_limits import RateLimiter
from bot.storage.receivers import ReceiverHealth
from bot.storage.resolver_verdicts import ResolverStatus
from bot.storage.views import AddedMonitor, MonitorView, SubjectView

HISTORY_LIMIT = 200
# How long a check's reply waits for Slack to confirm the alerts it posted.
DELIVERY_WAIT_SECONDS = 5.0

log = logging.getLogger(__name__)


def soonest_end_first(suppressions: Sequence[SuppressionView]) -> list[SuppressionView]:
    """Timed ones by their end, then those until unmuted (as `/monitor suppressions` lists them)."""
    return sorted(
        suppressions, key=lambda s: (s.expires_at is None, s.expires_at or datetime.min.replace(tzinfo=UTC))
    )


class DigestRequester(Protocol):
    """Posts a channel's digest of today on request (`/monitor digest`)."""

    async def post_digest_now(self, team_id: str, channel_id: str) -> str:
        """Post it; return a short confirmation to show the user. UserInputError for
        what the user should hear (nothing to digest)."""
        ...


class MonitorFlows:
    def __init__(
        self,
        db: Database,
        runner: CheckRunner,
        *,
        clock: Callable[[], datetime],
        digests: DigestRequester | None = None,
        timezone: tzinfo = UTC,
        access: AccessPolicy | None = None,
        rate_limit: RateLimiter | None = None,
        on_lifted: Callable[[SuppressionView], Awaitable[None]] | None = None,
        quotas: QuotaStore | None = None,
        gate: QuotaGate | None = None,
        resolver: SharedResolverVerdicts | None = None,
        ct: CtReader | None = None,
        sources_off: Mapping[str, str] | None = None,
        misp: MispEvents | None = None,
        receivers: Mapping[str, str] | None = None,
    ) -> None:
        self.db = db
        # Sources the settings turned off, and why (Settings.sources_off): health says so.
        self.sources_off = dict(sources_off or {})
        # HTTP receivers (webhook, misp, thehive): "" when on, else why off; health says so.
        self.receivers = dict(receivers or {})
        self.runner = runner
        self.clock = clock
        # Set by the composition root once digests are wired; None: `/monitor digest` says so.
        self.digests = digests
        self.timezone = timezone
        self.access = access if access is not None else AccessPolicy()
        self.rate_limit = rate_limit
        # This process's CT reader (None: CT is off, no log list configured).
        self.ct = ct
        self.watches = WatchFlows(
            db, clock=clock, access=self.access, outlook=self.watch_outlook, first_look=self.ct_first_look
        )
        self.pivots = Pivots(
            db, runner, self.watches, clock=clock, timezone=timezone, health=self.health_report
        )
        # Edits the alert messages that showed a lifted suppression (set by the composition).
        self.on_lifted = on_lifted
        # Quota-limited sources: which lookups wait for a slot, and each source's plan.
        self.quotas = quotas
        self.gate = gate
        # The resolver check's verdict as the checking processes shared it (None: no check).
        self.resolver = resolver
        # Monitors from MISP events, STIX bundles and lists (`misp`: None when not configured).
        self.imports = ImportFlows(self.add_monitors, misp=misp)

    async def throttled(self, caller: Caller) -> Message | None:
        """The reply to a user over the command rate limit (None: go ahead). Counts the command."""
        if self.rate_limit is None:
            return None
        wait = await self.rate_limit.take(f"command:{caller.team_id}:{caller.user_id}")
        if wait <= 0:
            return None
        return build_error_message(
            f"Slow down: Watchpost takes at most {self.rate_limit.rate.per_minute} commands a minute from "
            f"one person. Try again in {math.ceil(wait)} s; nothing was done."
        )

    async def execute(self, text: str, caller: Caller) -> CommandResult:
        """Run a /monitor command typed as text (Slack, the console), within the rate limit."""
        refusal = await self.throttled(caller)
        if refusal is not None:
            return CommandResult(refusal)
        try:
            command = parse_command(text)
        except UserInputError as exc:
            return CommandResult(build_error_message(str(exc)))
        return await self.run(command, caller)

    async def run(self, command: Command, caller: Caller) -> CommandResult:
        """Run a parsed command (a button's, say): the same use case and the same answers
        as typing it, without the rate limit (the caller counts what it must). User errors
        become an error reply; anything else is logged with an id and answered with a
        short apology naming it."""
        try:
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
                return CommandResult(build_removed_message(await self.remove_monitors(indicators, caller)))
            case ListCommand():
                monitors = await self.db.run(
                    self.db.monitors.list, team_id=caller.team_id, channel_id=caller.channel_id
                )
                rows = [
                    ListRow(m.indicator, m.kind.value, m.last_checked_at, m.stale_datasets, mutes, m.tags)
                    for m, mutes in await self._with_timed_mutes(monitors, caller)
                ]
                return CommandResult(await self.watches.with_watches(build_list_message(rows), rows, caller))
            case StatusCommand(indicator):
                return await self._status(indicator, caller)
            case CheckCommand(indicator):
                return await self._check(indicator, caller)
            case HistoryCommand(indicator, day, dataset):
                return await self._history(indicator, day, dataset, caller)
            case TimelineCommand(indicator):
                await self._monitored_here(indicator, caller)
                subject = await self._subject(indicator)
                picture = await self.pivots.timeline_picture(subject.id, indicator.value)
                notice = build_notice_message(f"Timeline of {indicator.value}: {picture.title}.")
                return CommandResult(notice, files=(picture,))
            case MuteCommand(indicator, dataset, muted, duration):
                if muted:
                    self._applies(indicator, dataset)
                if muted and duration is not None:
                    until = await self.mute_for(indicator, dataset, duration, caller)
                    message = build_timed_mute_message(
                        indicator.value, dataset, until=until, user_id=caller.user_id
                    )
                    return CommandResult(message, public=True)
                await self.set_muted(indicator, dataset, caller, muted=muted)
                message = build_muted_message(indicator.value, dataset, muted=muted, user_id=caller.user_id)
                return CommandResult(message, public=True)
            case SuppressionsCommand():
                found = await self.db.run(
                    self.db.triage.active,
                    now=self.clock(),
                    team_id=caller.team_id,
                    channel_id=caller.channel_id,
                )
                found = soonest_end_first([*found, *await self.watches.silences(caller)])
                return CommandResult(build_suppressions_message(found, now=self.clock()))
            case LiftCommand(suppression_id):
                lifted = await self.lift_suppression(suppression_id, caller)
                return CommandResult(build_lifted_message(lifted, user_id=caller.user_id), public=True)
            case DigestCommand():
                return self._digest(caller)
            case WatchCommand(kind, terms, notes):
                return await self.watches.add(kind, terms, notes, caller)
            case UnwatchCommand(kind, terms):
                return await self.watches.remove(kind, terms, caller)
            case WatchStatusCommand(kind, term, history):
                return await self.watches.status(kind, term, history, caller)
            case MispCommand(event, all_attributes):
                return await self.imports.misp_event(event, caller, all_attributes=all_attributes)
            case WatchMuteCommand(kind, term, muted, duration):
                return await self.watches.mute(kind, term, muted, duration, caller)
            case WatchSnoozeCommand(kind, term, duration):
                return await self.watches.snooze(kind, term, duration, caller)
            case HealthCommand():
                report = await self.health_report()
                return CommandResult(
                    build_health_message(
                        report.sources,
                        resolver=report.resolver,
                        ct_logs=report.ct_logs,
                        ct_reading=report.ct_reading,
                        resolver_off=report.resolver_off,
                        receivers=report.receivers,
                    )
                )
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
        records = await self.db.run(
            self.db.history.history, subject.id, start=start, end=end, dataset=dataset, limit=HISTORY_LIMIT
        )
        pairs = [(r.detected_at, r.change) for r in records]
        silenced = await self.db.run(
            self.db.triage.silenced_in,
            caller.team_id,
            caller.channel_id,
            sorted({r.batch_id for r in records}),
        )
        suppressed = [
            (r.change.dataset, r.change.field, r.change.value) in silenced.get(r.batch_id, set())
            for r in records
        ]
        message = build_history_message(
            indicator.value,
            pairs,
            day=day,
            dataset=dataset,
            limited=len(records) >= HISTORY_LIMIT,
            suppressed=suppressed,
        )
        return CommandResult(message)

    # --- the use cases every surface calls (Slack, console, REST API) ------------------

    async def add_monitors(
        self,
        indicators: Sequence[Indicator],
        caller: Caller,
        *,
        tags: Sequence[str] = (),
        baseline_by_scheduler: bool = False,
    ) -> list[AddedMonitor]:
        """Add monitors to the caller's channel, all or nothing, within the channel quota.
        A new subject's first scheduled check comes one interval later: the caller takes
        the baseline itself, unless `baseline_by_scheduler` (the next tick takes it)."""
        return await self.db.run(
            self.db.monitors.add,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            user_id=caller.user_id,
            indicators=[(i.value, i.kind) for i in indicators],
            now=self.clock(),
            first_check_delay=timedelta(0) if baseline_by_scheduler else self.runner.interval,
            quota=self.access.channel_quota,
            tags=tags,
        )

    async def remove_monitors(self, indicators: Sequence[Indicator], caller: Caller) -> list[str]:
        """Remove monitors from the caller's channel, all or nothing: UserInputError if one
        is not monitored there, NotPermitted if the caller may not remove one of them."""
        return await self.db.run(
            self.db.monitors.remove,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            indicators=[i.value for i in indicators],
            owner=self._owner_filter(caller),
        )

    async def set_muted(self, indicator: Indicator, dataset: str, caller: Caller, *, muted: bool) -> None:
        """Mute one dataset of the caller's channel's monitor of `indicator` until unmuted,
        or unmute it: that ends its timed mute too (both are `mute` suppressions)."""
        await self._monitored_here(indicator, caller)  # not monitored: the reply says how to add it
        await self.db.run(
            self.db.monitors.set_muted,
            team_id=caller.team_id,
            channel_id=caller.channel_id,
            indicator=indicator.value,
            dataset=dataset,
            muted=muted,
            by=caller.user_id,
            now=self.clock(),
            owner=self._owner_filter(caller),
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

    async def _with_timed_mutes(
        self, monitors: Sequence[MonitorView], caller: Caller
    ) -> list[tuple[MonitorView, list[str]]]:
        """Each monitor with its mutes: those until unmuted by name, the timed ones with their
        end (a timed mute silences as much as one until unmuted, so the list shows both)."""
        silenced = await self.db.run(
            self.db.triage.active, now=self.clock(), team_id=caller.team_id, channel_id=caller.channel_id
        )
        timed: dict[str, list[str]] = {}
        for s in silenced:
            if s.kind is SuppressionKind.MUTE and s.dataset and s.expires_at:
                timed.setdefault(s.indicator, []).append(
                    f"{s.dataset} until {s.expires_at:%Y-%m-%d %H:%M} UTC"
                )
        return [(m, [*m.muted, *timed.get(m.indicator, ())]) for m in monitors]

    def _applies(self, indicator: Indicator, dataset: str) -> None:
        """UserInputError when this Watchpost's `dataset` never looks at the indicator's kind
        (`subdomains` of an IP). A dataset not enabled here is not judged."""
        kind = IndicatorKind(indicator.kind)
        named = [d for d in self.runner.datasets if d.name == dataset]
        if not named or any(d.applies_to(kind) for d in named):
            return
        names = ", ".join(f"`{d.name}`" for d in self.runner.datasets if d.applies_to(kind))
        what = "an IP" if kind is IndicatorKind.IP else "a domain"
        raise UserInputError(
            f"`{dataset}` does not apply to {what} like `{indicator.value}`, so there is nothing to mute. "
            f"Datasets for {what}: {names or 'none'}. Nothing was changed."
        )

    async def mute_for(
        self, indicator: Indicator, dataset: str, duration: timedelta, caller: Caller
    ) -> datetime:
        """Mute one dataset of the caller's channel's monitor for `duration`; it ends by itself."""
        monitor = await self._monitored_here(indicator, caller)
        self._check_owner(monitor, caller)
        if dataset in monitor.muted:
            raise UserInputError(
                f"`{dataset}` is already muted for `{indicator.value}` in this channel, until unmuted. "
                f"Unmute it first to mute it for a while. Nothing was changed."
            )
        now = self.clock()
        until = now + duration
        await self.db.run(
            self.db.triage.suppress,
            monitor_id=monitor.id,
            kind=SuppressionKind.MUTE,
            by=caller.user_id,
            now=now,
            until=until,
            dataset=dataset,
            reason="muted with /monitor mute",
        )
        log.info(
            "muted %s of %s in %s until %s by %s",
            dataset,
            indicator.value,
            caller.channel_id,
            until,
            caller.user_id,
        )
        return until

    async def lift_suppression(self, suppression_id: int, caller: Caller) -> SuppressionView:
        """End a suppression of the caller's channel now. A snooze anyone in the channel may
        lift; a false positive or a mute (timed or until unmuted) its creator, the monitor's
        owner or an admin.
        A watch's mute or snooze alike (bot/commands/watches.py)."""
        watch_silence = await self.watches.lift(suppression_id, caller)
        if watch_silence is not None:
            return watch_silence
        found = await self.db.run(self.db.triage.get, suppression_id)
        if found is None or found.team_id != caller.team_id or found.channel_id != caller.channel_id:
            raise UserInputError(f"There is no suppression #{suppression_id} in this channel.")
        owner = self._owner_filter(caller)
        if (
            found.kind is not SuppressionKind.SNOOZE
            and owner is not None
            and owner
            not in (
                found.created_by,
                found.monitor_owner,
            )
        ):
            raise UserInputError(
                f"Only {mention(found.created_by)}, who made it, {mention(found.monitor_owner)}, who added "
                f"`{found.indicator}` here, or an admin can lift #{suppression_id}. Nothing was changed."
            )
        lifted = await self.db.run(self.db.triage.lift, suppression_id, by=caller.user_id, now=self.clock())
        if self.on_lifted is not None:
            try:
                await self.on_lifted(lifted)
            except Exception:  # the lift holds; the message catches up on its next edit
                log.exception("alert messages not edited after lifting suppression %s", suppression_id)
        return lifted

    def _owner_filter(self, caller: Caller) -> str | None:
        return None if caller.trusted else self.access.owner_filter(caller.user_id)

    def _check_owner(self, monitor: MonitorView, caller: Caller) -> None:
        """NotPermitted, naming who added it, when `caller` may not change this monitor."""
        owner = self._owner_filter(caller)
        if owner is not None and monitor.created_by != owner:
            raise NotPermitted({monitor.indicator: monitor.created_by})

    async def _add(self, indicators: Sequence[Indicator], caller: Caller) -> CommandResult:
        added = await self.add_monitors(indicators, caller)

        async def capture_baselines() -> list[Message]:
            async def one(subject_id: int, indicator: str) -> Message:
                subject = await self.db.run(self.db.monitors.subject, indicator)
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
        now = self.clock()
        silenced = await self.db.run(self.db.triage.active, now=now, monitor_id=monitor.id)
        snoozes = [s.expires_at for s in silenced if s.kind is SuppressionKind.SNOOZE and s.expires_at]
        muted_until = [
            (s.dataset, s.expires_at)
            for s in silenced
            if s.kind is SuppressionKind.MUTE and s.dataset and s.expires_at
        ]
        message = build_status_message(
            indicator.value,
            views,
            monitor.created_at,
            snoozed_until=max(snoozes, default=None),
            muted_until=muted_until,
            plans=plans,
            tags=monitor.tags,
        )
        return CommandResult(message)

    async def source_usage(self) -> list[tuple[SourceUsage, QuotaPlan | None]]:
        """Every source that is on and was asked in the last day, and every quota-limited
        one, with its plan (one count of the monitors for all): what `/monitor health` and
        /api/v1/health show, from every process's requests."""
        if self.quotas is None:
            return []
        now = self.clock()
        limits = dict(self.gate.limits) if self.gate is not None else {}
        known = await self.db.run(self.quotas.known_sources, now=now)
        wanted = {
            source: limits.get(source, ())
            for source in {*known, *(s for s, lim in limits.items() if lim)}
            # An off source has no plan and no state but off, whatever its default quota says.
            if source not in self.sources_off
        }
        usage = await self.db.run(self.quotas.usage, wanted, now=now)
        plans = await self.gate.plans(item.source for item in usage) if self.gate is not None else {}
        return [(item, plans.get(item.source)) for item in usage]

    async def source_health(self) -> list[SourceHealthRow]:
        """Health rows: the sources that are off (and why), then `source_usage`'s."""
        if self.quotas is None:
            return []
        rows = [
            SourceHealthRow(source=SOURCE_LABELS.get(source, source), off=why)
            for source, why in sorted(self.sources_off.items())
        ]
        for item, plan in await self.source_usage():
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

    async def resolver_status(self) -> ResolverStatus | None:
        """The resolver check's last verdict, whichever process reached it (None: no check)."""
        return await self.resolver.current() if self.resolver is not None else None

    async def ct_log_positions(self) -> list[CtPosition] | None:
        """How far each CT log has been read; None when nothing reads CT for anyone (no
        lookalike or keyword watch, no position stored), [] when watches wait for a first read."""
        positions = await self.db.run(self.db.ct_positions.positions)
        if positions:
            return sorted(positions.values(), key=lambda p: p.log)
        watches, _ = await self.db.run(self.db.lookalikes.watch_generation)
        return [] if watches else None

    async def health_report(self) -> HealthReport:
        """Sources, the resolver, CT and the HTTP receivers: what `/monitor health` and the
        App Home show."""
        sources, resolver, ct_logs, receivers = await asyncio.gather(
            self.source_health(), self.resolver_status(), self.ct_log_positions(), self.receiver_health()
        )
        return HealthReport(
            tuple(sources),
            resolver,
            None if ct_logs is None else tuple(ct_logs),
            self._ct_reading(),
            resolver_off="" if self.resolver is not None else "WATCHPOST_DNS_CANARY is off",
            receivers=tuple(receivers),
        )

    async def receiver_health(self) -> list[ReceiverHealth]:
        """Each HTTP receiver: off (and why), or its backlog, give-ups and last error."""
        on = [name for name, off in self.receivers.items() if not off]
        states = {s.receiver: s for s in await self.db.run(self.db.receiver_queue.health, on)} if on else {}
        return [states.get(name) or ReceiverHealth(name, off=off) for name, off in self.receivers.items()]

    def _ct_reading(self) -> CtReading | None:
        """This process's CT reader, if it has run here (a process that never ran the CT
        job has nothing of its own to say: the stored positions speak for the readers)."""
        reading = self.ct.reading() if self.ct is not None else None
        return reading if reading is not None and reading.since is not None else None

    async def watch_outlook(self, kind: WatchKind, reading: CtReading | None = None) -> list[str]:
        """What a new watch of `kind` can see now: the CT reader, the logs, the resolver."""
        positions, resolver = await asyncio.gather(
            self.db.run(self.db.ct_positions.positions), self.resolver_status()
        )
        return watch_outlook_lines(
            kind,
            reading if reading is not None else self._ct_reading(),
            sorted(positions.values(), key=lambda p: p.log),
            resolver,
            ct_enabled=self.ct is not None,
        )

    async def ct_first_look(self, kind: WatchKind) -> list[str] | None:
        """For a new watch while this process's reader is not following yet: a poll at once
        (the log list and each log's head), and what the watch sees after it. None when the
        reader already follows the logs (the reply said so) or CT is off."""
        if self.ct is None:
            return None
        current = self._ct_reading()
        if current is not None and current.state is CtState.FOLLOWING:
            return None
        return await self.watch_outlook(kind, await self.ct.look_now())

    async def _plans(self, indicator: Indicator, datasets: Collection[str]) -> list[str]:
        """How often each quota-limited source of these datasets is asked about one indicator."""
        if self.gate is None:
            return []
        applies = [
            source
            for source in sorted(self.gate.limits)
            if source not in self.sources_off  # no schedule for a source that is off
            and indicator.kind.value in SOURCE_KINDS.get(source, BOTH_KINDS)
            and any(d in datasets for d in SOURCE_DATASETS.get(source, ()))
        ]
        return [
            f"{SOURCE_FEEDS.get(source, source)} every {describe_interval(plan.interval)}: "
            f"{describe_budget(plan)}"
            for source, plan in (await self.gate.plans(applies)).items()
        ]

    async def _check(self, indicator: Indicator | None, caller: Caller) -> CommandResult:
        if indicator is None:
            monitors = await self.db.run(
                self.db.monitors.list, team_id=caller.team_id, channel_id=caller.channel_id
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
                here = [
                    v
                    for v in report.verdicts
                    if v.channel_id == caller.channel_id and v.team_id == caller.team_id
                ]
                delivered = await self._confirmed({v.outbox_id for v in here if v.outbox_id is not None})
                return build_check_message(
                    name,
                    report.changes,
                    failed=failed,
                    verdicts=here,
                    delivered=delivered,
                    nothing_read=report.nothing_read,
                )

            return list(await asyncio.gather(*(one(name) for name in names)))

        plural = "s" * (len(names) != 1)
        reply = Message(f"Checking {len(names)} indicator{plural} now…")
        return CommandResult(reply, run_checks)

    async def _confirmed(self, outbox_ids: set[int]) -> dict[int, bool]:
        """Which of these deliveries Slack confirmed, waiting a few seconds for them (the
        reply should say "posted" only of what was posted)."""
        if not outbox_ids:
            return {}
        deadline = monotonic() + DELIVERY_WAIT_SECONDS
        while True:
            confirmed = await self.db.run(self.db.outbox.delivered, sorted(outbox_ids))
            if all(confirmed.values()) or monotonic() >= deadline:
                return confirmed
            await asyncio.sleep(0.2)

    async def _monitored_here(self, indicator: Indicator, caller: Caller) -> MonitorView:
        """The caller's channel's monitor of `indicator`, or a UserInputError saying how to add it."""
        monitor = await self.db.run(
            self.db.monitors.find,
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
        subject = await self.db.run(self.db.monitors.subject, value)
        if subject is None:
            raise UserInputError(f"`{value}` is not monitored.")
        return subject

    async def _dataset_views(self, subject_id: int, indicator: str) -> list[DatasetView]:
        health = await self.db.run(self.db.checks.dataset_health, subject_id)
        waits = await self.db.run(self.quotas.waits_for, indicator) if self.quotas is not None else {}
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
                sources=h.sources,
            )
            for h in health
        ]


def _window_name(seconds: float) -> str:
    return {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}.get(seconds, f"{seconds:g} s")
