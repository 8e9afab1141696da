"""Buttons on alerts and investigations: investigate (pivot), monitor, mute; triage on the
alert itself (acknowledge, false positive, snooze, accept as baseline = expected), which
edits the alert in place; and lifting a suppression from `/monitor suppressions`.

Each acts in the channel and on the message it was pressed on, as Slack's payload says
(bot/slack/listeners/origin.py), never where a button's value says: a value naming
another channel, or another indicator than the alert's, is refused and changes nothing."""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.buttons import press
from bot.commands.grammar import LiftCommand, parse_duration
from bot.commands.results import Caller
from bot.delivery.transport import DeliveryError
from bot.errors import UserInputError
from bot.model.triage import TriageState, format_duration
from bot.render.ids import ActionId
from bot.render.lookalikes import build_dismissed_alert_message
from bot.render.messages import Message, actions, button
from bot.render.modals import (
    DURATION_ACTION,
    DURATION_BLOCK,
    FALSE_POSITIVE_MODAL,
    REASON_ACTION,
    REASON_BLOCK,
    build_false_positive_modal,
)
from bot.render.replies import build_error_message, build_notice_message
from bot.slack.listeners.commands import send_result, upload_files
from bot.slack.listeners.origin import (
    OTHER_ALERT,
    FormSeal,
    FormTarget,
    Misplaced,
    PressedAt,
    check_value,
    pressed_at,
)
from bot.slack.responses import Reply
from bot.slack.transport import delivery_error
from bot.storage.triage import AlertMessageState

