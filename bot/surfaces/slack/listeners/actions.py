"""Buttons and the false positive form, over HTTP and Socket Mode alike: a table of thin
registrations, each an action id pattern → the one dispatcher (bot/commands/buttons.py),
which the console presses too. What is Slack's stays here: where a press came from,
sealing a form's target, and showing the dispatcher's PressOutcome with Slack's calls.

Each button acts in the channel and on the message it was pressed on, as Slack's payload
says (bot/surfaces/slack/listeners/origin.py), never where a button's value says: a value naming
another channel is refused here, one naming another alert's indicator by the dispatcher,
and either way nothing changes."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.buttons import ButtonDispatcher, Press, PressOutcome, Submission
from bot.commands.messages.replies import build_error_message
from bot.core.ids import ActionId
from bot.core.message import Message
from bot.core.results import Caller, CommandResult
from bot.core.transport import DeliveryError
from bot.surfaces.slack.listeners.commands import send_result, upload_files
from bot.surfaces.slack.listeners.origin import (
    FormSeal,
    FormTarget,
    Misplaced,
    PressedAt,
    check_value,
    pressed_at,
)
from bot.surfaces.slack.responses import Reply
from bot.surfaces.slack.transport import delivery_error
from bot.triage.messages import FALSE_POSITIVE_MODAL, REASON_BLOCK

if TYPE_CHECKING:
    from bot.surfaces.slack.listeners import SlackDeps

log = logging.getLogger(__name__)

# Several buttons of a kind share a prefix: `investigate_0`, `investigate_1`, `snooze_7d`…
_NUMBERED = r"(_\d+)?"
_DURATION = r"(_\d+d)?"
BUTTONS: tuple[tuple[ActionId, str], ...] = (
    (ActionId.INVESTIGATE, _NUMBERED),
    (ActionId.MONITOR, _NUMBERED),
    (ActionId.MUTE, _NUMBERED),
    (ActionId.UNMUTE, _NUMBERED),
    (ActionId.TIMELINE, _NUMBERED),
    (ActionId.ALL_VALUES, _NUMBERED),
    (ActionId.LIFT, _NUMBERED),
    (ActionId.DISMISS, _NUMBERED),
    (ActionId.ACCEPT, ""),
    (ActionId.ACKNOWLEDGE, ""),
    (ActionId.FALSE_POSITIVE, ""),
    (ActionId.REFINE, ""),
    (ActionId.SNOOZE, _DURATION),
    (ActionId.SNOOZE_WATCH, _DURATION),
)
FORMS = (FALSE_POSITIVE_MODAL,)


def register(app: AsyncApp, deps: SlackDeps, seal: FormSeal) -> None:
    """Every button and form: acknowledged at once, then handed to the dispatcher."""
    listeners = ActionListeners(deps, seal)
    for kind, suffix in BUTTONS:
        app.action(re.compile(rf"^{kind.value}{suffix}$"))(
            ack=acknowledge, lazy=[listeners.handle_button_action]
        )
    for form in FORMS:
        app.view(form)(ack=listeners.acknowledge_form, lazy=[listeners.handle_form_submission])


class ActionListeners:
    """Slack's side of a press or a submission: its place and its answer."""

    def __init__(self, deps: SlackDeps, seal: FormSeal) -> None:
        self.deps = deps
        self.seal = seal
        self.dispatcher = ButtonDispatcher(deps.flows, deps.triage)

    async def handle_button_action(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A press whose payload or value disagrees with where it was pressed is refused,
        to the one who pressed, before the dispatcher sees it."""
        respond = self.deps.replies.to(body)
        action = (body.get("actions") or [{}])[0]
        value = str(action.get("value") or "")
        try:
            place = pressed_at(body)
            check_value(value, place)
        except Misplaced as refusal:
            await refuse(respond, body, refusal)
            return
        shown = body.get("message") or {}
        pressed = Press(
            str(action.get("action_id") or ""),
            value,
            place.caller,
            message_ts=place.message_ts or None,
            message=Message(str(shown.get("text") or ""), list(shown.get("blocks") or [])),
        )
        outcome = await self.dispatcher.press(pressed)
        await self.show(outcome, place, respond, client, trigger_id=str(body.get("trigger_id") or ""))

    async def acknowledge_form(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A form whose private_metadata this app did not seal for the submitter is
        refused in the form itself (only they see it); nothing is stored."""
        try:
            self.form_target(body)
        except Misplaced as refusal:
            log.warning("a form was refused: %s", refusal)
            await ack(response_action="errors", errors={REASON_BLOCK: str(refusal)})
            return
        await ack()

    async def handle_form_submission(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        try:
            target = self.form_target(body)
        except Misplaced:
            return  # refused when acknowledged
        view = body.get("view") or {}
        caller = Caller(team_id=team_of(body), channel_id=target.channel_id, user_id=target.user_id)
        submitted = Submission(str(view.get("callback_id") or ""), caller, target.message_ts, chosen(view))
        outcome = await self.dispatcher.submit(submitted)
        if outcome.result is None:
            return
        reply = outcome.result.reply  # a form has no response_url: only its submitter sees this
        try:
            await client.chat_postEphemeral(
                channel=target.channel_id, user=target.user_id, text=reply.text, blocks=reply.blocks
            )
        except Exception as failure:
            log.warning("the answer to a form was not shown: %s", delivery_error(failure))

    def form_target(self, body: dict[str, Any]) -> FormTarget:
        view = body.get("view") or {}
        user_id = str((body.get("user") or {}).get("id") or "")
        return self.seal.open(str(view.get("private_metadata") or ""), user_id=user_id)

    async def show(
        self,
        outcome: PressOutcome,
        place: PressedAt,
        respond: Reply,
        client: AsyncWebClient,
        *,
        trigger_id: str,
    ) -> None:
        """The PressOutcome with Slack's calls, in its order; then its slow part, shown the same way."""
        if outcome.result is not None:
            await send_result(outcome.result, respond)
            # A picture goes to the thread of the pressed message, or the channel when that
            # message was only shown to the one who pressed (a /monitor status reply).
            thread_ts = None if place.ephemeral else place.thread_ts
            await upload_files(
                self.deps.transport, outcome.result, place.channel_id, thread_ts=thread_ts, reply=respond
            )
        if outcome.thread is not None:
            await self.post_in_thread(outcome.thread, place, respond)
        if outcome.updated is not None:
            await update(client, place, outcome.updated)
        if outcome.form is not None:
            metadata = self.seal.seal(
                FormTarget(outcome.form.channel_id, outcome.form.message_ts, place.user_id)
            )
            try:
                await client.views_open(trigger_id=trigger_id, view=outcome.form.view(metadata))
            except Exception as exc:
                log.warning("form not opened: %s", delivery_error(exc))
                await respond.send(build_error_message("Slack did not open the form; try again."))
        if outcome.then is not None:
            await self.show(await outcome.then(), place, respond, client, trigger_id=trigger_id)

    async def post_in_thread(self, result: CommandResult, place: PressedAt, respond: Reply) -> None:
        """For the whole channel, in the pressed message's thread (an investigation)."""
        transport = self.deps.transport
        try:
            await transport.post(place.channel_id, result.reply, thread_ts=place.thread_ts)
        except DeliveryError as exc:
            log.warning("investigation not posted in %s: %s", place.channel_id, exc)
            await respond.send(build_error_message(f"Could not post the investigation: {exc}"))
            return
        await upload_files(transport, result, place.channel_id, thread_ts=place.thread_ts, reply=respond)


async def acknowledge(ack: AsyncAck) -> None:
    await ack()


async def update(client: AsyncWebClient, place: PressedAt, message: Message) -> None:
    """The pressed message edited in place; a failure is logged (what was done stays done)."""
    try:
        await client.chat_update(
            channel=place.channel_id, ts=place.message_ts, text=message.text, blocks=message.blocks
        )
    except Exception as exc:
        log.warning("could not edit the pressed message: %s", delivery_error(exc))


def chosen(view: dict[str, Any]) -> dict[str, str]:
    """A submitted form's choices: each input's action id → the value of its selected option."""
    values = (view.get("state") or {}).get("values") or {}
    choices: dict[str, str] = {}
    for block in values.values() if isinstance(values, dict) else ():
        for action_id, state in block.items() if isinstance(block, dict) else ():
            option = state.get("selected_option") if isinstance(state, dict) else None
            if isinstance(option, dict) and "value" in option:
                choices[str(action_id)] = str(option["value"])
    return choices


def team_of(body: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")


async def refuse(respond: Reply, body: dict[str, Any], refusal: Misplaced) -> None:
    """Tell the one who pressed why nothing happened; the log keeps who and which button."""
    actions = body.get("actions") or [{}]
    user = (body.get("user") or {}).get("id")
    log.warning("button %s pressed by %s refused: %s", actions[0].get("action_id"), user, refusal)
    await respond.send(build_error_message(str(refusal)))
