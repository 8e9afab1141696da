"""`/monitor check` replies say exactly what was posted: a new alert, a follow-up in the
open alert's thread, a change silenced by a mute (and by what), or nothing when every
source failed — with counts that match the posts (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from bot.core.results import Caller
from bot.core.text import render_text
from tests.fakes.api import TEAM, ApiHarness, MakeApi

IP = "98.126.38.107"
CHANNEL = "C0INTEL"
CALLER = Caller(TEAM, CHANNEL, "U0ANALYST")


async def say_check(api: ApiHarness) -> str:
    """`/monitor check IP` as the channel's analyst, while the outbox delivers as it would."""
    flows = api.services.flows
    api.clock.advance(seconds=api.services.settings.check_interval * 1.5 + 1)
    result = await flows.execute(f"check {IP}", CALLER)
    assert result.follow_up is not None
    replies = asyncio.ensure_future(result.follow_up())
    while not replies.done():
        await api.services.outbox.deliver_due()
        await asyncio.sleep(0.05)
    return "\n".join(render_text(message) for message in replies.result())


async def monitored(make_api: MakeApi) -> ApiHarness:
    """IP monitored by the analyst in the channel, with its baseline."""
    api = await make_api()
    added = await api.services.flows.execute(IP, CALLER)
    if added.follow_up is not None:
        await added.follow_up()
    await api.run_checks()
    return api


def top_level_posts(api: ApiHarness) -> list[str]:
    return [post.ts for post in api.transport.posts if post.channel_id == CHANNEL and post.thread_ts is None]


async def test_check_reply_names_a_new_alert_then_a_follow_up_in_its_thread(make_api: MakeApi) -> None:
    api = await monitored(make_api)
    api.dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    reply = await say_check(api)
    assert "1 change: 1 posted in a new alert." in reply
    assert "www.interfaxru.com" in reply and "— posted in a new alert" in reply
    assert len(top_level_posts(api)) == 1

    api.dataset.facts[IP] = {("domain", "www.interfaxru.com"), ("domain", "mail.interfaxru.com")}
    reply = await say_check(api)
    assert "1 change: 1 posted in the thread of the open alert." in reply
    assert len(top_level_posts(api)) == 1  # nothing new at the top of the channel
    [follow_up] = [
        p for p in api.transport.posts if p.thread_ts is not None and "mail.interfaxru.com" in p.message.text
    ]
    assert follow_up.thread_ts == top_level_posts(api)[0]


async def test_check_reply_says_a_muted_change_was_silenced_and_posts_nothing(make_api: MakeApi) -> None:
    api = await monitored(make_api)
    muted = await api.services.flows.execute(f"mute {IP} resolutions 7d", CALLER)
    assert "resolutions" in render_text(muted.reply)
    posts_before = len(api.transport.posts)

    api.dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    reply = await say_check(api)
    assert "1 change: 1 silenced (muted here)." in reply
    assert "— silenced: muted here, #" in reply and "until" in reply
    assert "alert sent" not in reply and "posted" not in reply
    assert len(api.transport.posts) == posts_before


async def test_check_reply_when_every_source_failed_is_not_no_change(make_api: MakeApi) -> None:
    api = await monitored(make_api)
    api.dataset.failing[IP] = "mnemonic"
    reply = await say_check(api)
    assert "nothing could be read — every source failed (mnemonic)" in reply
    assert "no change" not in reply
