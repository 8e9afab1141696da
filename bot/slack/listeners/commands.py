"""`/monitor` and `/unmonitor`: acknowledged at once, run in a lazy listener, answered
through the command's response_url (only the user sees it unless the result is public)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.commands.results import Caller, CommandResult
from bot.delivery.transport import DeliveryError, Transport
from bot.render.messages import Message
from bot.render.replies import build_error_message, fit_responses

if TYPE_CHECKING:
    from bot.slack.listeners import SlackDeps

log = logging.getLogger(__name__)

# Slack accepts five posts to one response_url.
RESPONSE_URL_USES = 5


def register(app: AsyncApp, deps: SlackDeps) -> None:
    flows = deps.flows

    async def handle_monitor_command(body: dict[str, Any], respond: AsyncRespond) -> None:
        caller = command_caller(body)
        result = await flows.execute(str(body.get("text") or ""), caller)
        await send_result(result, respond)
        await upload_files(deps.transport, result, caller.channel_id, thread_ts=None, respond=respond)

    async def handle_unmonitor_command(body: dict[str, Any], respond: AsyncRespond) -> None:
        result = await flows.execute(f"remove {body.get('text') or ''}", command_caller(body))
        await send_result(result, respond)

    app.command("/monitor")(ack=acknowledge, lazy=[handle_monitor_command])
    app.command("/unmonitor")(ack=acknowledge, lazy=[handle_unmonitor_command])


async def acknowledge(ack: AsyncAck) -> None:
    """Slack wants an answer within 3 seconds: give it before any work."""
    await ack()


def command_caller(body: dict[str, Any]) -> Caller:
    return Caller(
        team_id=str(body.get("team_id") or ""),
        channel_id=str(body.get("channel_id") or ""),
        user_id=str(body.get("user_id") or ""),
    )


async def upload_files(
    transport: Transport,
    result: CommandResult,
    channel_id: str,
    *,
    thread_ts: str | None,
    respond: AsyncRespond,
) -> None:
    """The result's files (a timeline picture) into the channel, or the thread; a failure
    is told to the one who asked."""
    for upload in result.files:
        try:
            await transport.upload_file(
                channel_id,
                thread_ts=thread_ts,
                filename=upload.filename,
                content=upload.content,
                title=upload.title,
            )
        except DeliveryError as exc:
            log.warning("file %s not uploaded to %s: %s", upload.filename, channel_id, exc)
            await respond_with(respond, build_error_message(f"Could not upload {upload.filename}: {exc}"))
            return


async def send_result(result: CommandResult, respond: AsyncRespond) -> None:
    """The reply, then what the follow-up finds, within response_url's five uses."""
    await respond_with(respond, result.reply, public=result.public)
    if result.follow_up is not None:
        for message in fit_responses(await result.follow_up(), RESPONSE_URL_USES - 1):
            await respond_with(respond, message)


async def respond_with(respond: AsyncRespond, message: Message, *, public: bool = False) -> None:
    try:
        response = await respond(
            text=message.text,
            blocks=message.blocks or None,
            response_type="in_channel" if public else "ephemeral",
            replace_original=False,
        )
    except Exception as exc:  # the user misses one reply; nothing else depends on it
        log.warning("reply through response_url failed: %s", exc.__class__.__name__)
        return
    if response.status_code != 200:
        log.warning("reply through response_url refused: HTTP %s", response.status_code)
