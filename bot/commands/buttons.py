"""The one dispatcher for buttons and forms, for every surface: the console presses here,
and so do Slack's listeners over HTTP and Socket Mode (bot/surfaces/slack/listeners/actions.py).

A press is its action id, its value and the place it was pressed (`Press`: the caller's
channel, the message's ts), which the surface takes from where the press came, never
from the value. A form's submission (`Submission`) carries what the form acts on, as the
surface vouches for it, and the values chosen. Either comes to an `PressOutcome` that each
surface shows its own way. The same words and the same rules everywhere.

- `investigate[_n]` (value: an indicator): what every source says of it now, posted in
  the pressed message's thread for the whole channel.
- `monitor_indicator[_n]` (value: an indicator): monitor it in the channel.
- `mute_dataset[_n]` / `unmute_dataset[_n]` (value: `{"i": indicator, "d": dataset}`).
- `timeline[_n]` (value: an indicator): a picture of its history (the result's file).
- `all_values[_n]` (value: `{"i": indicator, "d": day}`): the day's history.
- `lift_suppression[_n]` (value: a suppression's id): lifted.
- `ack`, `false_positive`, `accept_baseline`: the alert's triage, stored (`accept_baseline`
  is the state `expected`); the alert is edited by the triage use cases.
- `refine_false_positive` (value: `{"c": channel, "ts": alert}`): the false positive form.
- `snooze[_7d|_30d]` (value: a duration): the alert's monitor snoozed.
- `snooze_watch[_7d|_30d]` (value: a duration): on a finding's alert, its watches snoozed.
- `dismiss_lookalike[_n]` (value: a domain): not a lookalike; the alert's buttons give way.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.commands.flows import MonitorFlows
from bot.commands.grammar import (
    AddCommand,
    Command,
    HistoryCommand,
    LiftCommand,
    MuteCommand,
    TimelineCommand,
    parse_dataset,
    parse_duration,
)
from bot.commands.messages.replies import build_error_message, build_notice_message
from bot.core.errors import UserInputError
from bot.core.ids import ActionId
from bot.core.indicators import parse_indicator
from bot.core.message import Message, actions, button
from bot.core.results import Caller, CommandResult
from bot.triage.flows.deliveries import TriageFlows
from bot.triage.messages import (
    DURATION_ACTION,
    FALSE_POSITIVE_MODAL,
    REASON_ACTION,
    build_false_positive_modal,
)
from bot.triage.model import TriageState, format_duration
from bot.watches.messages import build_dismissed_alert_message

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(?P<prefix>[a-z_]+?)(?:_\d+d?)?$")  # investigate_3, snooze_7d

# What a press refused by the dispatcher says, to the one who pressed only.
OTHER_ALERT = "This button belongs to another alert: nothing was changed."
DOES_NOTHING = "This button does nothing here."
NO_TRIAGE = "Triage is not available on this Watchpost."

# The alert's triage buttons and the state each stores.
_TRIAGE_STATES = {
    ActionId.ACKNOWLEDGE: TriageState.ACKNOWLEDGED,
    ActionId.FALSE_POSITIVE: TriageState.FALSE_POSITIVE,
    ActionId.ACCEPT: TriageState.EXPECTED,
}
# Buttons that run a /monitor command (or ask every source): counted against the
# caller's command rate, as typing the command would be.
_THROTTLED = frozenset(
    {
        ActionId.INVESTIGATE,
        ActionId.MONITOR,
        ActionId.MUTE,
        ActionId.UNMUTE,
        ActionId.TIMELINE,
        ActionId.ALL_VALUES,
    }
)


@dataclass(frozen=True)
class Press:
    """A button pressed: `caller` is who pressed, in the channel it was pressed in;
    `message_ts` the message it is on (None: a reply only the presser saw, with no ts);
    `message` that message as shown (what an edit starts from)."""

    action_id: str
    value: str
    caller: Caller
    message_ts: str | None = None
    message: Message = field(default_factory=lambda: Message(""))


@dataclass(frozen=True)
class Submission:
    """A form submitted: `form` its callback id; `caller` who submitted, in the channel of
    the message `message_ts` the form acts on; `values` each input's action id → choice."""

    form: str
    caller: Caller
    message_ts: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class Form:
    """A form to open on the message `message_ts` in `channel_id`. `view(metadata)` is the
    form itself, given what the surface keeps in it to know the target on submission."""

    channel_id: str
    message_ts: str
    view: Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class PressOutcome:
    """What a press or a submission came to, in the order a surface shows it:

    - `result`: the answer to the presser (`public`: said in the channel), its follow-up and
      files (to the pressed message's thread, or the channel);
    - `thread`: posted for everyone in the pressed message's thread (an investigation);
    - `updated`: the pressed message as it is to be shown from now on (a dismissed finding);
    - `form`: a form to open for the presser;
    - `then`: the slow part, run after the rest is shown; it comes to another PressOutcome."""

    result: CommandResult | None = None
    thread: CommandResult | None = None
    updated: Message | None = None
    form: Form | None = None
    then: Callable[[], Awaitable[PressOutcome]] | None = None


