"""Replies through a slash command's or a button's `response_url`.

Every reply goes over one kept-alive HTTP session: Bolt's `respond` builds a client, and
so a new TLS connection to Slack, for each reply, which costs more than the reply itself
and runs on the loop that answers Slack. The URL comes from a signed request (Slack's);
Slack accepts five posts to one within 30 minutes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.core.message import Message

log = logging.getLogger(__name__)

# Slack accepts five posts to one response_url.
RESPONSE_URL_USES = 5


class ResponseUrls:
    """The session every reply is posted over (made on first use, in the running loop)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.undelivered = 0  # replies lost because Slack could not be reached

    def to(self, body: dict[str, Any]) -> Reply:
        """Replies to the request `body` (a command's form fields or an action's payload)."""
        return Reply(self, str(body.get("response_url") or ""))

    async def post(self, url: str, payload: dict[str, Any]) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit_per_host=20, keepalive_timeout=60),
            )
        async with self._session.post(url, json=payload) as response:
            await response.read()
            return response.status

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True)
class Reply:
    """One request's response_url. A reply that fails is logged: the user misses that one
    message, nothing else depends on it."""

    urls: ResponseUrls
    url: str

    async def send(self, message: Message, *, public: bool = False) -> None:
        if not self.url:  # App Home buttons come without one
            log.warning("a reply was not shown: the request had no response_url")
            return
        payload: dict[str, Any] = {
            "text": message.text,
            "response_type": "in_channel" if public else "ephemeral",
            "replace_original": False,
        }
        if message.blocks:
            payload["blocks"] = message.blocks
        try:
            status = await self.urls.post(self.url, payload)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # One line each, counted: an outage of Slack's, not a bug of ours.
            self.urls.undelivered += 1
            count = self.urls.undelivered
            log.warning(
                "Slack unreachable (%s): a reply through response_url was not delivered (%d so far)",
                exc.__class__.__name__,
                count,
            )
            return
        if status != 200:
            log.warning("reply through response_url refused: HTTP %s", status)
