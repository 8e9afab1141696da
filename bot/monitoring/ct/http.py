"""The one HTTP seam every CT client reads through (SourceHttpClient fits it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

from bot.monitoring.sources.http import HttpReply, PublicOnlyResolver, SourceHttpClient

SOURCE = "ct"


class HttpGetter(Protocol):
    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, ok_statuses: tuple[int, ...] = (200,)
    ) -> HttpReply: ...


def ct_http_client(log_list_url: str, *, timeout: float = 30.0, concurrency: int = 16) -> SourceHttpClient:
    """The client for the log list and every log in it: host names resolve to public
    addresses only, except the list's own host (the operator chose it). Data tiles are
    gzip-encoded at the HTTP layer; aiohttp decodes them."""
    trusted = [urlsplit(log_list_url).hostname or ""]
    return SourceHttpClient(
        SOURCE,
        timeout=timeout,
        concurrency=concurrency,
        max_body=32 * 1024 * 1024,
        resolver=PublicOnlyResolver(trusted),
    )
