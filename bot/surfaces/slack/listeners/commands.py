"""`/monitor` and `/unmonitor`: acknowledged at once, run after, answered through the
command's response_url (only the user sees it unless the result is public). No Bolt
listener: a command reaches `SlashCommands.take` through the one entry of both transports
(bot/surfaces/slack/front.py, `SlashCommandEntry`) once Slack has its answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.commands.messages.replies import build_error_message, fit_responses
from bot.core.results import Caller, CommandResult
from bot.core.transport import DeliveryError, Transport
from bot.surfaces.slack.responses import RESPONSE_URL_USES, Reply

if TYPE_CHECKING:
    from bot.surfaces.slack.listeners import SlackDeps

log = logging.getLogger(__name__)


class SlashCommands:
    """`/monitor` and `/unmonitor`, from a command's form fields to its replies. The front
    (bot/surfaces/slack/front.py) takes them once Slack has its answer, over HTTP or Socket Mode
    alike. A web process with workers hands them over (bot/surfaces/slack/handover.py) and a
    worker runs them; otherwise they run here."""

    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps

    async def take(self, key: str, body: dict[str, Any]) -> None:
        """An answered command: to the workers if there are any, else run here. `key`
        tells one request from another (its signature): a replay is dropped."""
        if self.deps.handover is None:
            await self.run(body)
        else:
            await self.deps.handover.give(key, body, self.run)

    async def run(self, body: dict[str, Any]) -> None:
        reply = self.deps.replies.to(body)
        caller = command_caller(body)
        text = str(body.get("text") or "")
        command = str(body.get("command") or "")
        if command == "/monitor":
            result = await self.deps.flows.execute(text, caller)
        elif command == "/unmonitor":
            result = await self.deps.flows.execute(f"remove {text}", caller)
        else:  # Slack sends only the app's own commands; say so rather than stay silent
            await reply.send(build_error_message(f"Watchpost answers `/monitor`, not `{command}`."))
            return
        await send_result(result, reply)
        await upload_files(self.deps.transport, result, caller.channel_id, thread_ts=None, reply=reply)


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
    reply: Reply,
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
            await reply.send(build_error_message(f"Could not upload {upload.filename}: {exc}"))
            return


async def send_result(result: CommandResult, reply: Reply) -> None:
    """The reply, then what the follow-up finds, within response_url's five uses."""
    await reply.send(result.reply, public=result.public)
    if result.follow_up is not None:
        for message in fit_responses(await result.follow_up(), RESPONSE_URL_USES - 1):
            await reply.send(message)
