"""What each /monitor verb does. Shared by every surface (Slack, the console, buttons): a
surface turns its input into text (or a Command) and a Caller, and shows the Messages that
come back. `MonitorFlows` is the one dispatcher: a table from each command to the use case
that answers it, in the feature's own module:

- bot/monitoring/flows/monitors.py: add, remove, list, status, check, history, timeline
- bot/triage/flows/mutes.py: mute and unmute, the channel's suppressions, lifting one
- bot/watches/flows.py: lookalike and keyword watches
- bot/imports/flows.py: monitors from a MISP event
- bot/monitoring/flows/health.py: `/monitor health` (sources, quotas, receivers)
- bot/watches/ct/flows.py: how far CT was read, the resolver, what a new watch sees
- bot/commands/context.py: what they share (who may, the channel's monitor, failures)
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, Generic, Protocol, TypeVar

from bot.commands.context import CommandContext, apology, guarded
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
from bot.commands.messages.replies import build_error_message, build_help_message, build_notice_message
from bot.core.access import AccessPolicy
from bot.core.errors import NotPermitted, UserInputError
from bot.core.message import Message
from bot.core.results import Caller, CommandResult
from bot.imports.flows import ImportFlows, MispEvents
from bot.investigations.flows import Pivots
from bot.monitoring.flows.health import HealthFlows
from bot.monitoring.flows.monitors import DELIVERY_WAIT_SECONDS, MonitorCommands
from bot.monitoring.quota import QuotaGate
from bot.monitoring.requested_checks import CheckRunner
from bot.monitoring.resolver_check import SharedResolverVerdicts
from bot.monitoring.store.quotas import QuotaStore
from bot.storage.db import Database
from bot.storage.rate_limits import RateLimiter
from bot.triage.flows.mutes import MuteFlows
from bot.triage.model import SuppressionView
from bot.watches.ct.flows import Readers
from bot.watches.ct.model import CtReader
from bot.watches.flows import WatchFlows

C = TypeVar("C")


class DigestRequester(Protocol):
    """Posts a channel's digest of today on request (`/monitor digest`)."""

    async def post_digest_now(self, team_id: str, channel_id: str) -> str:
        """Post it; return a short confirmation to show the user. UserInputError for
        what the user should hear (nothing to digest)."""
        ...


@dataclass(frozen=True)
class Route(Generic[C]):
    """A line of the dispatcher's table: a kind of command and the use case answering it."""

    command: type[C]
    handle: Callable[[C, Caller], Awaitable[CommandResult]]


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
        delivery_wait: float = DELIVERY_WAIT_SECONDS,
    ) -> None:
        self.db = db
        self.runner = runner
        self.clock = clock
        # Set by the composition root once digests are wired; None: `/monitor digest` says so.
        self.digests = digests
        self.access = access if access is not None else AccessPolicy()
        self.rate_limit = rate_limit
        self.context = CommandContext(db, clock, self.access)
        self.readers = Readers(db, ct=ct, resolver=resolver)
        self.health = HealthFlows(
            db,
            self.readers,
            clock=clock,
            quotas=quotas,
            gate=gate,
            sources_off=sources_off,
            receivers=receivers,
        )
        self.watches = WatchFlows(
            db,
            clock=clock,
            access=self.access,
            outlook=self.readers.watch_outlook,
            first_look=self.readers.ct_first_look,
        )
        self.pivots = Pivots(
            db, runner, self.watches, clock=clock, timezone=timezone, health=self.health.report
        )
        self.mutes = MuteFlows(self.context, runner, self.watches, on_lifted=on_lifted)
        self.monitors = MonitorCommands(
            self.context,
            runner,
            timezone=timezone,
            health=self.health,
            mutes=self.mutes,
            watches=self.watches,
            pivots=self.pivots,
            delivery_wait=delivery_wait,
        )
        # Monitors from MISP events, STIX bundles and lists (`misp`: None when not configured).
        self.imports = ImportFlows(self.monitors.add_monitors, misp=misp)
        self.routes: dict[type, Route[Any]] = {route.command: route for route in self._routes()}

    def _routes(self) -> tuple[Route[Any], ...]:
        """Each command and the use case that answers it."""
        monitors, mutes, watches, imports = self.monitors, self.mutes, self.watches, self.imports
        # Not returned at once: in a Route[Any] context mypy would not check each pairing.
        table = (
            Route(HelpCommand, handle_help_command),
            Route(AddCommand, monitors.handle_add_command),
            Route(RemoveCommand, monitors.handle_remove_command),
            Route(ListCommand, monitors.handle_list_command),
            Route(StatusCommand, monitors.handle_status_command),
            Route(CheckCommand, monitors.handle_check_command),
            Route(HistoryCommand, monitors.handle_history_command),
            Route(TimelineCommand, monitors.handle_timeline_command),
            Route(MuteCommand, mutes.handle_mute_command),
            Route(SuppressionsCommand, mutes.handle_suppressions_command),
            Route(LiftCommand, mutes.handle_lift_command),
            Route(DigestCommand, self.handle_digest_command),
            Route(WatchCommand, lambda c, caller: watches.add(c.kind, c.terms, c.notes, caller)),
            Route(UnwatchCommand, lambda c, caller: watches.remove(c.kind, c.terms, caller)),
            Route(WatchStatusCommand, lambda c, caller: watches.status(c.kind, c.term, c.history, caller)),
            Route(
                WatchMuteCommand, lambda c, caller: watches.mute(c.kind, c.term, c.muted, c.duration, caller)
            ),
            Route(WatchSnoozeCommand, lambda c, caller: watches.snooze(c.kind, c.term, c.duration, caller)),
            Route(
                MispCommand,
                lambda c, caller: imports.misp_event(c.event, caller, all_attributes=c.all_attributes),
            ),
            Route(HealthCommand, self.health.handle_health_command),
        )
        return table

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
            route = self.routes.get(type(command))
            if route is None:
                raise AssertionError(f"unhandled command {command!r}")
            result = await route.handle(command, caller)
        except NotPermitted as exc:
            return CommandResult(build_error_message(self.context.not_permitted(exc, command)))
        except UserInputError as exc:
            return CommandResult(build_error_message(str(exc)))
        except Exception:
            return CommandResult(apology("command"))
        if result.follow_up is not None:
            return replace(result, follow_up=guarded(result.follow_up))
        return result

    async def handle_digest_command(self, command: DigestCommand, caller: Caller) -> CommandResult:
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


async def handle_help_command(command: HelpCommand, caller: Caller) -> CommandResult:
    return CommandResult(build_help_message())
