"""One Slack delivery queue (SQLite and PostgreSQL, through the composed services): a
channel's alert, a lookalike finding with a later certificate, and the notice that a
snooze ended are rows of one outbox. While Slack refuses (429 with Retry-After) nothing
is lost, nothing is sent early; afterwards each goes out once, in the order it was
stored, and the metrics count each kind."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.results import Caller
from bot.core.text import render_text
from bot.core.transport import DeliveryError
from bot.triage.model import SuppressionKind
from bot.watches.model import Sighting
from bot.watches.store.lookalikes import FindingHit
from tests.fakes.api import MakeApi

CASE = Caller("T1", "C0CASE", "U0ALICE")
DOMAIN = "watched-site.net"
REASON = {"watch_id": 1, "kind": "lookalike", "term": "interfax.ru", "rule": "permutation", "detail": "x"}


def finding(serial: str, now: datetime) -> FindingHit:
    sighting = Sighting("log-a", 1, "www.interfaxru.com", "Loopback CA", serial, now)
    return FindingHit(
        CASE.team_id,
        CASE.channel_id,
        "interfaxru.com",
        "www.interfaxru.com",
        (REASON,),
        "ct",
        now,
        sighting,
    )


async def test_one_queue_alerts_lookalikes_and_notices_wait_out_slack_in_order(make_api: MakeApi) -> None:
    api = await make_api()
    db, outbox, transport = api.services.db, api.services.outbox, api.transport
    api.dataset.facts[DOMAIN] = {("A", "192.0.2.1")}
    added = await api.services.flows.execute(DOMAIN, CASE)
    assert added.follow_up is not None
    assert "Baseline" in render_text((await added.follow_up())[0])
    [monitor] = db.monitors.list(channel_id=CASE.channel_id)
    db.triage.suppress(
        monitor_id=monitor.id,
        kind=SuppressionKind.SNOOZE,
        by=CASE.user_id,
        now=api.clock.now,
        until=api.clock.now + timedelta(minutes=30),
    )
    db.lookalikes.record_hits([finding("0a", api.clock.now)], now=api.clock.now)
    db.lookalikes.record_hits([finding("0b", api.clock.now)], now=api.clock.now)  # a later certificate
    while (await outbox.deliver_due()).sent:
        pass
    posted_before = len(transport.posts)

    # Slack is rate limiting when the snooze ends and the monitor changes.
    transport.fault = lambda kind, channel, ts: DeliveryError("ratelimited", retry_after=120)
    await api.change(DOMAIN, ("A", "192.0.2.99"))
    for _ in range(3):
        report = await outbox.deliver_due()
        assert report.sent == 0
    assert len(transport.posts) == posted_before
    assert db.outbox.undelivered_count() == 2  # the notice and the alert, kept

    # Slack is back; nothing goes before its Retry-After, then each once, in order.
    transport.fault = None
    assert (await outbox.deliver_due()).sent == 0
    api.clock.advance(seconds=121)
    while (await outbox.deliver_due()).sent:
        api.clock.advance(seconds=1)
    shown = [render_text(p.message) for p in transport.posts[posted_before:]]
    assert len(shown) == 2 and db.outbox.undelivered_count() == 0
    # The alert was stored by the check, the notice at the next tick: that order.
    assert "192.0.2.99" in shown[0]
    assert "snooze" in shown[1].lower() and "ended" in shown[1]
    counted = {
        (sample.labels["kind"], sample.labels["outcome"]): sample.value
        for metric in api.services.metrics.deliveries.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert counted[("lookalike", "delivered")] == 1 and counted[("sighting", "delivered")] == 1
    assert counted[("notice", "delivered")] == 1 and counted[("alert", "delivered")] == 1
    assert counted[("alert", "failed")] >= 1  # the notice waited behind it, never sent early


async def test_one_queue_a_finding_and_its_certificate_go_out_in_order(make_api: MakeApi) -> None:
    api = await make_api()
    db, outbox, transport = api.services.db, api.services.outbox, api.transport
    db.lookalikes.record_hits([finding("0a", api.clock.now)], now=api.clock.now)
    db.lookalikes.record_hits([finding("0b", api.clock.now)], now=api.clock.now)
    while (await outbox.deliver_due()).sent:
        pass
    alert, reply = transport.posts
    assert alert.thread_ts is None and "interfaxru" in render_text(alert.message)
    assert reply.thread_ts == alert.ts
    assert alert.message.metadata and alert.message.metadata["event_type"] == "watchpost_lookalike"
