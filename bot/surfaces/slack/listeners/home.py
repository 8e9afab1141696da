"""The App Home tab: published for a user whenever they open it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.surfaces.slack.transport import delivery_error

if TYPE_CHECKING:
    from bot.surfaces.slack.listeners import SlackDeps

log = logging.getLogger(__name__)

CONVERSATION_TYPES = "public_channel,private_channel,mpim,im"
MEMBERSHIP_PAGES = 10


def register(app: AsyncApp, deps: SlackDeps) -> None:
    flows = deps.flows

    async def handle_home_opened(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = str(event.get("user") or "")
        team_id = str(body.get("team_id") or "")
        try:
            channels = await member_channels(client, user_id)
            blocks = await flows.pivots.home_blocks(team_id=team_id, user_id=user_id, channel_ids=channels)
            await client.views_publish(user_id=user_id, view={"type": "home", "blocks": blocks})
        except Exception as exc:
            log.warning("App Home of %s not published: %s", user_id, delivery_error(exc))

    app.event("app_home_opened")(handle_home_opened)


async def member_channels(client: AsyncWebClient, user_id: str) -> set[str] | None:
    """The conversations the user is in that the bot can see (users.conversations with the
    bot token lists private ones only where both are members). None when Slack will not
    say: the caller then shows only what the user created."""
    channels: set[str] = set()
    cursor: str | None = None
    for _ in range(MEMBERSHIP_PAGES):
        try:
            page = await client.users_conversations(
                user=user_id, types=CONVERSATION_TYPES, exclude_archived=True, limit=999, cursor=cursor
            )
        except Exception as exc:
            log.warning("channels of %s unknown (%s): App Home shows their own monitors", user_id, exc)
            return None
        channels.update(str(c["id"]) for c in page.get("channels") or [] if c.get("id"))
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            break
    return channels
