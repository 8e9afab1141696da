"""A long-running process's life, shared by `watchpost serve` and `watchpost worker`: the
Slack token checked at start (Slack being away is not fatal), and waiting for SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.surfaces.slack.transport import delivery_error

if TYPE_CHECKING:
    from bot.composition import Services

log = logging.getLogger(__name__)


async def check_token(client: AsyncWebClient, services: Services | None = None) -> bool:
    """False if Slack says the token is bad; Slack being unreachable is not fatal (the
    outbox holds alerts until it answers). Tells `services` the bot's workspace."""
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        error = delivery_error(exc)
        if error.permanent:
            log.error("Slack rejected SLACK_BOT_TOKEN: %s", error)
            return False
        log.warning("Slack did not answer auth.test (%s); starting anyway", error)
        return True
    except Exception as exc:
        log.warning("Slack unreachable at start (%s); starting anyway", delivery_error(exc))
        return True
    log.info("connected to Slack as %s in team %s", identity.get("user_id"), identity.get("team_id"))
    if services is not None and identity.get("team_id"):
        services.slack_team_id = str(identity["team_id"])
    return True


# The shell's convention for a process ended by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


async def until_stopped(*, interruptible: bool = True) -> int:
    """Wait for SIGTERM (exit code 0) or Ctrl-C's SIGINT (130). A process whose parent stops
    it (a worker `serve` started) is not `interruptible`: Ctrl-C in the terminal reaches it
    too, and it waits for the parent's SIGTERM instead of racing it."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    loop.add_signal_handler(signal.SIGTERM, stop, 0)
    loop.add_signal_handler(signal.SIGINT, stop if interruptible else lambda _code: None, INTERRUPTED)
    try:
        return await stopped
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
