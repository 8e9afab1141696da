"""What each button on an alert or an investigation does, for any surface (the console
presses them here; Slack's listeners do the same through Bolt). A button is its action id
and value; pressing it runs the use case behind it with the flows, never re-typed text.

- `investigate[_n]` (value: an indicator): what every source says of it now, for the
  message's thread.
- `monitor_indicator[_n]` (value: an indicator): monitor it in the channel.
- `mute_dataset[_n]` (value: `{"i": indicator, "d": dataset}`): mute that dataset there.
- `accept_baseline`: the alert, its buttons replaced by who accepted it and when.
- `ack`, `false_positive`, `accept_baseline`, `snooze[_7d|_30d]`: the alert's triage, stored
  (with the triage use cases; `accept_baseline` is the state `expected`).
- `timeline` (value: an indicator): a picture of its history (the result's file).
- `dismiss_lookalike` (value: a domain): not a lookalike; it stays quiet in the channel.
- `snooze_watch[_7d|_30d]` (value: a duration): on a finding's alert, its watches snoozed
  in the channel.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from bot.commands.flows import MonitorFlows
from bot.commands.grammar import (
    AddCommand,
    HistoryCommand,
    LiftCommand,
    MuteCommand,
    TimelineCommand,
    parse_dataset,
    parse_duration,
)
from bot.commands.results import Caller, CommandResult
from bot.commands.triage import TriageFlows
from bot.errors import UserInputError
from bot.model.indicators import parse_indicator
from bot.model.triage import TriageState
from bot.render.alerts import build_accepted_alert_message
from bot.render.ids import ActionId
from bot.render.messages import Message
from bot.render.replies import build_error_message, build_notice_message

_NUMBERED = re.compile(r"^(?P<prefix>[a-z_]+?)(?:_\d+d?)?$")  # investigate_3, snooze_7d


# The alert's triage buttons and the state each stores.
_TRIAGE_STATES = {
    ActionId.ACKNOWLEDGE: TriageState.ACKNOWLEDGED,
    ActionId.FALSE_POSITIVE: TriageState.FALSE_POSITIVE,
    ActionId.ACCEPT: TriageState.EXPECTED,
}


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
    flows: MonitorFlows,
    caller: Caller,
    *,
    action_id: str,
    value: str,
    message: Message,
    triage: TriageFlows | None = None,
    message_ts: str | None = None,
) -> Pressed:
    """Press the button `action_id` carrying `value` on `message` (posted as `message_ts`),
    as `caller`. With `triage`, the alert's triage buttons store their state."""
    kind = action_kind(action_id)
    try:
        if triage is not None and message_ts is not None and kind in _TRIAGE_STATES:
            state = _TRIAGE_STATES[kind]
            await triage.set_state_on_message(caller.channel_id, message_ts, state, caller)
            return Pressed(
                CommandResult(build_notice_message(f"Alert marked {state.value.replace('_', ' ')}."))
            )
        if triage is not None and message_ts is not None and kind is ActionId.SNOOZE:
            duration = parse_duration(value or "1d")
            until = await triage.snooze_on_message(caller.channel_id, message_ts, caller, duration)
            return Pressed(CommandResult(build_notice_message(f"Snoozed until {until:%Y-%m-%d %H:%M} UTC.")))
        if message_ts is not None and kind is ActionId.SNOOZE_WATCH:
            return Pressed(
                await flows.watches.snooze_on_message(message_ts, parse_duration(value or "1d"), caller)
            )
        match kind:
            case ActionId.INVESTIGATE:
                return Pressed(
                    await flows.pivots.investigate(
                        value, team_id=caller.team_id, channel_id=caller.channel_id
                    )
                )
            case ActionId.MONITOR:
                return Pressed(await flows.run(AddCommand((parse_indicator(value),)), caller))
            case ActionId.MUTE | ActionId.UNMUTE:
                indicator, dataset = _mute_target(value)
                muted = kind is ActionId.MUTE
                command = MuteCommand(parse_indicator(indicator), parse_dataset(dataset), muted=muted)
                return Pressed(await flows.run(command, caller))
            case ActionId.LIFT:
                if not value.isdigit():
                    raise UserInputError("This button is broken: it names no suppression.")
                return Pressed(await flows.run(LiftCommand(int(value)), caller))
            case ActionId.DISMISS:
                return Pressed(await flows.watches.dismiss(value, caller))
            case ActionId.TIMELINE:
                return Pressed(await flows.run(TimelineCommand(parse_indicator(value)), caller))
            case ActionId.ALL_VALUES:
                indicator, day = _all_values_target(value)
                return Pressed(await flows.run(HistoryCommand(parse_indicator(indicator), day=day), caller))
            case ActionId.ACCEPT:
                accepted = build_accepted_alert_message(
                    message, user_id=caller.user_id, accepted_at=flows.clock()
                )
                return Pressed(CommandResult(Message("Accepted as the new baseline.")), accepted)
    except UserInputError as exc:
        return Pressed(CommandResult(build_error_message(str(exc))))
    return Pressed(CommandResult(build_error_message("This button does nothing here.")))


def _all_values_target(value: str) -> tuple[str, date | None]:
    """A summary's "All N values": the indicator and the alert's day (the day's history
    lists every value the summary stands for)."""
    try:
        target = json.loads(value)
        day = target.get("d")
        return str(target["i"]), date.fromisoformat(day) if day else None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserInputError("This button is broken: it names no indicator.") from None


def _mute_target(value: str) -> tuple[str, str]:
    try:
        target = json.loads(value)
        return str(target["i"]), str(target["d"])
    except (ValueError, KeyError, TypeError):
        raise UserInputError("This button is broken: it names no dataset.") from None
