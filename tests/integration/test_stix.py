"""Alerts as STIX 2.1 over the real server on loopback: `GET /api/v1/alerts/{id}` and the
list answer a bundle when `Accept` asks for `application/stix+json;version=2.1` (JSON stays
the default), and webhooks set to the STIX format POST each alert's bundle, signed and keyed
as the JSON ones, to the loopback receiver. Every bundle passes the OASIS validator."""

from __future__ import annotations

from typing import Any

from bot.alerts.delivery.receivers import ReceiverWorker
from bot.alerts.messages.stix import MEDIA_TYPE
from bot.config import Secret, WebhookFormat
from tests.fakes.api import TEAM, TOKEN, ApiHarness, MakeApi
from tests.fakes.stix import by_type, one, relationships, validate_bundle, values
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

IP = "98.126.38.107"
DOMAIN = "evil-infra.com"


async def two_alerts(api: ApiHarness) -> None:
    """An alert on an IP (a name resolving to it) and one on a domain (a new address)."""
    for indicator, channel in ((IP, "C0INTEL"), (DOMAIN, "C0OTHER")):
        status, _ = await api.call(
            "POST", "/api/v1/monitors", json={"channel": channel, "team": TEAM, "indicators": [indicator]}
        )
        assert status == 201
    await api.run_checks()
    await api.change(IP, ("domain", "www.interfaxru.com"))
    await api.change(DOMAIN, ("A", "45.77.10.20"))


