"""SlackTransport against the fake Slack Web API on loopback: posts, the three-step
upload, slack_sdk's retries, and Slack's errors as transient or permanent DeliveryErrors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from bot.config import Secret, Settings
from bot.core.message import Message, section
from bot.core.transport import DeliveryError
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from tests.fakes.slack_api import FakeSlackApi

MESSAGE = Message("fallback", [section("hello")], metadata={"event_type": "t", "event_payload": {"id": 7}})


def settings_for(slack_api: FakeSlackApi, token: str | None = None) -> Settings:
    return Settings(slack_bot_token=Secret(token or slack_api.token), slack_api_url=slack_api.base_url)


@pytest_asyncio.fixture
async def transport(slack_api: FakeSlackApi) -> AsyncIterator[SlackTransport]:
    yield SlackTransport(build_web_client(settings_for(slack_api), timeout=5))


async def test_slack_transport_posts_with_fallback_metadata_and_thread(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    ts = await transport.post("C1", MESSAGE)
    reply = await transport.post("C1", Message("in thread"), thread_ts=ts)
    parent, child = slack_api.messages
    assert (parent.ts, parent.text, parent.metadata) == (ts, "fallback", MESSAGE.metadata)
    assert child.thread_ts == ts and child.ts == reply
    call = slack_api.calls_to("chat.postMessage")[0]
    assert call.headers["authorization"] == f"Bearer {slack_api.token}"
    assert call.args["unfurl_links"] is False and call.args["unfurl_media"] is False


async def test_slack_transport_upload_is_the_three_step_flow(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    content = b"indicator,dataset\n98.126.38.107,resolutions\n"
    parent = await transport.post("C1", Message("digest"))
    await transport.upload_file(
        "C1", thread_ts=parent, filename="resolutions.csv", content=content, title="CSV"
    )
    assert [c.method for c in slack_api.calls][1:] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    (upload,) = slack_api.files.values()
    assert (upload.content, upload.channel, upload.thread_ts, upload.title) == (content, "C1", parent, "CSV")
    assert slack_api.calls_to("files.getUploadURLExternal")[0].args["length"] == str(len(content))


async def test_slack_transport_honours_a_short_retry_after_in_the_call(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    slack_api.inject("chat.postMessage", "429", times=1, retry_after=1)
    started = time.monotonic()
    await transport.post("C1", MESSAGE)
    assert time.monotonic() - started >= 1.0
    assert len(slack_api.calls_to("chat.postMessage")) == 2 and len(slack_api.messages) == 1


async def test_slack_transport_hands_a_long_retry_after_to_the_outbox(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    slack_api.inject("chat.postMessage", "429", times=1, retry_after=30)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as raised:
        await transport.post("C1", MESSAGE)
    assert time.monotonic() - started < 5
    assert not raised.value.permanent and raised.value.retry_after == 30


async def test_slack_transport_retries_a_5xx_once_then_reports_it_transient(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    slack_api.inject("chat.postMessage", "500", times=1)
    await transport.post("C1", MESSAGE)  # one 500, retried by slack_sdk
    slack_api.inject("chat.postMessage", "500", times=None)
    with pytest.raises(DeliveryError) as raised:
        await transport.post("C1", MESSAGE)
    assert not raised.value.permanent and "HTTP 500" in str(raised.value)
    assert len(slack_api.messages) == 1


async def test_slack_transport_connection_refused_is_transient(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    await slack_api.down()
    try:
        with pytest.raises(DeliveryError) as raised:
            await transport.post("C1", MESSAGE)
    finally:
        await slack_api.up()
    assert not raised.value.permanent and "unreachable" in str(raised.value)


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived", "not_in_channel"])
async def test_slack_transport_gone_channels_are_permanent(
    transport: SlackTransport, slack_api: FakeSlackApi, error: str
) -> None:
    slack_api.channel_errors["C1"] = error
    with pytest.raises(DeliveryError) as raised:
        await transport.post("C1", MESSAGE)
    assert raised.value.permanent and error in str(raised.value)


async def test_slack_transport_a_bad_token_is_permanent(slack_api: FakeSlackApi) -> None:
    transport = SlackTransport(build_web_client(settings_for(slack_api, "xoxb-revoked"), timeout=5))
    with pytest.raises(DeliveryError) as raised:
        await transport.post("C1", MESSAGE)
    assert raised.value.permanent and "invalid_auth" in str(raised.value)


async def test_slack_transport_finds_its_own_message_by_metadata(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    for n in range(3):
        await transport.post("C1", Message(f"other {n}"))
    ts = await transport.post("C1", MESSAGE)
    assert MESSAGE.metadata is not None
    assert await transport.find_posted("C1", MESSAGE.metadata, since=since) == ts
    other = {"event_type": "t", "event_payload": {"id": 8}}
    assert await transport.find_posted("C1", other, since=since) is None
    assert await transport.find_posted("C2", MESSAGE.metadata, since=since) is None
    # Without the history scopes: "not found", so the caller sends (at least once).
    slack_api.method_errors["conversations.history"] = "missing_scope"
    assert await transport.find_posted("C1", MESSAGE.metadata, since=since) is None
