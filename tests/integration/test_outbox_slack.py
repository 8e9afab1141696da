"""The outbox against the fake Slack: an alert posted just before a crash (its delivery
not yet recorded) is found in the channel by its metadata and not sent again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from bot.alerts.delivery.outbox import OutboxWorker
from bot.config import Secret, Settings
from bot.core.message import Message
from bot.storage.db import Database
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.test_storage import add, record, resolutions


class Crash(BaseException):
    """The process dying: not an error the worker handles."""


class CrashAfterPost(SlackTransport):
    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        await super().post(channel_id, message, thread_ts=thread_ts)
        raise Crash


@pytest_asyncio.fixture
async def async_store(store: Database) -> AsyncIterator[Database]:
    wrapped = store
    yield wrapped
    wrapped.close()


def slack_transport(slack_api: FakeSlackApi, kind: type[SlackTransport] = SlackTransport) -> SlackTransport:
    settings = Settings(slack_bot_token=Secret(slack_api.token), slack_api_url=slack_api.base_url)
    return kind(build_web_client(settings, timeout=5))


def one_alert(store: Database, clock: FakeClock) -> None:
    subject_id = add(store, "98.126.38.107", "C1")
    record(store, subject_id, clock.now, resolutions("a.example.com"))
    record(store, subject_id, clock.advance(hours=1), resolutions("a.example.com", "b.example.com"))


async def test_outbox_crash_after_post_is_not_sent_twice(
    store: Database, async_store: Database, slack_api: FakeSlackApi
) -> None:
    clock = FakeClock()
    one_alert(store, clock)
    dying = OutboxWorker(async_store, slack_transport(slack_api, CrashAfterPost), clock=clock)
    try:
        await dying.deliver_due()
    except Crash:
        pass
    assert len(slack_api.posted("C1")) == 1 and store.outbox.undelivered_count() == 1

    clock.advance(minutes=2)  # the dead worker's lease runs out
    restarted = OutboxWorker(async_store, slack_transport(slack_api), clock=clock)
    report = await restarted.deliver_due()
    assert report.sent == 1 and store.outbox.undelivered_count() == 0
    assert len(slack_api.posted("C1")) == 1  # found in the channel, not posted again
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    assert (await restarted.deliver_due()).sent == 0


async def test_outbox_failed_attempt_is_looked_up_then_sent_once(
    store: Database, async_store: Database, slack_api: FakeSlackApi
) -> None:
    clock = FakeClock()
    one_alert(store, clock)
    worker = OutboxWorker(async_store, slack_transport(slack_api), clock=clock)
    slack_api.inject("chat.postMessage", "500", times=2)
    assert (await worker.deliver_due()).failed == 1
    assert (await worker.deliver_due()).sent == 0  # backing off
    clock.advance(seconds=6)
    assert (await worker.deliver_due()).sent == 1
    assert len(slack_api.calls_to("conversations.history")) == 1
    (alert,) = slack_api.posted("C1")
    assert alert.metadata == {"event_type": "watchpost_alert", "event_payload": {"outbox_id": 1}}
    clock.advance(minutes=5)
    assert (await worker.deliver_due()).sent == 0 and len(slack_api.posted("C1")) == 1


async def test_outbox_archived_channel_is_set_aside_and_frees_the_queue(
    store: Database, async_store: Database, slack_api: FakeSlackApi
) -> None:
    clock = FakeClock()
    one_alert(store, clock)
    slack_api.channel_errors["C1"] = "is_archived"
    worker = OutboxWorker(async_store, slack_transport(slack_api), clock=clock)
    assert (await worker.deliver_due()).failed == 1
    assert store.outbox.undelivered_count() == 0 and slack_api.posted("C1") == []