async def get(api: ApiHarness, path: str, accept: str | None) -> tuple[int, str, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if accept is not None:
        headers["Accept"] = accept
    async with api.client.get(path, headers=headers) as response:
        return (
            response.status,
            response.headers["Content-Type"],
            dict(response.headers),
            await response.json(content_type=None),
        )


async def test_stix_api_alert_as_a_bundle(api: ApiHarness) -> None:
    await two_alerts(api)
    _, _, _, page = await get(api, "/api/v1/alerts", None)
    ip_alert, domain_alert = page["alerts"]

    status, content_type, headers, body = await get(
        api, f"/api/v1/alerts/{ip_alert['id']}", "application/stix+json;version=2.1"
    )
    assert status == 200 and content_type == MEDIA_TYPE and headers["Vary"] == "Accept"
    bundle = validate_bundle(body)
    assert one(bundle, "indicator")["pattern"] == f"[ipv4-addr:value = '{IP}']"
    assert relationships(bundle) == {("resolves-to", "www.interfaxru.com", IP)}
    [extension] = one(bundle, "sighting")["extensions"].values()
    assert (extension["alert_id"], extension["check_id"]) == (ip_alert["id"], ip_alert["check_id"])

    status, _, _, again = await get(api, f"/api/v1/alerts/{ip_alert['id']}", "application/stix+json")
    assert status == 200 and again == body  # no version: 2.1; and the same alert, the same bundle

    status, _, _, domain_bundle = await get(api, f"/api/v1/alerts/{domain_alert['id']}", MEDIA_TYPE)
    assert relationships(validate_bundle(domain_bundle)) == {("resolves-to", DOMAIN, "45.77.10.20")}


async def test_stix_api_json_stays_the_default(api: ApiHarness) -> None:
    await two_alerts(api)
    _, _, _, page = await get(api, "/api/v1/alerts", None)
    alert_id = page["alerts"][0]["id"]
    for accept in (
        None,
        "*/*",
        "application/json",
        "application/stix+json;version=2.0",  # another version: no 406, the JSON
        "application/stix+json;version=2.1;q=0",
        "application/json, application/stix+json;version=2.1;q=0.5",
        "text/html",
    ):
        status, content_type, _, body = await get(api, f"/api/v1/alerts/{alert_id}", accept)
        assert (status, content_type) == (200, "application/json; charset=utf-8"), accept
        assert body == page["alerts"][0], accept  # the list's item, as it is
    status, content_type, _, _ = await get(
        api, f"/api/v1/alerts/{alert_id}", "application/json;q=0.5, application/stix+json;version=2.1"
    )
    assert content_type == MEDIA_TYPE


async def test_stix_api_unknown_alert_is_404_in_either_format(api: ApiHarness) -> None:
    for accept in (None, MEDIA_TYPE):
        status, content_type, _, body = await get(api, "/api/v1/alerts/424242", accept)
        assert status == 404 and body["error"]["code"] == "not_found", accept
        assert content_type == "application/json; charset=utf-8"  # errors are JSON


async def test_stix_api_list_is_one_bundle_with_each_object_once(api: ApiHarness) -> None:
    await two_alerts(api)
    status, content_type, headers, body = await get(api, "/api/v1/alerts", MEDIA_TYPE)
    assert status == 200 and content_type == MEDIA_TYPE
    bundle = validate_bundle(body)
    assert len(by_type(bundle, "sighting")) == 2 and len(by_type(bundle, "identity")) == 1
    assert values(bundle, "domain-name") == {"www.interfaxru.com", DOMAIN}
    assert values(bundle, "ipv4-addr") == {IP, "45.77.10.20"}
    _, _, _, page = await get(api, "/api/v1/alerts", None)
    assert headers["X-Watchpost-Next-Cursor"] == page["next_cursor"]
    assert headers["X-Watchpost-Has-More"] == "false"

    status, _, headers, first = await get(api, "/api/v1/alerts?limit=1", MEDIA_TYPE)
    assert len(by_type(validate_bundle(first), "sighting")) == 1 and headers["X-Watchpost-Has-More"] == "true"
    cursor = headers["X-Watchpost-Next-Cursor"]
    _, _, headers, rest = await get(api, f"/api/v1/alerts?cursor={cursor}", MEDIA_TYPE)
    assert relationships(validate_bundle(rest)) == {("resolves-to", DOMAIN, "45.77.10.20")}
    _, _, _, empty = await get(api, f"/api/v1/alerts?cursor={headers['X-Watchpost-Next-Cursor']}", MEDIA_TYPE)
    assert validate_bundle(empty).get("objects") is None


def worker(api: ApiHarness) -> ReceiverWorker:
    assert api.services.receivers is not None
    return api.services.receivers


async def test_stix_webhook_posts_the_alerts_bundle_signed(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await make_api(
        webhook_url=Secret(webhook_receiver.url("all")),
        webhook_urls=(("C0INTEL", Secret(webhook_receiver.url("intel"))),),
        webhook_secret=Secret(WEBHOOK_SECRET),
        webhook_format=WebhookFormat.STIX,
    )
    await two_alerts(api)
    report = await worker(api).deliver_due()
    assert (report.sent, report.failed) == (3, 0)  # both alerts to /all, the IP's to /intel
    deliveries = webhook_receiver.received
    assert all(d.valid for d in deliveries) and len(webhook_receiver.accepted) == 3
    for delivery in deliveries:
        assert delivery.headers["Content-Type"] == MEDIA_TYPE
        assert delivery.headers["X-Watchpost-Event"] == "alert"
    by_key = {d.headers["Idempotency-Key"]: d for d in deliveries}
    _, _, _, page = await get(api, "/api/v1/alerts", None)
    ip_alert, domain_alert = page["alerts"]
    intel = validate_bundle(by_key[f"{ip_alert['check_id']}-C0INTEL"].body)
    assert by_key[f"{ip_alert['check_id']}-C0INTEL"].path == "/intel"
    assert values(intel, "ipv4-addr") == {IP}  # only its channel's alert: nothing of the domain
    assert "C0INTEL" not in by_key[f"{ip_alert['check_id']}-C0INTEL"].body.decode()  # nor channel names
    assert relationships(intel) == {("resolves-to", "www.interfaxru.com", IP)}
    everything = validate_bundle(by_key[f"{domain_alert['check_id']}-all"].body)
    assert relationships(everything) == {("resolves-to", DOMAIN, "45.77.10.20")}
    _, _, _, from_api = await get(api, f"/api/v1/alerts/{domain_alert['id']}", MEDIA_TYPE)
    assert everything == from_api  # the API's bundle of the same alert


async def test_stix_webhook_retry_carries_the_same_bundle(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await make_api(
        webhook_url=Secret(webhook_receiver.url("all")),
        webhook_secret=Secret(WEBHOOK_SECRET),
        webhook_format=WebhookFormat.STIX,
    )
    status, _ = await api.call(
        "POST", "/api/v1/monitors", json={"channel": "C0INTEL", "team": TEAM, "indicators": [IP]}
    )
    assert status == 201
    await api.run_checks()
    await api.change(IP, ("domain", "www.interfaxru.com"))
    webhook_receiver.fail_next(500)
    assert (await worker(api).deliver_due()).failed == 1
    api.clock.advance(seconds=5)
    assert (await worker(api).deliver_due()).sent == 1
    first, second = webhook_receiver.received
    assert first.body == second.body and first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    validate_bundle(second.body)
