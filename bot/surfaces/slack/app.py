"""The Bolt app: built from the settings and the services, with every Slack listener."""

from __future__ import annotations

import logging

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.surfaces.slack.listeners import SlackDeps, register
from bot.surfaces.slack.listeners.origin import FormSeal
from bot.surfaces.slack.retries import ProcessMemory, RequestMemory, once_per_request
from bot.surfaces.slack.transport import build_web_client


def create_app(
    settings: Settings,
    deps: SlackDeps,
    *,
    client: AsyncWebClient | None = None,
    seen: RequestMemory | None = None,
) -> AsyncApp:
    """The AsyncApp with the buttons, forms and App Home registered (slash commands are
    taken before Bolt, in both modes: bot/surfaces/slack/front.py). Its Web API
    client (SLACK_API_URL, retries) is `client` when given, so the transport shares it.
    Each request is served once however often Slack delivers it, remembered in `seen`
    (the memory every process shares; this process's own when not given)."""
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    bolt_log.addFilter(_drop_token_warning)
    bolt_log.addFilter(SlackUnreachableLog())
    app = AsyncApp(
        name="watchpost",
        client=client if client is not None else build_web_client(settings),
        signing_secret=settings.slack_signing_secret.reveal(),
    )
    app.use(once_per_request(seen if seen is not None else ProcessMemory()))
    register(app, deps, FormSeal(form_key(settings)))
    return app


def form_key(settings: Settings) -> str:
    """What seals a modal's private_metadata: the signing secret; in Socket Mode, where
    there may be none, the app token (every process of the app has the same)."""
    return (
        settings.slack_signing_secret.reveal()
        or settings.slack_app_token.reveal()
        or settings.slack_bot_token.reveal()
    )


def _drop_token_warning(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the client's token wins; the
    client is built from that same setting, so the warning only confuses operators."""
    return "`token` will be unused" not in record.getMessage()


class SlackUnreachableLog(logging.Filter):
    """While Slack's API cannot be reached, Bolt fails each request in its authorization
    middleware (auth.test) and logs a traceback for it, some 65 lines. Those become one
    warning line each, with how many requests it was so far: an outage, not a bug."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not _is_unreachable(error):
            return True
        self.count += 1
        plural = "s" * (self.count != 1)
        record.msg = (
            f"Slack unreachable ({error.__class__.__name__}): a request from Slack was not served "
            f"({self.count} request{plural} so far)"
        )
        record.args = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


def _is_unreachable(error: BaseException) -> bool:
    """A connection that failed or timed out, not an answer from Slack."""
    return isinstance(error, aiohttp.ClientConnectionError | TimeoutError | ConnectionError)
