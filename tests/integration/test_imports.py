"""Monitors from MISP events, STIX 2.1 bundles and lists: `POST /api/v1/monitors/import` over
HTTP and `/monitor misp` as a user says it, against a loopback fake MISP, on real storage.
All or nothing: one item that cannot be read refuses the import and nothing is stored."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Secret
from bot.core.results import Caller
from tests.fakes.api import TEAM, ApiHarness, MakeApi
from tests.fakes.conversation import Conversation
from tests.fakes.misp import FakeMisp, misp_attribute, misp_object

CHANNEL = "C0INTEL"
STIX_BUNDLE = "bundle--6ba7b810-9dad-41d1-80b4-00c04fd430c8"


@pytest_asyncio.fixture
async def misp() -> AsyncIterator[FakeMisp]:
    fake = await FakeMisp().start()
    yield fake
    await fake.close()


@pytest_asyncio.fixture
async def api(make_api: MakeApi, misp: FakeMisp) -> ApiHarness:
    return await make_api(misp_url=misp.url, misp_key=Secret(misp.key))


def phishing_event(misp: FakeMisp) -> dict[str, Any]:
    """The done-when event: five attributes, one on a warning list, one a private address."""
    return misp.add_event(
        "Phishing wave against the bank",
        [
            misp_attribute("domain", "login-bank-secure.com"),
            misp_attribute("domain", "google.com"),
            misp_attribute("ip-dst", "10.0.0.5"),
            misp_attribute("url", "https://portal.bank-verify.net/session"),
        ],
        [misp_object("domain-ip", [misp_attribute("ip-dst", "98.126.38.107")])],
    )


async def import_(api: ApiHarness, **body: Any) -> tuple[int, Any]:
    return await api.call("POST", "/api/v1/monitors/import", json={"channel": CHANNEL, "team": TEAM, **body})


async def monitored(api: ApiHarness) -> dict[str, list[str]]:
    status, body = await api.call("GET", "/api/v1/monitors", params={"channel": CHANNEL})
    assert status == 200
    return {m["indicator"]: m["tags"] for m in body["monitors"]}


def user(api: ApiHarness) -> Conversation:
    return Conversation(api.services.flows, Caller(team_id=TEAM, channel_id=CHANNEL, user_id="U0ANALYST"))


async def test_imports_misp_event_becomes_three_monitors_naming_the_two_left_out(
    api: ApiHarness, misp: FakeMisp
) -> None:
    event = phishing_event(misp)
    status, body = await import_(api, misp_event=event["id"])
    assert status == 201, body
    tag = f"misp:{event['uuid']}"
    assert body["tag"] == tag and body["source"] == "misp"
    assert sorted(body["added"]) == ["98.126.38.107", "login-bank-secure.com", "portal.bank-verify.net"]
    left = {item["value"]: item for item in body["left_out"]}
    assert set(left) == {"google.com", "10.0.0.5"}
    assert "List of known google domains" in left["google.com"]["warning_lists"]
    assert left["google.com"]["reason"].startswith("on MISP warning lists")
    assert left["10.0.0.5"]["reason"] == "a private address (10.0.0.0/8)"
    assert await monitored(api) == {name: [tag] for name in body["added"]}
    status, tagged = await api.call("GET", "/api/v1/monitors", params={"tag": tag})
    assert status == 200 and len(tagged["monitors"]) == 3
    # MISP was asked as its API wants: the key, JSON, nothing followed.
    [request] = misp.seen
    assert request.path == f"/events/view/{event['id']}"
    assert request.headers["Authorization"] == misp.key and request.headers["Accept"] == "application/json"


async def test_imports_slash_command_reply_names_what_is_monitored_and_left_out(
    api: ApiHarness, misp: FakeMisp
) -> None:
    event = phishing_event(misp)
    misp.add_event("other", [misp_attribute("domain", "unrelated-evil.com")])
    analyst = user(api)
    text = await analyst.say(f"misp {event['uuid']}")
    assert "now monitoring `login-bank-secure.com`, `portal.bank-verify.net`, `98.126.38.107`" in text
    assert f"Tagged `misp:{event['uuid']}`" in text
    assert "Left out (2):" in text
    assert "`google.com`: on MISP warning list" in text and "List of known google domains" in text
    assert "`10.0.0.5`: a private address (10.0.0.0/8)" in text
    assert "unrelated-evil.com" not in text
    listing = await analyst.say("list")
    assert listing.count(f"misp:{event['uuid']}") == 3
    status = await analyst.say("status login-bank-secure.com")
    assert f"misp:{event['uuid']}" in status


async def test_imports_keep_a_monitors_tags_and_add_the_new_one(api: ApiHarness, misp: FakeMisp) -> None:
    status, _ = await api.call(
        "POST",
        "/api/v1/monitors",
        json={
            "channel": CHANNEL,
            "team": TEAM,
            "indicators": ["login-bank-secure.com"],
            "tags": ["campaign-7"],
        },
    )
    assert status == 201
    event = phishing_event(misp)
    status, body = await import_(api, misp_event=event["id"])
    assert status == 201 and body["existing"] == ["login-bank-secure.com"]
    tags = await monitored(api)
    assert tags["login-bank-secure.com"] == sorted(["campaign-7", f"misp:{event['uuid']}"])
    # The same event again: nothing new, nothing doubled.
    status, again = await import_(api, misp_event=event["id"])
    assert status == 200 and again["added"] == [] and len(again["existing"]) == 3
    assert await monitored(api) == tags


async def test_imports_only_attributes_for_detection_unless_all(api: ApiHarness, misp: FakeMisp) -> None:
    event = misp.add_event(
        "mixed",
        [
            misp_attribute("domain", "ids.evil-infra.com"),
            misp_attribute("domain", "ctx.evil-infra.com", to_ids=False),
        ],
    )
    text = await user(api).say(f"misp {event['id']}")
    assert "ids.evil-infra.com" in text and "ctx.evil-infra.com" not in text
    assert f"`/monitor misp {event['id']} all` reads them too" in text
    text = await user(api).say(f"misp {event['id']} all")
    assert "ctx.evil-infra.com" in text and "already monitored here (tag added)" in text


async def test_imports_one_unreadable_item_refuses_the_whole_event(api: ApiHarness, misp: FakeMisp) -> None:
    event = misp.add_event(
        "sloppy",
        [
            misp_attribute("domain", "fine.evil-infra.com"),
            misp_attribute("domain", "evil-infra[.]org"),
            misp_attribute("url", "hxxp://drop.evil-infra.net/x"),
        ],
    )
    status, body = await import_(api, misp_event=event["id"])
    assert status == 400 and body["error"]["code"] == "invalid_items"
    details = body["error"]["details"]
    assert len(details) == 2 and all(
        d["item"].startswith(("domain attribute", "url attribute")) for d in details
    )
    assert (
        "written defanged" in details[0]["reason"]
        and "would read as evil-infra[.]org" in details[0]["reason"]
    )
    assert await monitored(api) == {}
    text = await user(api).say(f"misp {event['id']}")
    assert "2 items of MISP event" in text and "cannot be read, so nothing was monitored" in text
    assert "would read as" in text and await monitored(api) == {}


async def test_imports_stix_bundles_in_several_shapes_and_a_bad_pattern_refuses_all(api: ApiHarness) -> None:
    def bundle(*patterns: str) -> dict[str, Any]:
        objects = [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--0000000{n}-0000-4000-8000-000000000000",
                "pattern": pattern,
                "pattern_type": "stix",
                "valid_from": "2026-12-01T00:00:00Z",
            }
            for n, pattern in enumerate(patterns)
        ]
        return {"type": "bundle", "id": STIX_BUNDLE, "objects": objects}

    good = bundle(
        "[domain-name:value = 'stix-a.evil-infra.com' OR ipv4-addr:value = '98.126.38.7']",
        "[url:value = 'https://stix-b.evil-infra.com/x'] AND [ipv6-addr:value = '2a01:4f8:1c1c::7']",
        "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
    )
    status, body = await import_(api, indicators=good)
    assert status == 201, body
    assert sorted(body["added"]) == [
        "2a01:4f8:1c1c::7",
        "98.126.38.7",
        "stix-a.evil-infra.com",
        "stix-b.evil-infra.com",
    ]
    assert body["tag"] == f"stix:{STIX_BUNDLE}" and len(body["left_out"]) == 1
    before = await monitored(api)
    bad = bundle("[domain-name:value = 'stix-c.evil-infra.com']", "[domain-name:value = 'broken'")
    status, body = await import_(api, indicators=bad)
    assert status == 400 and body["error"]["code"] == "invalid_items"
    [detail] = body["error"]["details"]
    assert detail["item"] == "indicator--00000001-0000-4000-8000-000000000000"
    assert "not valid STIX" in detail["reason"]
    assert await monitored(api) == before  # stix-c was not added


async def test_imports_posted_misp_json_and_lists(api: ApiHarness, misp: FakeMisp) -> None:
    event = phishing_event(misp)
    status, body = await import_(api, indicators=misp.find(event["id"]))
    assert status == 201 and len(body["added"]) == 3 and body["tag"] == f"misp:{event['uuid']}"
    assert misp.seen == []  # a posted event is not fetched
    status, body = await import_(api, indicators=["list-a.evil-infra[.]com", "192.168.1.1", "8.8.8.8"])
    assert status == 201 and body["added"] == ["list-a.evil-infra.com"] and body["tag"] is None
    assert {item["value"] for item in body["left_out"]} == {"192.168.1.1", "8.8.8.8"}


async def test_imports_refuse_bad_requests(api: ApiHarness) -> None:
    status, body = await import_(api)
    assert status == 400 and body["error"]["code"] == "invalid_request"
    status, body = await import_(api, indicators=["a.evil-infra.com"], misp_event="1")
    assert status == 400 and body["error"]["code"] == "invalid_request"
    status, body = await import_(api, indicators={"what": "ever"})
    assert status == 400 and body["error"]["code"] == "rejected"
    status, body = await import_(api, misp_event="../../users/view/me")
    assert (
        status == 400 and body["error"]["code"] == "rejected" and "number or UUID" in body["error"]["message"]
    )
    status, body = await import_(api, indicators=["a.evil-infra.com"], all_attributes="yes")
    assert status == 400 and body["error"]["code"] == "invalid_parameter"


async def test_imports_say_what_misp_said_and_never_the_key(
    api: ApiHarness, misp: FakeMisp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, body = await import_(api, misp_event="999")
    assert status == 502 and body["error"]["code"] == "misp_unavailable"
    assert "has no event 999" in body["error"]["message"] and "Invalid event" in body["error"]["message"]
    misp.key = "another-key"  # the bot's key is now wrong
    event = phishing_event(misp)
    status, body = await import_(api, misp_event=event["id"])
    assert status == 502 and "refused the key (HTTP 403" in body["error"]["message"]
    assert "WATCHPOST_MISP_KEY" in body["error"]["message"]
    misp.redirect_to = "/users/login"
    status, body = await import_(api, misp_event=event["id"])
    assert status == 502 and "redirect (HTTP 302), which is never followed" in body["error"]["message"]
    assert [s.path for s in misp.seen].count("/users/login") == 0
    misp.redirect_to, misp.answer_with = None, 500
    text = await user(api).say(f"misp {event['id']}")
    assert "Could not read MISP event" in text and "HTTP 500" in text and "Nothing was changed" in text
    assert await monitored(api) == {}
    key = api.services.settings.misp_key.reveal()
    assert key not in caplog.text and key not in text and key not in repr(api.services.flows.imports.misp)


async def test_imports_without_misp_configured_say_which_settings(make_api: MakeApi) -> None:
    api = await make_api()
    text = await user(api).say("misp 42")
    assert "WATCHPOST_MISP_URL" in text and "WATCHPOST_MISP_KEY" in text and "Nothing was changed" in text
    status, body = await import_(api, misp_event="42")
    assert status == 400 and body["error"]["code"] == "misp_not_configured"
    text = await user(api).say("misp")
    assert "Say which MISP event" in text
