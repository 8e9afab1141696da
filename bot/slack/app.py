"""The Bolt app: built from the settings and the services, with every Slack listener."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack.listeners import SlackDeps, register
from bot.slack.transport import build_web_client


def create_app(settings: Settings, deps: SlackDeps, *, client: AsyncWebClient | None = None) -> AsyncApp:
    """The AsyncApp with the slash commands, buttons and App Home registered. Its Web API
    client (SLACK_API_URL, retries) is `client` when given, so the transport shares it."""
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_drop_token_warning)
    app = AsyncApp(
        name="watchpost",
        client=client if client is not None else build_web_client(settings),
        signing_secret=settings.slack_signing_secret.reveal(),
    )
    register(app, deps)
    return app


def _drop_token_warning(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the client's token wins; the
    client is built from that same setting, so the warning only confuses operators."""
    return "`token` will be unused" not in record.getMessage()
