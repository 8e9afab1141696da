"""Socket Mode, with slash commands taken before Bolt as in HTTP mode.

Slack's envelopes come over one WebSocket; slack_sdk's client hands each to this handler.
A `slash_commands` envelope is acknowledged at once (an empty `SocketModeResponse`, what
Bolt would have sent for an empty ack) and its payload, the command's fields, goes to the
one entry HTTP mode uses too (bot/surfaces/slack/front.py, `SlashCommandEntry`). Everything else
(buttons, modal submissions, events) goes through Bolt as before.
"""

from __future__ import annotations

import asyncio
import uuid

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.batching import cancel_after
from bot.surfaces.slack.front import SlashCommandEntry

SLASH_COMMANDS = "slash_commands"


class CommandsFirstSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, but a slash command is acknowledged and handed to
    `commands` without Bolt. `close_async` lets the commands still on their way to the
    entry get there, so the front's drain covers them."""

    def __init__(
        self, app: AsyncApp, app_token: str, *, web_client: AsyncWebClient, commands: SlashCommandEntry
    ) -> None:
        super().__init__(app, app_token, web_client=web_client)
        self.commands = commands
        self._taking: set[asyncio.Task[None]] = set()

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        self.commands.arrived()
        if req.type != SLASH_COMMANDS:
            await super().handle(client, req)
            return
        # Held from here, the ack included, so that closing waits for it.
        taking = asyncio.create_task(self._acknowledge_and_take(client, req))
        self._taking.add(taking)
        taking.add_done_callback(self._taking.discard)
        await taking

    async def _acknowledge_and_take(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        """The ack first (a command whose ack could not be sent is not taken), then the entry."""
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        await self.commands.take(dict(req.payload), delivery=f"socket:{uuid.uuid4()}")

    async def close_async(self, grace: float = 5.0) -> None:
        """No envelope comes in after this; the commands already acknowledged reach the entry."""
        await super().close_async()  # type: ignore[no-untyped-call]
        await cancel_after(grace, list(self._taking))
