"""Buttons on alerts and investigations: investigate (pivot), monitor, mute, accept."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.flows import Caller
from bot.delivery.transport import DeliveryError
from bot.errors import UserInputError
from bot.model.indicators import parse_indicator
from bot.render.alerts import build_accepted_alert_message
from bot.render.ids import ActionId
from bot.render.messages import Message
from bot.render.replies import build_error_message, build_notice_message
from bot.slack.listeners.commands import respond_with, send_result
from bot.slack.transport import delivery_error

if TYPE_CHECKING:
    from bot.slack.listeners import SlackDeps

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: SlackDeps) -> None:
    flows = deps.flows
    transport = deps.transport

    async def handle_investigate_action(body: dict[str, Any], respond: AsyncRespond) -> None:
        """The investigation goes in the clicked message's thread, for the whole channel."""
        refusal = await flows.throttled(caller_of(body))  # an investigation asks every source
        if refusal is not None:
            await respond_with(respond, refusal)
            return
        value = action_value(body)
        channel_id, thread_ts = channel_of(body), thread_of(body)
        await respond_with(respond, build_notice_message(f"Investigating {value}… (results in the thread)"))
        result = await flows.investigate(value, team_id=team_of(body))
        if not result.public:  # an error: for the one who clicked only
            await respond_with(respond, result.reply)
            return
        try:
            await transport.post(channel_id, result.reply, thread_ts=thread_ts)
        except DeliveryError as exc:
            log.warning("investigation of %s not posted in %s: %s", value, channel_id, exc)
            await respond_with(respond, build_error_message(f"Could not post the investigation: {exc}"))

    async def handle_monitor_action(body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            indicator = parse_indicator(action_value(body))
        except UserInputError as exc:
            await respond_with(respond, build_error_message(str(exc)))
            return
        await send_result(await flows.execute(indicator.value, caller_of(body)), respond)

    async def handle_mute_action(body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            target = json.loads(action_value(body))
            indicator, dataset = str(target["i"]), str(target["d"])
        except (ValueError, KeyError, TypeError):
            await respond_with(respond, build_error_message("This button is broken: it names no dataset."))
            return
        await send_result(await flows.execute(f"mute {indicator} {dataset}", caller_of(body)), respond)

    async def handle_accept_action(
        body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        """Acknowledge the alert: its buttons give way to who accepted it. The changes are
        already the stored state; pending confirmations are left to the next checks."""
        shown = body.get("message") or {}
        original = Message(str(shown.get("text") or ""), list(shown.get("blocks") or []))
        user_id = str((body.get("user") or {}).get("id") or "")
        accepted = build_accepted_alert_message(original, user_id=user_id, accepted_at=flows.clock())
        log.info("alert %s in %s accepted as baseline by %s", shown.get("ts"), channel_of(body), user_id)
        try:
            await client.chat_update(
                channel=channel_of(body),
                ts=str(shown.get("ts") or ""),
                text=accepted.text,
                blocks=accepted.blocks,
            )
        except Exception as exc:
            error = delivery_error(exc)
            log.warning("could not mark the alert accepted: %s", error)
            await respond_with(respond, build_error_message(f"Could not update the alert: {error}"))

    # Several buttons of a kind share a prefix: `investigate_0`, `investigate_1`, …
    for prefix, handler in (
        (ActionId.INVESTIGATE, handle_investigate_action),
        (ActionId.MONITOR, handle_monitor_action),
        (ActionId.MUTE, handle_mute_action),
    ):
        app.action(re.compile(rf"^{prefix.value}(_\d+)?$"))(ack=acknowledge, lazy=[handler])
    app.action(ActionId.ACCEPT.value)(ack=acknowledge, lazy=[handle_accept_action])


async def acknowledge(ack: AsyncAck) -> None:
    await ack()


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def team_of(body: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")


def channel_of(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")


def thread_of(body: dict[str, Any]) -> str | None:
    """The thread of the clicked message: its own thread, or the thread it starts."""
    message = body.get("message") or {}
    ts = message.get("thread_ts") or message.get("ts") or (body.get("container") or {}).get("message_ts")
    return str(ts) if ts else None


def caller_of(body: dict[str, Any]) -> Caller:
    return Caller(
        team_id=team_of(body),
        channel_id=channel_of(body),
        user_id=str((body.get("user") or {}).get("id") or ""),
    )
