"""The Slack Web API as a Transport: posts and file uploads, Slack's errors mapped onto
DeliveryError (transient: retried by the outbox; permanent: the alert is set aside)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.core.message import Message
from bot.core.metrics import Metrics
from bot.core.transport import DeliveryError, retry_after_seconds

log = logging.getLogger(__name__)

# Retrying cannot help: the channel is gone, the bot was removed, the token is dead, or
# Slack refuses the message itself.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "restricted_action",
        "team_access_not_granted",
        "ekm_access_denied",
        "invalid_blocks",
        "msg_too_long",
        "invalid_arguments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)
# Past this, a 429 is handed back to the outbox (which waits Retry-After without holding
# up other channels) instead of sleeping inside the call.
MAX_RETRY_AFTER_IN_CALL = 5.0
HISTORY_PAGES = 5


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (it sleeps Retry-After, then retries), but only for short waits."""

    def __init__(self, max_wait: float = MAX_RETRY_AFTER_IN_CALL, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return retry_after_seconds(response.headers) <= self.max_wait


def build_web_client(settings: Settings, *, timeout: int = 30) -> AsyncWebClient:
    """The Web API client for SLACK_API_URL: retries connection errors, 5xx and short 429s."""
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=1),
        BoundedRateLimitRetryHandler(),
        AsyncServerErrorRetryHandler(max_retry_count=1),
    ]
    return AsyncWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=handlers,
    )


def delivery_error(exc: Exception) -> DeliveryError:
    """Slack's or the network's failure as a DeliveryError the outbox understands."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        # Usually a SlackResponse; an aiohttp response when the body was not JSON.
        status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
        data = getattr(response, "data", None)
        data = data if isinstance(data, dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        if status == 429 or error == "ratelimited":
            wait = retry_after_seconds(getattr(response, "headers", None))
            return DeliveryError(f"Slack rate limit ({error}), retry after {wait:g}s", retry_after=wait)
        if status >= 500:
            detail = "" if error == f"HTTP {status}" else f": {error}"
            return DeliveryError(f"Slack is failing (HTTP {status}{detail})")
        if error in PERMANENT_ERRORS:
            return DeliveryError(f"Slack refused: {error}", permanent=True)
        return DeliveryError(f"Slack error: {error}")
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError | SlackClientError):
        return DeliveryError(f"Slack unreachable ({exc.__class__.__name__}: {str(exc)[:200]})")
    return DeliveryError(f"unexpected failure ({exc.__class__.__name__})")


def slack_error_code(exc: Exception) -> str:
    """Slack's error code (`ratelimited`, `channel_not_found`), `http_<status>` when the
    answer had none, `unreachable` when there was no answer."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        data = getattr(response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        status = getattr(response, "status_code", None) or getattr(response, "status", 0)
        return str(code) if code else f"http_{status}"
    return "unreachable"


_FAILURES = (SlackApiError, SlackClientError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


class SlackTransport:
    """Transport and MessageFinder over the Web API."""

    def __init__(self, client: AsyncWebClient, *, metrics: Metrics | None = None) -> None:
        self.client = client
        self.metrics = metrics

    def _failed(self, exc: Exception) -> DeliveryError:
        """`exc` as a DeliveryError, counted for /metrics by Slack's error code."""
        if self.metrics is not None:
            self.metrics.slack_error(slack_error_code(exc))
        return delivery_error(exc)

    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        arguments: dict[str, Any] = {
            "channel": channel_id,
            "text": message.text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if message.blocks:
            arguments["blocks"] = message.blocks
        if thread_ts is not None:
            arguments["thread_ts"] = thread_ts
        if message.metadata is not None:
            arguments["metadata"] = message.metadata
        try:
            response = await self.client.chat_postMessage(**arguments)
        except _FAILURES as exc:
            raise self._failed(exc) from exc
        return str(response["ts"])

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        """chat.update: the message edited in place (an alert's triage, its follow-up count)."""
        try:
            await self.client.chat_update(
                channel=channel_id, ts=ts, text=message.text, blocks=message.blocks or []
            )
        except _FAILURES as exc:
            raise self._failed(exc) from exc

    async def upload_file(
        self, channel_id: str, *, thread_ts: str | None, filename: str, content: bytes, title: str
    ) -> None:
        """files_upload_v2: get an upload URL, send the bytes there, complete into the channel."""
        try:
            await self.client.files_upload_v2(
                channel=channel_id, thread_ts=thread_ts, filename=filename, content=content, title=title
            )
        except _FAILURES as exc:
            raise self._failed(exc) from exc

    async def find_posted(
        self, channel_id: str, metadata: dict[str, Any], *, since: datetime, thread_ts: str | None = None
    ) -> str | None:
        """Search the channel's history since `since` (or the thread `thread_ts`, for a
        follow-up) for a message with this metadata.

        Without the history scopes (or access to the channel's history) this says None,
        and the caller sends again: at least once rather than never."""
        cursor: str | None = None
        oldest = f"{since.timestamp() - 60:.6f}"
        for _ in range(HISTORY_PAGES):
            try:
                if thread_ts is None:
                    page = await self.client.conversations_history(
                        channel=channel_id, oldest=oldest, limit=200, include_all_metadata=True, cursor=cursor
                    )
                else:
                    page = await self.client.conversations_replies(
                        channel=channel_id,
                        ts=thread_ts,
                        oldest=oldest,
                        limit=200,
                        include_all_metadata=True,
                        cursor=cursor,
                    )
            except SlackApiError as exc:
                error = self._failed(exc)
                if error.permanent:
                    log.warning("cannot read %s to avoid a duplicate alert: %s", channel_id, error)
                    return None
                raise error from exc
            except _FAILURES as exc:
                raise self._failed(exc) from exc
            for found in page.get("messages") or []:
                if found.get("metadata") == metadata:
                    return str(found["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                return None
        return None
