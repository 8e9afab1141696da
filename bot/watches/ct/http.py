"""The one HTTP seam every CT client reads through (SourceHttpClient fits it), and the
client the bot uses: one SourceHttpClient per host, so that a log's host answering 429
(whose Retry-After holds its client back) or hanging holds back that host's logs only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from bot.monitoring.sources.http import HttpReply, PublicOnlyResolver, SourceHttpClient

SOURCE = "ct"


class HttpGetter(Protocol):
    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, ok_statuses: tuple[int, ...] = (200,)
    ) -> HttpReply: ...


class PerHostHttp:
    def __init__(self, client_for_host: Callable[[], SourceHttpClient]) -> None:
        self._client_for_host = client_for_host
        self._clients: dict[str, SourceHttpClient] = {}

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, ok_statuses: tuple[int, ...] = (200,)
    ) -> HttpReply:
        host = urlsplit(url).netloc.lower()
        client = self._clients.get(host)
        if client is None:
            client = self._clients[host] = self._client_for_host()
        return await client.get(url, params=params, ok_statuses=ok_statuses)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def ct_http_client(log_list_url: str, *, timeout: float = 30.0, concurrency: int = 4) -> PerHostHttp:
    """The client for the log list and every log in it: host names resolve to public
    addresses only, except the list's own host (the operator chose it); `concurrency`
    requests at once per host. Data tiles are gzip-encoded at the HTTP layer; aiohttp
    decodes them."""
    trusted = [urlsplit(log_list_url).hostname or ""]
    return PerHostHttp(
        lambda: SourceHttpClient(
            SOURCE,
            timeout=timeout,
            concurrency=concurrency,
            max_body=32 * 1024 * 1024,
            resolver=PublicOnlyResolver(trusted),
        )
    )