if TYPE_CHECKING:
    from bot.slack.listeners import SlackDeps

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: SlackDeps, seal: FormSeal) -> None:
    """Every button and the false positive form. A button acts where it was pressed
    (bot/slack/listeners/origin.py); the form on what `seal` vouches it was opened for."""
    flows = deps.flows
    transport = deps.transport

    def lazily(handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """The Bolt listener for `handler`: its `respond` replies over the shared session
        (bot/slack/responses.py), not Bolt's client-per-reply; its `place` is where the
        button was pressed, and a press whose payload or value disagrees with that place
        is refused here, to the one who pressed, before the handler runs."""
        wanted = inspect.signature(handler).parameters

        async def listener(body: dict[str, Any], client: AsyncWebClient) -> None:
            respond = deps.replies.to(body)
            given: dict[str, Any] = {}
            if "place" in wanted:
                try:
                    given["place"] = place = pressed_at(body)
                    check_value(action_value(body), place)
                except Misplaced as refusal:
                    await refuse(respond, body, refusal)
                    return
            for name, value in (("body", body), ("client", client), ("respond", respond)):
                if name in wanted:
                    given[name] = value
            await handler(**given)

        return listener

    async def handle_investigate_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        """The investigation goes in the clicked message's thread, for the whole channel."""
        refusal = await flows.throttled(place.caller)  # an investigation asks every source
        if refusal is not None:
            await respond.send(refusal)
            return
        value = action_value(body)
        channel_id, thread_ts = place.channel_id, place.thread_ts
        await respond.send(build_notice_message(f"Investigating {value}… (results in the thread)"))
        result = await flows.pivots.investigate(value, team_id=place.team_id, channel_id=place.channel_id)
        if not result.public:  # an error: for the one who clicked only
            await respond.send(result.reply)
            return
        try:
            await transport.post(channel_id, result.reply, thread_ts=thread_ts)
        except DeliveryError as exc:
            log.warning("investigation of %s not posted in %s: %s", value, channel_id, exc)
            await respond.send(build_error_message(f"Could not post the investigation: {exc}"))
            return
        await upload_files(transport, result, channel_id, thread_ts=thread_ts, reply=respond)

    async def handle_button(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        """Monitor, mute, timeline, all values: the use case every surface's button runs
        (bot/commands/buttons.py)."""
        caller = place.caller
        refusal = await flows.throttled(caller)
        if refusal is not None:
            await respond.send(refusal)
            return
        actions = body.get("actions") or [{}]
        outcome = await press(
            flows,
            caller,
            action_id=str(actions[0].get("action_id") or ""),
            value=action_value(body),
            message=Message(""),
        )
        await send_result(outcome.result, respond)
        # A picture goes to the thread of the clicked message, or the channel when that
        # message was only shown to the one who clicked (a /monitor status reply).
        thread_ts = None if place.ephemeral else place.thread_ts
        await upload_files(transport, outcome.result, caller.channel_id, thread_ts=thread_ts, reply=respond)

    triage = deps.triage

    async def alert_pressed(place: PressedAt, value: str) -> AlertMessageState:
        """The alert the button is on; UserInputError when it is none of ours here, or the
        button's value names another indicator than the alert's (a button not of this alert)."""
        assert triage is not None
        alert = await triage.message(place.channel_id, place.message_ts)
        if value and value != alert.indicator:
            raise UserInputError(OTHER_ALERT)
        return alert

    async def set_triage(body: dict[str, Any], place: PressedAt, respond: Reply, state: TriageState) -> None:
        """Store the alert's new state; the alert is edited in place to show who and when."""
        if triage is None:
            await respond.send(build_error_message("Triage is not available on this Watchpost."))
            return
        try:
            await alert_pressed(place, action_value(body))
            caller = place.caller
            result = await triage.set_state_on_message(place.channel_id, place.message_ts, state, caller)
        except UserInputError as exc:
            await respond.send(build_error_message(str(exc)))
            return
        if state is TriageState.FALSE_POSITIVE:
            days = format_duration(triage.suppression)
            notice = build_notice_message(
                f"Marked false positive ({result.reason}): its values are quiet here for {days}, "
                "both ways. `/monitor suppressions` lists them; each can be lifted."
            )
            refine = button(
                "Refine reason or duration",
                ActionId.REFINE.value,
                json.dumps({"c": place.channel_id, "ts": place.message_ts}),
            )
            await respond.send(Message(notice.text, [*notice.blocks, actions([refine])]))

    async def handle_refine_action(
        body: dict[str, Any], place: PressedAt, client: AsyncWebClient, respond: Reply
    ) -> None:
        """Open the modal to refine a false positive's reason and duration. The button is
        on a notice beside the alert, so the value names the alert's ts; its channel is the
        one the button was pressed in (a value naming another was refused already)."""
        if triage is None:
            return
        try:
            ts = str(json.loads(action_value(body))["ts"])
            message = await triage.message(place.channel_id, ts)
        except (ValueError, KeyError, TypeError, UserInputError):
            await respond.send(build_error_message("This button is broken: it names no alert."))
            return
        metadata = seal.seal(FormTarget(place.channel_id, ts, place.user_id))
        view = build_false_positive_modal(metadata, reason=message.triage.reason, duration=triage.suppression)
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except Exception as exc:
            log.warning("false positive modal not opened: %s", delivery_error(exc))
            await respond.send(build_error_message("Slack did not open the form; try again."))

    async def acknowledge_refine_form(ack: AsyncAck, body: dict[str, Any]) -> None:
        """A form whose private_metadata this app did not seal for the submitter is
        refused in the form itself (only they see it); nothing is stored."""
        try:
            form_target(body)
        except Misplaced as refusal:
            log.warning("a false positive form was refused: %s", refusal)
            await ack(response_action="errors", errors={REASON_BLOCK: str(refusal)})
            return
        await ack()

    def form_target(body: dict[str, Any]) -> FormTarget:
        view = body.get("view") or {}
        user_id = str((body.get("user") or {}).get("id") or "")
        return seal.open(str(view.get("private_metadata") or ""), user_id=user_id)

    async def handle_refine_submission(body: dict[str, Any], client: AsyncWebClient) -> None:
        if triage is None:
            return
        try:
            target = form_target(body)
        except Misplaced:
            return  # refused when acknowledged
        view = body.get("view") or {}
        try:
            values = (view.get("state") or {}).get("values") or {}
            reason = str(values[REASON_BLOCK][REASON_ACTION]["selected_option"]["value"])
            duration = parse_duration(
                str(values[DURATION_BLOCK][DURATION_ACTION]["selected_option"]["value"])
            )
            caller = Caller(team_id=team_of(body), channel_id=target.channel_id, user_id=target.user_id)
            await triage.refine_false_positive(
                target.channel_id, target.message_ts, caller, reason=reason, duration=duration
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("false positive form unreadable: %s", exc.__class__.__name__)
        except UserInputError as exc:
            try:
                await client.chat_postEphemeral(channel=target.channel_id, user=target.user_id, text=str(exc))
            except Exception as failure:
                log.warning("refusal of the false positive form not shown: %s", delivery_error(failure))

    async def handle_ack_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        await set_triage(body, place, respond, TriageState.ACKNOWLEDGED)

    async def handle_false_positive_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        await set_triage(body, place, respond, TriageState.FALSE_POSITIVE)

    async def handle_accept_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        """Accept as baseline: the alert is closed as `expected` (the changes are already the
        stored state; pending confirmations are left to the next checks)."""
        await set_triage(body, place, respond, TriageState.EXPECTED)

    async def handle_snooze_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        if triage is None:
            await respond.send(build_error_message("Snoozing is not available on this Watchpost."))
            return
        try:
            duration = parse_duration(action_value(body) or "1d")
            await alert_pressed(place, "")  # the value is a duration: only the alert to check
            until = await triage.snooze_on_message(place.channel_id, place.message_ts, place.caller, duration)
        except UserInputError as exc:
            await respond.send(build_error_message(str(exc)))
            return
        await respond.send(
            build_notice_message(
                f"Snoozed until {until:%Y-%m-%d %H:%M} UTC: no alerts from it here till then."
            ),
        )

    async def handle_snooze_watch_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        """A finding's Snooze: the watches behind the message pressed, in its channel."""
        try:
            duration = parse_duration(action_value(body) or "1d")
            result = await flows.watches.snooze_on_message(place.message_ts, duration, place.caller)
        except UserInputError as exc:
            await respond.send(build_error_message(str(exc)))
            return
        await send_result(result, respond)

    async def handle_lift_action(body: dict[str, Any], place: PressedAt, respond: Reply) -> None:
        value = action_value(body)
        if not value.isdigit():
            await respond.send(build_error_message("This button is broken: it names no suppression."))
            return
        await send_result(await flows.run(LiftCommand(int(value)), place.caller), respond)

    async def handle_dismiss_action(
        body: dict[str, Any], place: PressedAt, client: AsyncWebClient, respond: Reply
    ) -> None:
        """ "Not a lookalike": stored, said in the channel, and the alert's buttons give way."""
        caller = place.caller
        domain = action_value(body)
        result = await flows.watches.dismiss(domain, caller)
        await send_result(result, respond)
        if not result.public:
            return
        shown = body.get("message") or {}
        original = Message(str(shown.get("text") or ""), list(shown.get("blocks") or []))
        dismissed = build_dismissed_alert_message(
            original, user_id=caller.user_id, domain=domain, at=flows.clock()
        )
        try:
            await client.chat_update(
                channel=place.channel_id,
                ts=place.message_ts,
                text=dismissed.text,
                blocks=dismissed.blocks,
            )
        except Exception as exc:
            log.warning("could not mark the lookalike alert dismissed: %s", delivery_error(exc))

    # Several buttons of a kind share a prefix: `investigate_0`, `investigate_1`, …
    for prefix, handler in (
        (ActionId.INVESTIGATE, handle_investigate_action),
        (ActionId.MONITOR, handle_button),
        (ActionId.MUTE, handle_button),
        (ActionId.UNMUTE, handle_button),
        (ActionId.TIMELINE, handle_button),
        (ActionId.ALL_VALUES, handle_button),
        (ActionId.LIFT, handle_lift_action),
    ):
        app.action(re.compile(rf"^{prefix.value}(_\d+)?$"))(ack=acknowledge, lazy=[lazily(handler)])
    app.action(ActionId.ACCEPT.value)(ack=acknowledge, lazy=[lazily(handle_accept_action)])
    app.action(re.compile(rf"^{ActionId.DISMISS.value}(_\d+)?$"))(
        ack=acknowledge, lazy=[lazily(handle_dismiss_action)]
    )
    app.action(ActionId.ACKNOWLEDGE.value)(ack=acknowledge, lazy=[lazily(handle_ack_action)])
    app.action(ActionId.FALSE_POSITIVE.value)(ack=acknowledge, lazy=[lazily(handle_false_positive_action)])
    app.action(ActionId.REFINE.value)(ack=acknowledge, lazy=[lazily(handle_refine_action)])
    app.view(FALSE_POSITIVE_MODAL)(ack=acknowledge_refine_form, lazy=[lazily(handle_refine_submission)])
    app.action(re.compile(rf"^{ActionId.SNOOZE.value}(_\d+d)?$"))(
        ack=acknowledge, lazy=[lazily(handle_snooze_action)]
    )
    app.action(re.compile(rf"^{ActionId.SNOOZE_WATCH.value}(_\d+d)?$"))(
        ack=acknowledge, lazy=[lazily(handle_snooze_watch_action)]
    )


async def acknowledge(ack: AsyncAck) -> None:
    await ack()


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def team_of(body: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")


async def refuse(respond: Reply, body: dict[str, Any], refusal: Misplaced) -> None:
    """Tell the one who pressed why nothing happened; the log keeps who and which button."""
    actions = body.get("actions") or [{}]
    user = (body.get("user") or {}).get("id")
    log.warning("button %s pressed by %s refused: %s", actions[0].get("action_id"), user, refusal)
    await respond.send(build_error_message(str(refusal)))