def said(message: Message) -> PressOutcome:
    """An PressOutcome that only answers the presser."""
    return PressOutcome(result=CommandResult(message))


def action_kind(action_id: str) -> ActionId | None:
    """The ActionId of `investigate_3` and the like; None for an id the bot never made."""
    match = _NUMBERED.fullmatch(action_id)
    for candidate in (action_id, match.group("prefix") if match else ""):
        try:
            return ActionId(candidate)
        except ValueError:
            continue
    return None


_Handler = Callable[["ButtonDispatcher", Press, ActionId], Awaitable[PressOutcome]]


class ButtonDispatcher:
    """Presses and submissions to the use cases behind them. Without `triage` the alert's
    triage buttons answer that triage is not available."""

    def __init__(self, flows: MonitorFlows, triage: TriageFlows | None = None) -> None:
        self.flows = flows
        self.triage = triage

    async def press(self, pressed: Press) -> PressOutcome:
        """What pressing `pressed` comes to. A user's mistake (a broken value, a refusal of
        the use case) is an PressOutcome saying so; nothing is changed."""
        kind = action_kind(pressed.action_id)
        handler = HANDLERS.get(kind) if kind is not None else None
        if kind is None or handler is None:
            return said(build_error_message(DOES_NOTHING))
        if kind in _THROTTLED:
            refusal = await self.flows.throttled(pressed.caller)
            if refusal is not None:
                return said(refusal)
        return await _answering(functools.partial(handler, self, pressed, kind))

    async def submit(self, submitted: Submission) -> PressOutcome:
        """What submitting a form comes to: the false positive form refines the alert's
        reason and quiet; a refusal is said to the one who submitted."""
        if submitted.form != FALSE_POSITIVE_MODAL or self.triage is None:
            return PressOutcome()
        try:
            reason = submitted.values[REASON_ACTION]
            choice = submitted.values[DURATION_ACTION]
        except KeyError as exc:
            log.warning("false positive form unreadable: %s", exc.__class__.__name__)
            return PressOutcome()
        triage = self.triage
        caller = submitted.caller

        async def refine() -> PressOutcome:
            await triage.refine_false_positive(
                caller.channel_id,
                submitted.message_ts,
                caller,
                reason=reason,
                duration=parse_duration(choice),
            )
            return PressOutcome()

        return await _answering(refine)

    # --- the use cases, one per kind of button --------------------------------------------

    async def handle_investigate_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        """Said at once; the investigation (every source asked) follows, in the thread."""
        caller = pressed.caller

        async def investigation() -> PressOutcome:
            result = await self.flows.pivots.investigate(
                pressed.value, team_id=caller.team_id, channel_id=caller.channel_id
            )
            return (
                PressOutcome(thread=result) if result.public else PressOutcome(result=result)
            )  # an error: theirs

        notice = build_notice_message(f"Investigating {pressed.value}… (results in the thread)")
        return PressOutcome(result=CommandResult(notice), then=functools.partial(_answering, investigation))

    async def handle_command_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        """Monitor, mute, unmute, timeline, all values, lift: the /monitor command behind it."""
        return PressOutcome(result=await self.flows.run(_command(kind, pressed.value), pressed.caller))

    async def handle_triage_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        """Store the alert's new state; the triage use cases edit the alert to show who and when."""
        triage = self._triage_flows(NO_TRIAGE)
        channel_id, ts = pressed.caller.channel_id, pressed.message_ts or ""
        await self._check_alert(triage, channel_id, ts, pressed.value)
        state = _TRIAGE_STATES[kind]
        result = await triage.set_state_on_message(channel_id, ts, state, pressed.caller)
        if state is not TriageState.FALSE_POSITIVE:
            return said(build_notice_message(f"Alert marked {state.value.replace('_', ' ')}."))
        notice = build_notice_message(
            f"Marked false positive ({result.reason}): its values are quiet here for "
            f"{format_duration(triage.suppression)}, both ways. `/monitor suppressions` lists them; "
            "each can be lifted."
        )
        refine = button(
            "Refine reason or duration", ActionId.REFINE.value, json.dumps({"c": channel_id, "ts": ts})
        )
        return said(Message(notice.text, [*notice.blocks, actions([refine])]))

    async def handle_refine_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        """The false positive form. The button is on a notice beside the alert, so its value
        names the alert's ts; its channel is the one the button was pressed in."""
        triage = self._triage_flows(NO_TRIAGE)
        channel_id = pressed.caller.channel_id
        try:
            ts = str(json.loads(pressed.value)["ts"])
            message = await triage.message(channel_id, ts)
        except (ValueError, KeyError, TypeError, UserInputError):
            raise UserInputError("This button is broken: it names no alert.") from None
        view = functools.partial(
            build_false_positive_modal, reason=message.triage.reason, duration=triage.suppression
        )
        return PressOutcome(form=Form(channel_id, ts, view))

    async def handle_snooze_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        triage = self._triage_flows("Snoozing is not available on this Watchpost.")
        channel_id, ts = pressed.caller.channel_id, pressed.message_ts or ""
        duration = parse_duration(pressed.value or "1d")
        await self._check_alert(triage, channel_id, ts, "")  # the value is a duration: only the alert
        until = await triage.snooze_on_message(channel_id, ts, pressed.caller, duration)
        return said(
            build_notice_message(
                f"Snoozed until {until:%Y-%m-%d %H:%M} UTC: no alerts from it here till then."
            )
        )

    async def handle_snooze_watch_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        """A finding's Snooze: the watches behind the message pressed, in its channel."""
        duration = parse_duration(pressed.value or "1d")
        return PressOutcome(
            result=await self.flows.watches.snooze_on_message(
                pressed.message_ts or "", duration, pressed.caller
            )
        )

    async def handle_dismiss_action(self, pressed: Press, kind: ActionId) -> PressOutcome:
        """ "Not a lookalike": stored, said in the channel, and the alert's buttons give way."""
        caller = pressed.caller
        result = await self.flows.watches.dismiss(pressed.value, caller)
        if not result.public:
            return PressOutcome(result=result)
        dismissed = build_dismissed_alert_message(
            pressed.message, user_id=caller.user_id, domain=pressed.value, at=self.flows.clock()
        )
        return PressOutcome(result=result, updated=dismissed)

    # --- helpers ----------------------------------------------------------------------------

    def _triage_flows(self, unavailable: str) -> TriageFlows:
        if self.triage is None:
            raise UserInputError(unavailable)
        return self.triage

    @staticmethod
    async def _check_alert(triage: TriageFlows, channel_id: str, ts: str, value: str) -> None:
        """UserInputError when the pressed message is no alert of ours here, or the button's
        value names another indicator than the alert's (a button not of this alert)."""
        alert = await triage.message(channel_id, ts)
        if value and value != alert.indicator:
            raise UserInputError(OTHER_ALERT)


