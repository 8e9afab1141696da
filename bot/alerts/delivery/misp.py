"""Alerts into MISP: per delivery, the alert's new values added as attributes of the
event the monitor came from (each with a comment naming the alert), then one sighting on
the attribute of the monitored value. A monitor not from MISP gets an event of its own,
found again for later alerts by the tag Watchpost puts on it
(`watchpost:monitor="<team>/<channel>/<indicator>"`).

Talked to with aiohttp against MISP's REST API rather than PyMISP: PyMISP is synchronous
(requests: it would need a thread per call), follows redirects and reads proxies from the
environment unless told otherwise; the five calls below are plain JSON, and aiohttp keeps
every receiver on one HTTP policy (bot/alerts/delivery/receivers.py).

Exactly once: a sighting carries no idempotency key, so a delivery that may have arrived
is looked for first — the sighting's source is `watchpost:<idempotency key>`, searched with
/sightings/restSearch. The sighting is the last write, so finding it means everything
before it arrived. Attributes are safe to send again: MISP refuses a second one of the same
value with "A similar attribute already exists for this event", which means delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from bot.alerts.delivery.receivers import HttpAnswer, ReceiverError, ReceiverHttp, value_kind
from bot.alerts.store.receivers import MISP, PendingDelivery

USER_AGENT = "Watchpost-MISP/1"
SIMILAR = "similar attribute already exists"
# Watchpost's value kinds as MISP attribute types and categories.
ATTRIBUTE_TYPES = {
    "ip": ("ip-dst", "Network activity"),
    "domain": ("domain", "Network activity"),
    "url": ("url", "Network activity"),
    "other": ("text", "Other"),
}


def monitor_tag(delivery: PendingDelivery) -> str:
    """The tag of the event Watchpost keeps for a monitor not from MISP (a machine tag)."""
    where = f"{delivery.team_id or '-'}/{delivery.channel_id or '-'}/{delivery.alert.indicator}"
    return f'watchpost:monitor="{where}"'


def sighting_source(delivery: PendingDelivery) -> str:
    return f"watchpost:{delivery.idempotency_key}"


def new_values(delivery: PendingDelivery) -> Iterator[tuple[str, str, str]]:
    """(value, kind, what) for each value the alert saw appear, once each."""
    seen: set[str] = set()
    for change in delivery.alert.changes:
        value = change.new_value
        if value is None or value in seen or value == delivery.alert.indicator:
            continue
        seen.add(value)
        yield value, value_kind(value), f"{change.dataset} {change.field}"


def _holds(attribute: dict[str, Any], value: str) -> bool:
    """Whether a MISP attribute is of `value` (composite `domain|ip` values count)."""
    held = str(attribute.get("value", ""))
    return held == value or value in held.split("|")


class MispReceiver:
    name = MISP

    def __init__(
        self, url: str, key: str, *, verify_tls: bool = True, http: ReceiverHttp | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.http = http if http is not None else ReceiverHttp(verify_tls=verify_tls)
        self._headers = {
            "Authorization": key,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        # One event per monitor: two alerts of one monitor must not both create it.
        self._creating: dict[str, asyncio.Lock] = {}

    async def send(self, delivery: PendingDelivery) -> None:
        event = await self._event(delivery, create=True)
        assert event is not None
        attribute = await self._monitored_attribute(event, delivery)
        comment = (
            f"Watchpost alert {delivery.alert.id} ({delivery.alert.indicator}, "
            f"GET /api/v1/alerts/{delivery.alert.id}), delivery {delivery.idempotency_key}"
        )
        for value, kind, what in new_values(delivery):
            await self._add_attribute(event, value, kind, f"{what}: {comment}")
        await self._call(
            "POST",
            f"/sightings/add/{attribute['id']}",
            {"source": sighting_source(delivery), "type": "0"},
            what="MISP sighting",
        )

    async def already_delivered(self, delivery: PendingDelivery) -> bool:
        event = await self._event(delivery, create=False)
        if event is None:
            return False
        attribute = next(
            (a for a in event.get("Attribute") or () if _holds(a, delivery.alert.indicator)), None
        )
        if attribute is None:
            return False
        source = sighting_source(delivery)
        found = await self._call(
            "POST",
            "/sightings/restSearch/attribute",
            {"returnFormat": "json", "id": attribute["id"], "source": source},
            what="MISP sighting search",
        )
        sightings = found if isinstance(found, list) else (found or {}).get("response") or []
        return any((item.get("Sighting") or item).get("source") == source for item in sightings)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _event(self, delivery: PendingDelivery, *, create: bool) -> dict[str, Any] | None:
        """The event with its attributes: the one the monitor came from, or its own (made
        when `create` and missing)."""
        if delivery.origin_event:
            body = await self._call(
                "GET", f"/events/view/{delivery.origin_event}", None, what="MISP event of the monitor"
            )
            return dict(body.get("Event") or {})
        tag = monitor_tag(delivery)
        lock = self._creating.setdefault(tag, asyncio.Lock())
        async with lock:
            found = await self._call(
                "POST",
                "/events/restSearch",
                {"returnFormat": "json", "tags": [tag]},
                what="MISP event search",
            )
            events = [item.get("Event") or {} for item in (found or {}).get("response") or ()]
            if events:
                return dict(min(events, key=lambda e: int(e.get("id") or 0)))
            if not create:
                return None
            made = await self._call(
                "POST", "/events/add", {"Event": own_event(delivery, tag)}, what="MISP event"
            )
            return dict(made.get("Event") or {})

    async def _monitored_attribute(self, event: dict[str, Any], delivery: PendingDelivery) -> dict[str, Any]:
        """The attribute of the monitored value in the event (added when it is not there)."""
        indicator = delivery.alert.indicator
        for attribute in event.get("Attribute") or ():
            if _holds(attribute, indicator):
                return dict(attribute)
        comment = f"monitored by Watchpost in {delivery.channel_id or 'every channel'}"
        await self._add_attribute(event, indicator, value_kind(indicator), comment)
        again = await self._call("GET", f"/events/view/{event['uuid']}", None, what="MISP event")
        for attribute in (again.get("Event") or {}).get("Attribute") or ():
            if _holds(attribute, indicator):
                return dict(attribute)
        raise ReceiverError(f"MISP event {event.get('uuid')} holds no attribute of the monitored value")

    async def _add_attribute(self, event: dict[str, Any], value: str, kind: str, comment: str) -> None:
        misp_type, category = ATTRIBUTE_TYPES[kind]
        body = {"type": misp_type, "category": category, "value": value, "to_ids": False, "comment": comment}
        answer = await self._request("POST", f"/attributes/add/{event['id']}", body)
        if answer.status == 403 and SIMILAR in answer.body.decode(errors="replace").lower():
            return  # already there: an earlier attempt (or someone) added it
        if not 200 <= answer.status < 300:
            raise answer.error("MISP attribute")

    async def _call(self, method: str, path: str, body: Any, *, what: str) -> Any:
        answer = await self._request(method, path, body)
        if not 200 <= answer.status < 300:
            raise answer.error(what)
        parsed = answer.json()
        if parsed is None:
            raise ReceiverError(f"{what}: MISP answered something other than JSON")
        return parsed

    async def _request(self, method: str, path: str, body: Any) -> HttpAnswer:
        return await self.http.request(method, self.url + path, headers=self._headers, json_body=body)


def own_event(delivery: PendingDelivery, tag: str) -> dict[str, Any]:
    """A new event for a monitor not from MISP: its tag, and the monitored value."""
    indicator = delivery.alert.indicator
    misp_type, category = ATTRIBUTE_TYPES[value_kind(indicator)]
    return {
        "info": f"Watchpost: {indicator} monitored in {delivery.channel_id or 'every channel'}",
        "distribution": "0",
        "threat_level_id": "4",
        "analysis": "1",
        "Tag": [{"name": tag}],
        "Attribute": [
            {
                "type": misp_type,
                "category": category,
                "value": indicator,
                "to_ids": False,
                "comment": "the value Watchpost monitors",
            }
        ],
    }
