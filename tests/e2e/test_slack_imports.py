"""`/monitor misp <event>` end to end: the real `watchpost serve` (its worker runs the
command), signed slash commands as Slack sends them, a loopback fake MISP. The done-when
case: an event with five attributes, one on a warning list and one a private address,
becomes three monitors, and the reply names the two left out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.e2e.slack_bot import ServeProcess
from tests.fakes.misp import FakeMisp, misp_attribute, misp_object
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import SlackConversation, SlackSender


@pytest_asyncio.fixture
async def misp() -> AsyncIterator[FakeMisp]:
    fake = await FakeMisp().start()
    yield fake
    await fake.close()


@pytest.fixture
def serve_settings(misp: FakeMisp) -> dict[str, str]:
    return {"WATCHPOST_MISP_URL": misp.url, "WATCHPOST_MISP_KEY": misp.key}


async def test_slack_monitor_misp_event_monitors_three_and_names_two_left_out(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, misp: FakeMisp
) -> None:
    event = misp.add_event(
        "Phishing wave against the bank",
        [
            misp_attribute("domain", "login-bank-secure.com"),
            misp_attribute("domain", "google.com"),
            misp_attribute("ip-dst", "10.0.0.5"),
            misp_attribute("url", "https://portal.bank-verify.net/session"),
        ],
        [misp_object("domain-ip", [misp_attribute("ip-dst", "98.126.38.107")])],
    )
    analyst = SlackConversation(slack, slack_api)
    # The first import in a process compiles MISP's warning lists: a generous deadline.
    reply = await analyst.say(f"misp {event['id']}", timeout=90)
    text = reply.text
    assert reply.payload["response_type"] == "ephemeral"
    for monitored in ("login-bank-secure.com", "portal.bank-verify.net", "98.126.38.107"):
        assert f"`{monitored}`" in text
    assert "now monitoring" in text and f"misp:{event['uuid']}" in text
    assert "Left out (2):" in text and "`google.com`: on MISP warning list" in text
    assert "`10.0.0.5`: a private address (10.0.0.0/8)" in text
    listing = await analyst.say("list")
    assert "Monitored here: 3" in listing.text and listing.text.count(f"misp:{event['uuid']}") == 3
    assert slack_api.posted(analyst.channel_id) == []  # an import is no alert
    assert misp.key not in bot.log()