HANDLERS: dict[ActionId, _Handler] = {
    ActionId.INVESTIGATE: ButtonDispatcher.handle_investigate_action,
    ActionId.MONITOR: ButtonDispatcher.handle_command_action,
    ActionId.MUTE: ButtonDispatcher.handle_command_action,
    ActionId.UNMUTE: ButtonDispatcher.handle_command_action,
    ActionId.TIMELINE: ButtonDispatcher.handle_command_action,
    ActionId.ALL_VALUES: ButtonDispatcher.handle_command_action,
    ActionId.LIFT: ButtonDispatcher.handle_command_action,
    ActionId.ACKNOWLEDGE: ButtonDispatcher.handle_triage_action,
    ActionId.FALSE_POSITIVE: ButtonDispatcher.handle_triage_action,
    ActionId.ACCEPT: ButtonDispatcher.handle_triage_action,
    ActionId.REFINE: ButtonDispatcher.handle_refine_action,
    ActionId.SNOOZE: ButtonDispatcher.handle_snooze_action,
    ActionId.SNOOZE_WATCH: ButtonDispatcher.handle_snooze_watch_action,
    ActionId.DISMISS: ButtonDispatcher.handle_dismiss_action,
}


async def _answering(run: Callable[[], Awaitable[PressOutcome]]) -> PressOutcome:
    """`run`'s PressOutcome; a user's mistake becomes one that says so, to them only."""
    try:
        return await run()
    except UserInputError as exc:
        return said(build_error_message(str(exc)))


def _command(kind: ActionId, value: str) -> Command:
    """The /monitor command a button stands for."""
    match kind:
        case ActionId.MONITOR:
            return AddCommand((parse_indicator(value),))
        case ActionId.MUTE | ActionId.UNMUTE:
            indicator, dataset = _mute_target(value)
            return MuteCommand(
                parse_indicator(indicator), parse_dataset(dataset), muted=kind is ActionId.MUTE
            )
        case ActionId.TIMELINE:
            return TimelineCommand(parse_indicator(value))
        case ActionId.ALL_VALUES:
            indicator, day = _all_values_target(value)
            return HistoryCommand(parse_indicator(indicator), day=day)
        case ActionId.LIFT if value.isdigit():
            return LiftCommand(int(value))
        case ActionId.LIFT:
            raise UserInputError("This button is broken: it names no suppression.")
    raise UserInputError(DOES_NOTHING)


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
