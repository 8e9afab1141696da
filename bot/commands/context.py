"""What the /monitor use cases share: the database, the clock and who may do what
(`CommandContext`); whose monitors and watches a caller may change; the caller's channel's
monitor; the refusal naming who may change it instead; and a failure turned into a reply,
for a command and its follow-up alike."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.commands.grammar import Command, MuteCommand, RemoveCommand
from bot.commands.messages.replies import build_error_message
from bot.core.access import AccessPolicy
from bot.core.errors import NotPermitted, UserInputError
from bot.core.indicators import Indicator
from bot.core.message import Message
from bot.core.mrkdwn import mention
from bot.core.results import Caller, FollowUp
from bot.storage.db import Database
from bot.storage.views import MonitorView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandContext:
    """The database, the clock and the access policy every use case of a command runs on."""

    db: Database
    clock: Callable[[], datetime]
    access: AccessPolicy

    def check_owner(self, monitor: MonitorView, caller: Caller) -> None:
        """NotPermitted, naming who added it, when `caller` may not change this monitor."""
        if not self.access.may_change(caller, monitor.created_by):
            raise NotPermitted({monitor.indicator: monitor.created_by})

    async def monitored_here(self, indicator: Indicator, caller: Caller) -> MonitorView:
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

    def not_permitted(self, exc: NotPermitted, command: Command | None) -> str:
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


def apology(what: str) -> Message:
    """For the exception being handled: logged with a short incident id, and the reply
    that names the id (`what` failed: "command", "follow-up")."""
    incident = uuid.uuid4().hex[:8]
    log.exception("%s failed (incident %s)", what, incident)
    return build_error_message(f"Sorry, something went wrong on our side (incident `{incident}`).")


def guarded(follow_up: FollowUp) -> FollowUp:
    """A follow-up whose failures become messages, like the command's own."""

    async def run() -> list[Message]:
        try:
            return await follow_up()
        except UserInputError as exc:
            return [build_error_message(str(exc))]
        except Exception:
            return [apology("follow-up")]

    return run
