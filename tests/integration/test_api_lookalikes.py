"""/api/v1/watches and /api/v1/findings over HTTP: the slash command's refusals, the
watches a channel has, and its findings a page at a time."""

from __future__ import annotations

from datetime import timedelta

from bot.watches.model import Sighting
from bot.watches.store.lookalikes import FindingHit
from tests.fakes.api import TEAM, ApiHarness

CHANNEL = "C0INTEL"


async def test_api_watches_add_list_refuse_remove(api: ApiHarness) -> None:
    status, body = await api.call(
        "POST",
        "/api/v1/watches",
        json={
            "channel": CHANNEL,
            "team": TEAM,
            "kind": "lookalike",
            "terms": ["interfax.ru", "www.kommersant.ru"],
        },
    )
    assert status == 201 and body["added"] == ["interfax.ru", "kommersant.ru"] and body["existing"] == []
    assert {w["term"] for w in body["watches"]} == {"interfax.ru", "kommersant.ru"}
    status, body = await api.call(
        "POST",
        "/api/v1/watches",
        json={"channel": CHANNEL, "team": TEAM, "kind": "lookalike", "terms": ["interfax.ru"]},
    )
    assert status == 200 and body["existing"] == ["interfax.ru"]
    for terms, kind, reason in (
        (["co.uk"], "lookalike", "public suffix"),
        (["x"], "keyword", "one-letter keyword"),
        (["abc"], "keyword", "fewer than 4 letters"),
    ):
        status, body = await api.call(
            "POST", "/api/v1/watches", json={"channel": CHANNEL, "team": TEAM, "kind": kind, "terms": terms}
        )
        assert status == 400 and reason in body["error"]["message"], body
    status, body = await api.call(
        "POST",
        "/api/v1/watches",
        json={"channel": CHANNEL, "team": TEAM, "kind": "keyword", "terms": ["abc"], "confirm": True},
    )
    assert status == 201
    status, body = await api.call("GET", "/api/v1/watches", params={"channel": CHANNEL, "kind": "keyword"})
    assert status == 200 and [w["term"] for w in body["watches"]] == ["abc"]
    status, body = await api.call("GET", "/api/v1/watches", params={"chanel": CHANNEL})
    assert status == 400
    status, body = await api.call(
        "POST",
        "/api/v1/watches/remove",
        json={"channel": CHANNEL, "team": TEAM, "kind": "lookalike", "terms": ["interfax.ru"]},
    )
    assert status == 200 and body == {"removed": ["interfax.ru"]}
    status, body = await api.call(
        "POST",
        "/api/v1/watches/remove",
        json={"channel": CHANNEL, "team": TEAM, "kind": "lookalike", "terms": ["interfax.ru"]},
    )
    assert status == 404


async def test_api_findings_pages(api: ApiHarness) -> None:
    store = api.services.db.lookalikes
    now = api.clock()
    reason = {
        "watch_id": 1,
        "kind": "lookalike",
        "term": "interfax.ru",
        "rule": "permutation",
        "why": "various permutation",
    }
    hits = [
        FindingHit(
            TEAM,
            CHANNEL,
            f"interfax{i}.com",
            f"www.interfax{i}.com",
            (reason,),
            "ct",
            now + timedelta(minutes=i),
            Sighting("log-a", i, f"www.interfax{i}.com", "Loopback CA", f"{i:x}", now),
        )
        for i in range(3)
    ]
    await api.services.db.run(store.record_hits, hits, now=now)
    status, body = await api.call("GET", "/api/v1/findings", params={"channel": CHANNEL, "limit": "2"})
    assert status == 200 and [f["domain"] for f in body["findings"]] == ["interfax0.com", "interfax1.com"]
    assert body["has_more"] is True
    first = body["findings"][0]
    assert (
        first["certificates"] == 1
        and first["issuer"] == "Loopback CA"
        and first["matches"][0]["term"] == "interfax.ru"
    )
    status, body = await api.call("GET", "/api/v1/findings", params={"cursor": body["next_cursor"]})
    assert (
        status == 200
        and [f["domain"] for f in body["findings"]] == ["interfax2.com"]
        and body["has_more"] is False
    )
    status, body = await api.call(
        "GET", "/api/v1/findings", params={"domain": "interfax1.com", "term": "interfax.ru"}
    )
    assert [f["domain"] for f in body["findings"]] == ["interfax1.com"]
    status, body = await api.call("GET", "/api/v1/findings", params={"cursor": "nope"})
    assert status == 400
