"""Where analysts already work, end to end (issue: MISP, TheHive and STIX 2.1 in and out):
the real `watchpost serve`, signed slash commands, the fake Slack, loopback MISP and
TheHive 5 and a webhook receiver set to STIX. A MISP event with five attributes (one on a
warning list, one a private address) becomes three monitors and a reply naming the two
left out; a change on one of them becomes one Slack alert, one MISP sighting with the new
value added to the event it came from, one TheHive alert and one valid STIX 2.1 bundle on
the webhook: exactly once each, across a 500 from every receiver and a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import create_engine, text

from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.misp_receiver import MISP_KEY, FakeMisp
from tests.fakes.slack_api import FakeSlackApi, eventually
from tests.fakes.slack_requests import SlackConversation, SlackSender
from tests.fakes.stix import validate_bundle, values
from tests.fakes.thehive import THEHIVE_KEY, FakeTheHive
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

CHANNEL = "C0CASE"
WATCHED = "evil-infra.com"
OTHERS = ("second-evil.net", "45.77.10.20")
LEFT_OUT = ("google.com", "10.0.0.5")  # on MISP's warning lists; a private address
NEW_ADDRESS = "98.126.38.107"


@pytest_asyncio.fixture
async def served(
    dns_server: FakeDnsServer,
    slack_api: FakeSlackApi,
    misp: FakeMisp,
    thehive: FakeTheHive,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> AsyncIterator[ServeProcess]:
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        WATCHPOST_MISP_URL=misp.url,
        WATCHPOST_MISP_KEY=MISP_KEY,
        WATCHPOST_THEHIVE_URL=thehive.url,
        WATCHPOST_THEHIVE_KEY=THEHIVE_KEY,
        WATCHPOST_WEBHOOK_URL=webhook_receiver.url("soc"),
        WATCHPOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
        WATCHPOST_WEBHOOK_FORMAT="stix",
    )
    process = ServeProcess(env, tmp_path / "serve.log")
    await process.start()
    try:
        yield process
    finally:
        process.kill()


def pending_receiver_deliveries(db: Path) -> int:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM receiver_deliveries WHERE delivered_at IS NULL")
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


def alerts_in(slack_api: FakeSlackApi) -> list[Any]:
    return [m for m in slack_api.posted(CHANNEL) if NEW_ADDRESS in m.all_text()]


async def test_a_misp_event_in_and_one_change_out_to_slack_misp_thehive_and_stix_exactly_once(
    served: ServeProcess,
    dns_server: FakeDnsServer,
    slack_api: FakeSlackApi,
    misp: FakeMisp,
    thehive: FakeTheHive,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    for name in (WATCHED, OTHERS[0]):
        dns_server.set(name, "A", ["45.77.10.20"])
    event = misp.add_event(
        "Phishing kit infrastructure",
        [
            ("domain", WATCHED),
            ("domain", OTHERS[0]),
            ("ip-dst", OTHERS[1]),
            ("domain", LEFT_OUT[0]),
            ("ip-dst", LEFT_OUT[1]),
        ],
        to_ids=True,
    )
    analyst = SlackConversation(SlackSender(served.events_url, slack_api.root), slack_api, channel_id=CHANNEL)

    # In: three monitors, tagged with the event; the reply names the two left out.
    reply = await analyst.say(f"misp {event}", timeout=60)
    for value in (WATCHED, *OTHERS, *LEFT_OUT):
        assert value in reply.text, (value, reply.text)
    listed = await analyst.say("list", timeout=60)
    assert f"misp:{event}" in listed.text
    assert all(v in listed.text for v in (WATCHED, *OTHERS)) and not any(v in listed.text for v in LEFT_OUT)

    async def baselined() -> bool:
        status = await analyst.say(f"status {WATCHED}", timeout=60)
        return "baseline" in status.text.lower() and "resolutions" in status.text

    await eventually(baselined, timeout=60)

    # Every receiver fails once (500); then the bot is restarted mid-way.
    misp.fail_next(500)
    thehive.fail_next(500)
    webhook_receiver.fail_next(500)
    dns_server.set(WATCHED, "A", ["45.77.10.20", NEW_ADDRESS])
    await slack_api.wait_for(lambda: alerts_in(slack_api), timeout=60, what="the Slack alert")
    await served.stop()
    restarted = ServeProcess(served.env, served.log_path)
    await restarted.start()
    try:

        async def everywhere() -> bool:
            return bool(misp.sightings_of(WATCHED) and thehive.alerts and webhook_receiver.accepted)

        await eventually(everywhere, timeout=90)

        # Every receiver's delivery settled: no retry left that could bring a second copy.
        async def settled() -> bool:
            return not pending_receiver_deliveries(tmp_path / "serve.db")

        await eventually(settled, timeout=90)
    finally:
        await restarted.stop()
        restarted.kill()

    assert len(alerts_in(slack_api)) == 1
    # MISP: one sighting on the monitored value, the new address added to the same event.
    assert len(misp.sightings_of(WATCHED)) == 1
    attributes = {a["value"] for a in misp.event_by_uuid(event)["Attribute"]}
    assert NEW_ADDRESS in attributes
    # TheHive: one alert, the changed values as observables.
    [case] = thehive.alerts
    assert NEW_ADDRESS in {o["data"] for o in case["observables"]}
    # STIX: one bundle accepted, valid under the OASIS validator, naming the new address.
    [bundle] = [d for d in webhook_receiver.accepted.values() if d.path == "/soc"]
    assert NEW_ADDRESS in values(validate_bundle(bundle.body), "ipv4-addr")
    log = served.log() + restarted.log()
    assert MISP_KEY not in log and THEHIVE_KEY not in log
