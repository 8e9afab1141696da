"""What each button on an alert or an investigation does, for any surface (the console
presses them here; Slack's listeners do the same through Bolt). A button is its action id
and value; pressing it runs the use case behind it with the flows, never re-typed text.

- `investigate[_n]` (value: an indicator): what every source says of it now, for the
  message's thread.
- `monitor_indicator[_n]` (value: an indicator): monitor it in the channel.
- `mute_dataset[_n]` (value: `{"i": indicator, "d": dataset}`): mute that dataset there.
- `accept_baseline`: the alert, its buttons replaced by who accepted it and when.
- `timeline` (value: an indicator): a picture of its history (the result's file).
- `dismiss_lookalike` (value: a domain): not a lookalike; it stays quiet in the channel.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.commands.flows import MonitorFlows
from bot.commands.grammar import AddCommand, MuteCommand, TimelineCommand, parse_dataset
from bot.commands.results import Caller, CommandResult
from bot.errors import UserInputError
from bot.model.indicators import parse_indicator
from bot.render.alerts import build_accepted_alert_message
from bot.render.ids import ActionId
from bot.render.messages import Message
from bot.render.replies import build_error_message

_NUMBERED = re.compile(r"^(?P<prefix>[a-z_]+?)(?:_\d+)?$")


@dataclass(frozen=True)
class Pressed:
    """What a press came to. `result`: the command's answer (`public`: for the thread of
    the pressed message, e.g. an investigation). `updated`: the pressed message as it is
    to be shown from now on (an accepted alert), else None."""

    result: CommandResult
    updated: Message | None = None


def action_kind(action_id: str) -> ActionId | None:
    """The ActionId of `investigate_3` and the like; None for an id the bot never made."""
    match = _NUMBERED.fullmatch(action_id)
    for candidate in (action_id, match.group("prefix") if match else ""):
        try:
            return ActionId(candidate)
        except ValueError:
            continue
    return None


async def press(
    flows: MonitorFlows, caller: Caller, *, action_id: str, value: str, message: Message
) -> Pressed:
    """Press the button `action_id` carrying `value` on `message`, as `caller`."""
    kind = action_kind(action_id)
    try:
        match kind:
            case ActionId.INVESTIGATE:
                return Pressed(await flows.pivots.investigate(value, team_id=caller.team_id))
            case ActionId.MONITOR:
                return Pressed(await flows.run(AddCommand((parse_indicator(value),)), caller))
            case ActionId.MUTE:
                indicator, dataset = _mute_target(value)
                command = MuteCommand(parse_indicator(indicator), parse_dataset(dataset), muted=True)
                return Pressed(await flows.run(command, caller))
            case ActionId.DISMISS:
                return Pressed(await flows.watches.dismiss(value, caller))
            case ActionId.TIMELINE:
                return Pressed(await flows.run(TimelineCommand(parse_indicator(value)), caller))
            case ActionId.ACCEPT:
                accepted = build_accepted_alert_message(
                    message, user_id=caller.user_id, accepted_at=flows.clock()
                )
                return Pressed(CommandResult(Message("Accepted as the new baseline.")), accepted)
    except UserInputError as exc:
        return Pressed(CommandResult(build_error_message(str(exc))))
    return Pressed(CommandResult(build_error_message("This button does nothing here.")))


def _mute_target(value: str) -> tuple[str, str]:
    try:
        target = json.loads(value)
        return str(target["i"]), str(target["d"])
    except (ValueError, KeyError, TypeError):
        raise UserInputError("This button is broken: it names no dataset.") from None
