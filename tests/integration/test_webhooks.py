"""Outgoing webhooks to a loopback receiver that verifies signatures as docs/api.md says:
signed JSON per alert, retried with backoff through their own outbox when the receiver
fails, never following a redirect, at least once with a stable idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import pytest

from bot.alerts.delivery import webhooks
from bot.alerts.delivery.receivers import ReceiverWorker
from bot.alerts.delivery.webhooks import HttpWebhookSender, sign, verify
from bot.config import Secret
from tests.fakes.api import TEAM, ApiHarness, MakeApi
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

IP = "98.126.38.107"


async def hooked(make_api: MakeApi, receiver: WebhookReceiver, **channels: str) -> ApiHarness:
    api = await make_api(
        webhook_url=Secret(receiver.url("all")),
        webhook_urls=tuple((channel, Secret(receiver.url(path))) for channel, path in channels.items()),
        webhook_secret=Secret(WEBHOOK_SECRET),
    )
    return api


async def one_alert(api: ApiHarness, indicator: str = IP, channel: str = "C0INTEL") -> None:
    status, _ = await api.call(
        "POST", "/api/v1/monitors", json={"channel": channel, "team": TEAM, "indicators": [indicator]}
    )
    assert status == 201
    await api.run_checks()
    await api.change(indicator, ("domain", "www.interfaxru.com"))


def worker(api: ApiHarness) -> ReceiverWorker:
    assert api.services.receivers is not None
    return api.services.receivers


def webhook(api: ApiHarness) -> webhooks.WebhookReceiver:
    receiver = worker(api).receivers["webhook"]
    assert receiver.name == "webhook"
    return cast(webhooks.WebhookReceiver, receiver)


async def test_webhook_signed_alert_reaches_the_receiver(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver)
    await one_alert(api)
    report = await worker(api).deliver_due()
    assert report.sent == 1 and report.failed == 0
    [delivery] = webhook_receiver.received
    assert delivery.valid and delivery.path == "/all"
    headers = delivery.headers
    assert headers["Content-Type"] == "application/json" and headers["X-Watchpost-Event"] == "alert"
    body = delivery.json
    assert body["type"] == "alert" and body["channel"] is None
    assert body["idempotency_key"] == headers["Idempotency-Key"]
    assert body["alert"]["indicator"] == IP
    assert body["alert"]["changes"][0]["new_value"] == "www.interfaxru.com"
    status, page = await api.call("GET", "/api/v1/alerts")
    assert (
        status == 200 and page["alerts"][0]["id"] == body["alert"]["id"]
    )  # the API's alert, as the API shows it
    assert await worker(api).deliver_due() == type(report)(0, 0)  # delivered once
    assert api.services.db.receiver_queue.backlog() == 0


async def test_webhook_retries_with_backoff_keeping_its_key(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver)
    await one_alert(api)
    webhook_receiver.fail_next(500, times=2)
    assert (await worker(api).deliver_due()).failed == 1
    assert (await worker(api).deliver_due()).failed == 0  # not due yet: backing off
    api.clock.advance(seconds=5)
    assert (await worker(api).deliver_due()).failed == 1  # second failure
    api.clock.advance(seconds=9)
    assert (await worker(api).deliver_due()).sent == 0  # 10 s after the second failure, not 5
    api.clock.advance(seconds=1)
    assert (await worker(api).deliver_due()).sent == 1
    attempts = webhook_receiver.received
    assert len(attempts) == 3 and all(a.valid for a in attempts)
    assert len({a.headers["Idempotency-Key"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1  # the same body, freshly signed each time
    assert list(webhook_receiver.accepted) == [attempts[0].headers["Idempotency-Key"]]


async def test_webhook_waits_as_long_as_the_receiver_asks(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver)
    await one_alert(api)
    webhook_receiver.fail_next(429)  # Retry-After: 7
    await worker(api).deliver_due()
    api.clock.advance(seconds=6)
    assert (await worker(api).deliver_due()).sent == 0
    api.clock.advance(seconds=1)
    assert (await worker(api).deliver_due()).sent == 1


async def test_webhook_never_follows_a_redirect(make_api: MakeApi, webhook_receiver: WebhookReceiver) -> None:
    api = await hooked(make_api, webhook_receiver)
    await one_alert(api)
    webhook_receiver.fail_next(307)
    assert (await worker(api).deliver_due()).failed == 1
    assert webhook_receiver.trap_hits == 0
    api.clock.advance(seconds=5)
    assert (await worker(api).deliver_due()).sent == 1 and webhook_receiver.trap_hits == 0


async def test_webhook_gives_up_on_gone_receivers_and_after_a_day(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver)
    await one_alert(api)
    webhook_receiver.fail_next(410)
    await worker(api).deliver_due()
    assert api.services.db.receiver_queue.backlog() == 0  # abandoned: 410 Gone

    await one_alert(api, "evil-infra.com")
    webhook_receiver.fail_next(503, times=100)
    for _ in range(30):  # backoff grows to 15 minutes; keep failing for a day
        await worker(api).deliver_due()
        api.clock.advance(minutes=60)
    assert api.services.db.receiver_queue.backlog() == 0
    assert 5 < len(webhook_receiver.received) < 40 and webhook_receiver.accepted == {}


async def test_webhook_timeout_is_a_failure_retried(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver)
    webhook(api).sender = HttpWebhookSender(timeout=0.2)
    await one_alert(api)
    webhook_receiver.hang_next(0.5)
    assert (await worker(api).deliver_due()).failed == 1
    api.clock.advance(seconds=5)
    assert (await worker(api).deliver_due()).sent == 1
    await worker(api).aclose()


class CrashAfterSend(BaseException):
    """The process dying right after the receiver answered."""


async def test_webhook_redelivery_after_a_crash_carries_the_same_key(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver)
    await one_alert(api)
    real = webhook(api).sender

    class Dying:
        async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
            await real.send(url, body, headers)
            raise CrashAfterSend

    webhook(api).sender = Dying()
    with pytest.raises(CrashAfterSend):
        await worker(api).deliver_due()
    webhook(api).sender = real
    assert (await worker(api).deliver_due()).sent == 0  # leased by the dead attempt
    api.clock.advance(seconds=61)
    assert (await worker(api).deliver_due()).sent == 1
    assert len(webhook_receiver.received) == 2 and webhook_receiver.duplicates == 1
    assert len(webhook_receiver.accepted) == 1  # the receiver dropped the duplicate by its key


async def test_channel_webhooks_get_their_channels_alerts_without_muted_datasets(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver, C0INTEL="intel")
    await api.call("POST", "/api/v1/monitors", json={"channel": "C0OTHER", "team": TEAM, "indicators": [IP]})
    await api.services.db.run(
        api.services.db.monitors.set_muted,
        team_id=TEAM,
        channel_id="C0OTHER",
        indicator=IP,
        dataset="resolutions",
        muted=True,
        by="U0ANALYST",
        now=api.clock.now,
    )
    await one_alert(api, IP, channel="C0INTEL")
    await worker(api).deliver_due()
    by_path = {d.path: d.json for d in webhook_receiver.received}
    assert set(by_path) == {"/all", "/intel"}
    assert by_path["/intel"]["channel"] == {"team": TEAM, "channel": "C0INTEL"}
    assert by_path["/intel"]["idempotency_key"] != by_path["/all"]["idempotency_key"]
    assert [c["channel"] for c in by_path["/all"]["alert"]["channels"]] == ["C0INTEL"]  # C0OTHER muted it


async def test_webhook_whose_url_was_removed_from_the_config_is_set_aside(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await hooked(make_api, webhook_receiver, C0INTEL="intel")
    await one_alert(api)
    webhook(api).targets = type(webhook(api).targets)(webhook_receiver.url("all"), {})
    report = await worker(api).deliver_due()
    assert (report.sent, report.failed) == (1, 1)
    assert [d.path for d in webhook_receiver.received] == ["/all"]


async def test_no_webhook_rows_without_webhooks(api: ApiHarness) -> None:
    await one_alert(api)
    assert api.services.receivers is None and api.services.db.receiver_queue.backlog() == 0


def test_webhook_signature_is_hmac_over_timestamp_and_body() -> None:
    body = b'{"type":"alert"}'
    signature = sign("s3cret-s3cret-s3cret", 1_800_000_000, body)
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify(
        "s3cret-s3cret-s3cret", body, timestamp="1800000000", signature=signature, now=1_800_000_100
    )
    assert not verify(
        "s3cret-s3cret-s3cret", body + b" ", timestamp="1800000000", signature=signature, now=1.8e9
    )
    assert not verify("other-secret-value", body, timestamp="1800000000", signature=signature, now=1.8e9)
    assert not verify(
        "s3cret-s3cret-s3cret", body, timestamp="1800000000", signature=signature, now=1.8e9 + 301
    )
    assert not verify("s3cret-s3cret-s3cret", body, timestamp="soon", signature=signature, now=1.8e9)
