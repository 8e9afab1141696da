"""Triage over the REST API (SQLite and PostgreSQL): every alert carries its triage, the
list filters by state, PATCH sets it with the token's name as who and edits the alert's
Slack message; bad input is refused whole and changes nothing."""

from __future__ import annotations

from typing import Any

from bot.core.text import render_text
from tests.fakes.api import TEAM, ApiHarness

IP = "98.126.38.107"


async def one_delivered_alert(api: ApiHarness) -> dict[str, Any]:
    status, _ = await api.call(
        "POST", "/api/v1/monitors", json={"channel": "C0INTEL", "team": TEAM, "indicators": [IP]}
    )
    assert status == 201
    await api.run_checks()
    await api.change(IP, ("domain", "cdn-edge.example-cdn.net"))
    await api.services.outbox.deliver_due()
    status, body = await api.call("GET", "/api/v1/alerts")
    assert status == 200 and len(body["alerts"]) == 1
    return dict(body["alerts"][0])


async def states(api: ApiHarness, state: str) -> list[int]:
    status, body = await api.call("GET", "/api/v1/alerts", params={"state": state})
    assert status == 200, body
    return [a["id"] for a in body["alerts"]]


async def test_api_triage_patch_round_trip_edits_the_slack_message(api: ApiHarness) -> None:
    alert = await one_delivered_alert(api)
    assert alert["triage"] == {"state": "open", "by": None, "at": None, "reason": None}
    assert await states(api, "open") == [alert["id"]] and await states(api, "acknowledged") == []

    status, body = await api.call(
        "PATCH",
        f"/api/v1/alerts/{alert['id']}",
        json={"triage": {"state": "acknowledged", "reason": "on it"}},
    )
    assert status == 200, body
    assert body["triage"] == {
        "state": "acknowledged",
        "by": "api:soar",
        "at": "2026-11-20T10:30:01Z",
        "reason": "on it",
    }
    [posted] = api.transport.parents("C0INTEL")
    shown = render_text(api.transport.shown("C0INTEL", posted.ts))
    assert "Acknowledged by `api:soar` on 2026-11-20 10:30 UTC" in shown
    assert await states(api, "acknowledged") == [alert["id"]] and await states(api, "open") == []

    # Bad input: refused whole, nothing changed, no edit.
    edits = len(api.transport.updates)
    for bad in (
        {"triage": {"state": "resolved"}},
        {"triage": {"state": "expected", "reason": 7}},
        {"triage": {"state": "expected", "colour": "red"}},
        {"state": "expected"},
        [],
    ):
        status, body = await api.call("PATCH", f"/api/v1/alerts/{alert['id']}", json=bad)
        assert status == 400, bad
    status, body = await api.call(
        "PATCH", f"/api/v1/alerts/{alert['id']}", json={"triage": {"state": "resolved"}}
    )
    assert body["error"]["details"] == [
        {
            "parameter": "triage.state",
            "reason": "one of open, acknowledged, expected, false_positive (nothing was changed)",
        }
    ]
    status, body = await api.call("GET", "/api/v1/alerts", params={"state": "resolved"})
    assert status == 400 and body["error"]["details"][0]["parameter"] == "state"
    status, body = await api.call("PATCH", "/api/v1/alerts/999", json={"triage": {"state": "expected"}})
    assert status == 404 and body["error"]["code"] == "not_found"
    assert len(api.transport.updates) == edits and await states(api, "acknowledged") == [alert["id"]]

    # False positive over the API: the value is suppressed on the monitor; reopening lifts it.
    status, body = await api.call(
        "PATCH", f"/api/v1/alerts/{alert['id']}", json={"triage": {"state": "false_positive"}}
    )
    assert status == 200 and body["triage"]["reason"] == "CDN or shared hosting"
    db = api.services.db
    [suppression] = db.triage.active(now=api.clock.now, channel_id="C0INTEL")
    assert (suppression.value, suppression.created_by) == ("cdn-edge.example-cdn.net", "api:soar")
    assert "False positive: CDN or shared hosting, marked by `api:soar`" in render_text(
        api.transport.shown("C0INTEL", posted.ts)
    )
    status, body = await api.call(
        "PATCH", f"/api/v1/alerts/{alert['id']}", json={"triage": {"state": "open"}}
    )
    assert status == 200 and body["triage"]["state"] == "open"
    assert db.triage.active(now=api.clock.now, channel_id="C0INTEL") == []
