"""Alerts into MISP and TheHive 5 through the one receiver queue, against loopback fakes
written from their APIs (tests/fakes/misp_receiver.py, tests/fakes/thehive.py): what each
receives, and that each alert reaches each receiver exactly once across a 500, a 429, a
timeout, a write stored before the receiver failed or went silent, and a crash."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import text

from bot.alerts.delivery.misp import MispReceiver
from bot.alerts.delivery.receivers import Receiver, ReceiverHttp, ReceiverWorker
from bot.alerts.delivery.thehive import TheHiveReceiver
from bot.alerts.store.receivers import PendingDelivery
from bot.config import Secret
from bot.core.results import Caller
from bot.monitoring.messages.health import build_health_message
from tests.fakes.api import TEAM, ApiHarness, MakeApi
from tests.fakes.conversation import Conversation
from tests.fakes.misp_receiver import MISP_KEY, FakeMisp
from tests.fakes.thehive import THEHIVE_KEY, FakeTheHive

IP = "98.126.38.107"
NEW_NAME = "www.interfaxru.com"
CHANNEL = "C0INTEL"


HANG_TIMEOUT = 2.0  # the receivers' timeout in the hang tests
HANG = 8.0  # how long a hung receiver holds its answer (released once the test is past it)


async def receiving(make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive, **settings: Any) -> ApiHarness:
    return await make_api(
        misp_url=misp.url,
        misp_key=Secret(MISP_KEY),
        thehive_url=thehive.url,
        thehive_key=Secret(THEHIVE_KEY),
        **settings,
    )


def worker(api: ApiHarness) -> ReceiverWorker:
    assert api.services.receivers is not None
    return api.services.receivers


def misp_of(api: ApiHarness) -> MispReceiver:
    return cast(MispReceiver, worker(api).receivers["misp"])


def thehive_of(api: ApiHarness) -> TheHiveReceiver:
    return cast(TheHiveReceiver, worker(api).receivers["thehive"])


async def monitor(api: ApiHarness, indicator: str = IP, channel: str = CHANNEL) -> None:
    status, _ = await api.call(
        "POST", "/api/v1/monitors", json={"channel": channel, "team": TEAM, "indicators": [indicator]}
    )
    assert status == 201
    await api.run_checks()


def from_misp_event(api: ApiHarness, event_uuid: str) -> None:
    """What the enqueue does once monitors carry their `misp:<uuid>` tag (another branch)."""
    with api.services.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE receiver_deliveries SET origin_event = :u WHERE receiver = 'misp'"),
            {"u": event_uuid},
        )


def rows(api: ApiHarness) -> list[Any]:
    with api.services.db.engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT receiver, channel_id, attempts, delivered_at IS NOT NULL,"
                    " abandoned_at IS NOT NULL, last_error FROM receiver_deliveries ORDER BY id"
                )
            )
        )


async def drain(api: ApiHarness, *, rounds: int = 20) -> None:
    """Deliver until nothing is left, time passing between the tries."""
    for _ in range(rounds):
        await worker(api).deliver_due()
        if api.services.db.receiver_queue.backlog() == 0:
            return
        api.clock.advance(seconds=61)
    raise AssertionError(f"still undelivered: {rows(api)}")


async def test_receivers_misp_sighting_and_new_values_in_the_event_the_monitor_came_from(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    event = misp.add_event("APT infra", [("ip-dst", IP), ("domain", "evil-infra.com")])
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    from_misp_event(api, event)
    report = await worker(api).deliver_due()
    assert (report.sent, report.failed) == (2, 0)

    held = misp.event_by_uuid(event)
    [sighting] = misp.sightings_of(IP)
    assert sighting["source"].startswith("watchpost:") and sighting["source"].endswith(f"-{CHANNEL}-misp")
    [added] = [a for a in held["Attribute"] if a["value"] == NEW_NAME]
    assert added["type"] == "domain" and not added["to_ids"]
    _, page = await api.call("GET", "/api/v1/alerts")
    alert_id = page["alerts"][0]["id"]
    assert f"Watchpost alert {alert_id}" in added["comment"] and "resolutions domain" in added["comment"]
    assert len(misp.events) == 1  # nothing made: the monitor came from this event
    assert await worker(api).deliver_due() == type(report)(0, 0)


async def test_receivers_misp_monitor_not_from_misp_gets_one_event_of_its_own(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    await drain(api)
    await api.change(IP, ("domain", NEW_NAME), ("domain", "mail.interfaxru.com"))
    await drain(api)
    [event] = misp.events_tagged(f'watchpost:monitor="{TEAM}/{CHANNEL}/{IP}"')
    assert IP in event["info"] and CHANNEL in event["info"]
    values = sorted(a["value"] for a in event["Attribute"])
    assert values == sorted([IP, NEW_NAME, "mail.interfaxru.com"])
    sightings = misp.sightings_of(IP)
    assert len(sightings) == 2 and len({s["source"] for s in sightings}) == 2  # one per alert


async def test_receivers_thehive_alert_with_its_observables(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    await drain(api)
    [alert] = thehive.alerts
    assert (alert["type"], alert["source"]) == ("watchpost", "watchpost")
    assert alert["sourceRef"].endswith(f"-{CHANNEL}-thehive")
    assert IP in alert["title"] and NEW_NAME in alert["description"]
    assert {(o["dataType"], o["data"]) for o in alert["observables"]} == {("ip", IP), ("fqdn", NEW_NAME)}
    assert alert["severity"] == 2 and "watchpost" in alert["tags"]


@pytest.mark.parametrize("fault", ["store_then_fail", "store_then_hang"])
async def test_receivers_a_write_stored_before_the_receiver_failed_arrives_once(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive, fault: str
) -> None:
    api = await receiving(make_api, misp, thehive)
    # A timeout short enough for a hang to outlast it, long enough for every other request
    # on a loaded machine (0.3 s timed out the event search before the sighting was sent).
    misp_of(api).http = ReceiverHttp(timeout=HANG_TIMEOUT)
    thehive_of(api).http = ReceiverHttp(timeout=HANG_TIMEOUT)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    if fault == "store_then_fail":
        misp.store_then_fail(500, prefix="/sightings/add")
        thehive.store_then_fail(500)
    else:
        misp.store_then_hang(HANG, prefix="/sightings/add")
        thehive.store_then_hang(HANG)
    report = await worker(api).deliver_due()
    misp.release()
    thehive.release()
    assert report.failed == 2
    assert len(misp.sightings_of(IP)) == 1 and len(thehive.alerts) == 1  # stored all the same
    await drain(api)
    assert len(misp.sightings_of(IP)) == 1  # looked before sending again, and found it
    assert ("POST", "/sightings/restSearch/attribute") in misp.requests
    assert len(thehive.alerts) == 1 and thehive.duplicates == 1  # refused as a duplicate: delivered
    assert all(delivered for _, _, _, delivered, _, _ in rows(api))


async def test_receivers_an_attribute_stored_before_a_500_is_taken_as_added(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    await drain(api)  # the monitor's event exists now
    await api.change(IP, ("domain", NEW_NAME), ("domain", "mail.interfaxru.com"))
    misp.store_then_fail(500, prefix="/attributes/add")
    await worker(api).deliver_due()
    await drain(api)
    [event] = misp.events.values()
    assert [a["value"] for a in event["Attribute"]].count("mail.interfaxru.com") == 1
    assert misp.refused_similar == 1  # "A similar attribute already exists": delivered
    assert len(misp.sightings_of(IP)) == 2


async def test_receivers_retry_after_500_and_wait_as_long_as_a_429_asks(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    misp.fail_next(500)
    thehive.fail_next(429)  # Retry-After: 7
    assert (await worker(api).deliver_due()).failed == 2
    api.clock.advance(seconds=5)
    assert (await worker(api).deliver_due()).sent == 1  # MISP after its 5 s backoff
    api.clock.advance(seconds=1)
    assert (await worker(api).deliver_due()).sent == 0  # TheHive asked for 7
    api.clock.advance(seconds=1)
    assert (await worker(api).deliver_due()).sent == 1
    assert len(misp.sightings_of(IP)) == 1 and len(thehive.alerts) == 1
    metrics = api.services.metrics.registry
    for receiver in ("misp", "thehive"):
        for outcome in ("failed", "delivered"):
            labels = {"receiver": receiver, "kind": "alert", "outcome": outcome}
            assert metrics.get_sample_value("watchpost_deliveries_total", labels) == 1


async def test_receivers_never_follow_a_redirect(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    misp.fail_next(302)
    thehive.fail_next(307)
    assert (await worker(api).deliver_due()).failed == 2
    errors = sorted(error for *_, error in rows(api))
    assert errors == [
        "MISP event search: HTTP 302: redirects are not followed",
        "TheHive alert: HTTP 307: redirects are not followed",
    ]
    assert thehive.trap_hits == 0 and not [r for r in misp.requests if r[1] == "/trap"]


async def test_receivers_a_timeout_is_retried(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    misp_of(api).http = ReceiverHttp(timeout=HANG_TIMEOUT)
    thehive_of(api).http = ReceiverHttp(timeout=HANG_TIMEOUT)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    misp.hang_next(HANG)
    thehive.hang_next(HANG)
    assert (await worker(api).deliver_due()).failed == 2
    misp.release()
    thehive.release()
    await drain(api)
    assert len(misp.sightings_of(IP)) == 1 and len(thehive.alerts) == 1
    assert thehive.duplicates == 0  # the hang came before the write


class CrashAfterSend(BaseException):
    """The process dying right after the receiver took the delivery."""


class Dying:
    def __init__(self, real: Receiver) -> None:
        self.real = real
        self.name = real.name

    async def send(self, delivery: PendingDelivery) -> None:
        await self.real.send(delivery)
        raise CrashAfterSend

    async def already_delivered(self, delivery: PendingDelivery) -> bool:
        return await self.real.already_delivered(delivery)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_receivers_a_crash_after_sending_delivers_once_after_the_lease(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive, thehive_channels=("C0ELSEWHERE",))
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    real = worker(api).receivers["misp"]
    worker(api).receivers["misp"] = Dying(real)
    with pytest.raises(CrashAfterSend):
        await worker(api).deliver_due()
    worker(api).receivers["misp"] = real
    assert (await worker(api).deliver_due()).sent == 0  # leased by the dead attempt
    api.clock.advance(seconds=61)
    assert (await worker(api).deliver_due()).sent == 1
    assert len(misp.sightings_of(IP)) == 1
    assert thehive.attempts == 0  # TheHive takes another channel's alerts only


async def test_receivers_refused_for_good_is_given_up_and_health_says_why(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    thehive.fail_next(422)
    misp.fail_next(500)
    await worker(api).deliver_due()
    states = {s.receiver: s for s in await api.services.flows.health.receiver_health()}
    assert states["thehive"].abandoned == 1 and states["thehive"].backlog == 0
    assert states["misp"].backlog == 1 and states["misp"].last_error == "MISP event search: HTTP 500: fault"
    assert states["webhook"].off
    message = build_health_message((), receivers=tuple(states.values()))
    assert "MISP" in message.text and "TheHive" in message.text  # both failing
    shown = await Conversation(api.services.flows, Caller(TEAM, CHANNEL, "U1")).say("health")
    assert "Alert receivers\n⚪ Webhooks: off · no WATCHPOST_WEBHOOK_URL(S)\n" in shown
    assert "🔴 MISP: on · 1 alert waiting · 0 given up · last error 2026-11-20 10:30 UTC: MISP event" in shown
    assert "🔴 TheHive: on · 0 alerts waiting · 1 given up · last error" in shown and "HTTP 422" in shown
    assert MISP_KEY not in shown and THEHIVE_KEY not in shown
    status, health = await api.call("GET", "/api/v1/health")
    assert status == 200
    by_name = {r["receiver"]: r for r in health["receivers"]}
    assert (
        by_name["thehive"]["abandoned"] == 1
        and by_name["thehive"]["last_error"] == "TheHive alert: HTTP 422: fault"
    )
    assert by_name["misp"]["on"] and by_name["misp"]["backlog"] == 1 and not by_name["webhook"]["on"]
    assert "HTTP 422" in str(rows(api))


async def test_receivers_wrong_key_is_retried_with_the_reason_and_no_key_in_it(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive)
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    misp.key, thehive.key = "rotated-misp-key", "rotated-thehive-key"
    assert (await worker(api).deliver_due()).failed == 2
    errors = {receiver: error for receiver, _, _, _, abandoned, error in rows(api) if not abandoned}
    assert "HTTP 403: Authentication failed" in errors["misp"]
    assert "HTTP 401: Authentication failure" in errors["thehive"]
    assert MISP_KEY not in str(errors) and THEHIVE_KEY not in str(errors)
    misp.key, thehive.key = MISP_KEY, THEHIVE_KEY
    await drain(api)
    assert len(misp.sightings_of(IP)) == 1 and len(thehive.alerts) == 1
    states = {s.receiver: s for s in await api.services.flows.health.receiver_health()}
    assert states["misp"].last_error is None and states["thehive"].last_error is None  # recovered


async def test_receivers_channels_narrow_each_receiver(
    make_api: MakeApi, misp: FakeMisp, thehive: FakeTheHive
) -> None:
    api = await receiving(make_api, misp, thehive, misp_channels=(CHANNEL,), thehive_channels=("C0OTHER",))
    await monitor(api)
    await monitor(api, channel="C0OTHER")
    await api.change(IP, ("domain", NEW_NAME))
    assert sorted((r[0], r[1]) for r in rows(api)) == [("misp", CHANNEL), ("thehive", "C0OTHER")]


async def test_receivers_none_configured_no_rows_and_no_worker(api: ApiHarness) -> None:
    await monitor(api)
    await api.change(IP, ("domain", NEW_NAME))
    assert api.services.receivers is None and rows(api) == []
