"""Replies through response_url: Slack's JSON shape, one kept-alive session for all of
them, and a lost reply logged once and counted (a real HTTP server on loopback)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web

from bot.core.message import Message, section
from bot.surfaces.slack.responses import ResponseUrls


class ResponseUrlServer:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[dict[str, Any]] = []
        self.peers: set[tuple[str, int]] = set()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        transport = request.transport
        assert transport is not None
        self.peers.add(transport.get_extra_info("peername"))
        return web.Response(status=self.status, text="ok")

    async def __aenter__(self) -> ResponseUrlServer:
        app = web.Application()
        app.router.add_post("/commands/T1/1/abc", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/commands/T1/1/abc"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_replies_go_in_slacks_shape_over_one_connection() -> None:
    urls = ResponseUrls()
    async with ResponseUrlServer() as server:
        reply = urls.to({"response_url": server.url})
        await reply.send(Message("Now monitoring evil.com", [section("Now monitoring *evil.com*")]))
        await reply.send(Message("shown to all"), public=True)
        await urls.aclose()
    first, second = server.posts
    assert first["response_type"] == "ephemeral" and first["replace_original"] is False
    assert first["text"] == "Now monitoring evil.com" and first["blocks"][0]["type"] == "section"
    assert second["response_type"] == "in_channel" and "blocks" not in second
    assert len(server.peers) == 1  # the same kept-alive connection both times


async def test_a_refused_or_unreachable_reply_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    urls = ResponseUrls(timeout=2)
    caplog.set_level(logging.WARNING)
    async with ResponseUrlServer(status=404) as server:
        await urls.to({"response_url": server.url}).send(Message("expired"))
        gone = server.url
    await urls.to({"response_url": gone}).send(Message("nobody there"))
    await urls.to({}).send(Message("an App Home button has no response_url"))
    await urls.aclose()
    messages = [r.getMessage() for r in caplog.records]
    assert "reply through response_url refused: HTTP 404" in messages
    assert any("a reply through response_url was not delivered (1 so far)" in m for m in messages)
    assert "a reply was not shown: the request had no response_url" in messages
    assert urls.undelivered == 1
