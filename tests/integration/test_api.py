"""/api/v1 over HTTP on SQLite and PostgreSQL: auth, monitors in bulk (all or nothing, the
slash command's parser and quota), tags, alerts and their filters, indicator state, and
every error as JSON with the right status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from bot.core.results import Caller
from bot.surfaces.api.app import MAX_BODY_BYTES
from tests.fakes.api import OTHER_TOKEN, TEAM, TOKEN, ApiHarness, MakeApi
from tests.fakes.conversation import Conversation

IP = "98.126.38.107"
DOMAIN = "evil-infra.com"


async def add(
    api: ApiHarness, *indicators: str, channel: str = "C0INTEL", **extra: object
) -> tuple[int, dict]:
    return await api.call(
        "POST",
        "/api/v1/monitors",
        json={"channel": channel, "team": TEAM, "indicators": list(indicators), **extra},
    )


async def test_api_refuses_requests_without_a_valid_token(api: ApiHarness) -> None:
    for token in (None, "wrong-token", TOKEN + "x", ""):
        status, body = await api.call("GET", "/api/v1/monitors", token=token)
        assert status == 401 and body["error"]["code"] == "unauthorized"
    async with api.client.get("/api/v1/alerts", headers={"Authorization": f"Basic {TOKEN}"}) as response:
        assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    status, body = await api.call("GET", "/api/v1/monitors", token=OTHER_TOKEN)
    assert status == 200 and body == {"monitors": []}
    status, document = await api.call("GET", "/api/v1/openapi.json", token=None)  # public
    assert status == 200 and document["openapi"].startswith("3.1")


async def test_api_errors_are_json_with_the_right_status(api: ApiHarness) -> None:
    status, body = await api.call("GET", "/api/v1/nowhere")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.call("PUT", "/api/v1/monitors")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    status, body = await api.call("POST", "/api/v1/monitors", data=b"{not json")
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, body = await api.call("POST", "/api/v1/monitors", json={"channel": "C1X", "indicator": IP})
    assert status == 400 and {d["field"] for d in body["error"]["details"]} == {"indicators", "indicator"}
    status, body = await api.call("POST", "/api/v1/monitors", data=b"[" + b" " * MAX_BODY_BYTES + b"]")
    assert status == 413 and body["error"]["code"] == "payload_too_large"

    async def streamed() -> AsyncIterator[bytes]:  # chunked: no Content-Length to go by
        for _ in range(20):
            yield b" " * 65536

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with api.client.post("/api/v1/monitors", data=streamed(), headers=headers) as response:
        assert response.status == 413
    status, body = await add(api, *[f"host{n}.example.net" for n in range(1001)])
    assert status == 400 and body["error"]["code"] == "too_many_indicators"
    status, body = await api.call("GET", "/api/v1/alerts", params={"limit": "0"})
    assert status == 400 and body["error"]["details"] == [
        {"parameter": "limit", "reason": "a whole number from 1 to 200"}
    ]
    for params in ({"since": "yesterday"}, {"since": "2026-11-20T09:00:00"}, {"day": "2026-13-01"}):
        status, body = await api.call("GET", "/api/v1/alerts", params=params)
        assert status == 400 and body["error"]["code"] == "invalid_parameter", params
    status, body = await api.call("GET", "/api/v1/alerts", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    status, body = await api.call("GET", "/api/v1/indicators/" + IP)
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_api_bulk_add_is_all_or_nothing_with_the_slash_commands_reasons(api: ApiHarness) -> None:
    feed = [f"host{n}.evil-infra[.]com" for n in range(498)] + ["10.0.0.1", "localhost"]
    status, body = await add(api, *feed)
    assert status == 400 and body["error"]["code"] == "invalid_indicators"
    problems = body["error"]["details"]
    assert [p["index"] for p in problems] == [498, 499]
    assert "private" in problems[0]["reason"] and problems[1]["input"] == "localhost"
    assert "`" not in problems[0]["reason"]
    assert api.services.db.monitors.list() == []  # nothing applied

    status, body = await add(api, *feed[:498], tags=["apt-x", "report:2026-11"])
    assert status == 201 and len(body["added"]) == 498 and body["existing"] == []
    assert body["monitors"][0]["created_by"] == "api:soar"
    assert body["monitors"][0]["tags"] == ["apt-x", "report:2026-11"]


async def test_api_bulk_add_answers_at_once_and_the_baseline_comes_with_the_next_tick(
    api: ApiHarness,
) -> None:
    api.dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    started = time.monotonic()
    status, body = await add(api, IP, f"hxxps://{DOMAIN}/login", " evil-infra.com ")  # defanged, duplicate
    assert status == 201 and body["added"] == [IP, DOMAIN] and time.monotonic() - started < 5
    assert api.transport.posts == [] and api.services.db.monitors.subject(IP).last_checked_at is None
    await api.run_checks()
    status, state = await api.call("GET", f"/api/v1/indicators/{IP}")
    assert status == 200 and state["datasets"][0]["baseline_at"] is not None
    assert [f["value"] for f in state["datasets"][0]["facts"]] == ["www.interfaxru.com"]
    assert api.transport.posts == []  # a baseline is not an alert

    status, body = await add(api, IP, tags=["apt-x"])  # again: existing, tag added
    assert status == 200 and body["added"] == [] and body["existing"] == [IP]
    assert body["monitors"][0]["tags"] == ["apt-x"]


async def test_api_monitors_are_the_slash_commands_monitors(api: ApiHarness) -> None:
    await add(api, IP, channel="C0INTEL", tags=["apt-x"])
    await add(api, DOMAIN, channel="C0INTEL")
    await add(api, IP, channel="C0OTHER")
    shown = await Conversation(api.services.flows, Caller(TEAM, "C0INTEL", "U1")).say("list")
    assert IP in shown and DOMAIN in shown

    async def listed(**params: str) -> list[tuple[str, str]]:
        status, body = await api.call("GET", "/api/v1/monitors", params=params)
        assert status == 200
        return [(m["indicator"], m["channel"]) for m in body["monitors"]]

    assert await listed() == [(IP, "C0INTEL"), (IP, "C0OTHER"), (DOMAIN, "C0INTEL")]
    assert await listed(channel="C0OTHER") == [(IP, "C0OTHER")]
    assert await listed(kind="domain") == [(DOMAIN, "C0INTEL")]
    assert await listed(tag="apt-x") == [(IP, "C0INTEL")]
    assert await listed(indicator="98.126.38[.]107") == [(IP, "C0INTEL"), (IP, "C0OTHER")]
    assert await listed(tag="nothing") == []


async def test_api_infers_the_team_only_when_there_is_one(api: ApiHarness) -> None:
    status, body = await api.call("POST", "/api/v1/monitors", json={"channel": "C0NEW", "indicators": [IP]})
    assert status == 400 and body["error"]["code"] == "team_required"
    await add(api, DOMAIN)  # the only workspace with monitors
    status, body = await api.call("POST", "/api/v1/monitors", json={"channel": "C0NEW", "indicators": [IP]})
    assert status == 201 and body["monitors"][0]["team"] == TEAM
    api.services.slack_team_id = "T0BOT"  # what auth.test said at start
    status, body = await api.call("POST", "/api/v1/monitors", json={"channel": "C0THIRD", "indicators": [IP]})
    assert status == 201 and body["monitors"][0]["team"] == "T0BOT"
    status, body = await api.call(
        "POST", "/api/v1/monitors", json={"channel": "C0NEW", "indicators": [DOMAIN]}
    )
    assert status == 201 and body["monitors"][0]["team"] == TEAM  # the channel's own workspace first


async def test_api_delete_and_bulk_remove(api: ApiHarness) -> None:
    await add(api, IP, DOMAIN, channel="C0INTEL")
    await add(api, IP, channel="C0OTHER")
    status, body = await api.call("DELETE", f"/api/v1/monitors/{IP}", params={"channel": "C0OTHER"})
    assert status == 200 and body["removed"] == [{"indicator": IP, "team": TEAM, "channel": "C0OTHER"}]
    status, body = await api.call("DELETE", f"/api/v1/monitors/{IP}", params={"channel": "C0OTHER"})
    assert status == 404
    status, body = await api.call(
        "POST", "/api/v1/monitors/remove", json={"channel": "C0INTEL", "indicators": [IP, "example.org"]}
    )
    assert status == 404 and "example.org" in body["error"]["message"]
    assert len(api.services.db.monitors.list()) == 2  # nothing removed
    status, body = await api.call("DELETE", "/api/v1/monitors/evil-infra[.]com")  # every channel
    assert status == 200 and [r["indicator"] for r in body["removed"]] == [DOMAIN]
    status, body = await api.call(
        "POST", "/api/v1/monitors/remove", json={"channel": "C0INTEL", "indicators": IP}
    )
    assert status == 200 and api.services.db.monitors.list() == []


async def test_api_channel_quota_refuses_the_whole_request(make_api: MakeApi) -> None:
    api = await make_api(channel_quota=3)
    status, body = await add(api, "a.example.net", "b.example.net", "c.example.net", "d.example.net")
    assert status == 400 and body["error"]["code"] == "rejected" and "at most 3" in body["error"]["message"]
    assert api.services.db.monitors.list() == []


async def test_api_alerts_filters_and_indicator_history(api: ApiHarness) -> None:
    await add(api, IP, channel="C0INTEL")
    await add(api, DOMAIN, channel="C0OTHER")
    await api.run_checks()
    await api.change(IP, ("domain", "www.interfaxru.com"))
    first_day = api.clock.now
    api.clock.advance(days=1)
    await api.change(DOMAIN, ("A", "45.77.10.20"))

    status, body = await api.call("GET", "/api/v1/alerts")
    assert status == 200 and [a["indicator"] for a in body["alerts"]] == [IP, DOMAIN]
    alert = body["alerts"][0]
    assert alert["datasets"] == ["resolutions"] and alert["kind"] == "ip"
    assert alert["changes"] == [
        {
            "dataset": "resolutions",
            "change": "added",
            "field": "domain",
            "old_value": None,
            "new_value": "www.interfaxru.com",
            "source": "mnemonic",
            "first_seen": alert["changes"][0]["first_seen"],
            "last_seen": alert["changes"][0]["last_seen"],
        }
    ]
    assert alert["channels"] == [
        {
            "delivery": alert["channels"][0]["delivery"],
            "follow_up": False,
            "triage": {"state": "open", "by": None, "at": None, "reason": None},
            "team": TEAM,
            "channel": "C0INTEL",
            "datasets": ["resolutions"],
            "status": "pending",
            "delivered_at": None,
        }
    ]
    await api.services.outbox.deliver_due()
    status, body = await api.call("GET", "/api/v1/alerts", params={"channel": "C0INTEL"})
    assert [a["indicator"] for a in body["alerts"]] == [IP] and body["alerts"][0]["channels"][0][
        "status"
    ] == ("delivered")

    async def indicators(**params: str) -> list[str]:
        status, body = await api.call("GET", "/api/v1/alerts", params=params)
        assert status == 200, body
        return [a["indicator"] for a in body["alerts"]]

    assert await indicators(indicator=DOMAIN) == [DOMAIN]
    assert await indicators(dataset="whois") == []
    assert await indicators(day=first_day.date().isoformat()) == [IP]
    assert await indicators(since=api.clock.now.isoformat()) == [DOMAIN]
    assert await indicators(until=api.clock.now.isoformat()) == [IP]

    status, state = await api.call("GET", f"/api/v1/indicators/{IP}")
    assert status == 200 and state["monitors"][0]["channel"] == "C0INTEL"
    assert state["history"]["alerts"] == 1 and state["history"]["changes_by_dataset"] == {"resolutions": 1}
    assert state["history"]["recent_changes"][0]["new_value"] == "www.interfaxru.com"


async def test_api_pages_follow_the_cursor_and_poll_for_new_alerts(api: ApiHarness) -> None:
    indicators = [f"n{n}.evil-infra.com" for n in range(5)]
    await add(api, *indicators)
    await api.run_checks()
    for n, name in enumerate(indicators):
        api.dataset.facts[name] = {("A", f"45.77.10.{n + 1}")}
    await api.change(indicators[0], ("A", "45.77.10.1"))
    status, page = await api.call("GET", "/api/v1/alerts", params={"limit": "2"})
    seen = [a["id"] for a in page["alerts"]]
    assert page["has_more"]
    while page["has_more"]:
        status, page = await api.call(
            "GET", "/api/v1/alerts", params={"limit": "2", "cursor": page["next_cursor"]}
        )
        seen += [a["id"] for a in page["alerts"]]
    assert len(seen) == 5 and seen == sorted(set(seen))
    cursor = page["next_cursor"]
    status, page = await api.call("GET", "/api/v1/alerts", params={"cursor": cursor})
    assert page == {"alerts": [], "next_cursor": cursor, "has_more": False}  # nothing new yet
    await api.change(indicators[1], ("A", "45.77.10.99"))
    status, page = await api.call("GET", "/api/v1/alerts", params={"cursor": cursor})
    assert status == 200 and [a["indicator"] for a in page["alerts"]] == [indicators[1]]


async def test_api_rate_limit_per_token(make_api: MakeApi) -> None:
    api = await make_api(api_rate_limit=5)
    statuses = [(await api.call("GET", "/api/v1/monitors"))[0] for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    async with api.client.get("/api/v1/monitors", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
        assert (await response.json())["error"]["code"] == "rate_limited"
    assert (await api.call("GET", "/api/v1/monitors", token=OTHER_TOKEN))[0] == 200  # its own bucket


async def test_api_concurrent_bulk_adds_to_one_channel_do_not_interleave(api: ApiHarness) -> None:
    batches = [[f"b{b}-{n}.example.net" for n in range(40)] for b in range(4)]
    results = await asyncio.gather(*(add(api, *batch) for batch in batches))
    assert [status for status, _ in results] == [201] * 4
    assert len(api.services.db.monitors.list(channel_id="C0INTEL")) == 160


async def test_api_is_off_without_tokens(make_api: MakeApi) -> None:
    api = await make_api(api_tokens=())
    async with api.client.get("/api/v1/monitors") as response:
        assert response.status == 404 and response.content_type != "application/json"
    async with api.client.get("/healthz") as response:
        assert response.status == 200
