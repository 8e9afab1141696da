"""A MISP on 127.0.0.1, written from MISP's OpenAPI and its controllers: the REST calls
Watchpost makes as a receiver, with MISP's answers and refusals.

- Every call needs `Authorization: <key>`; otherwise 403 "Authentication failed".
- `GET /events/view/{id|uuid}`: `{"Event": {…, "Attribute": […], "Tag": […]}}`; 404
  "Invalid event." when there is none.
- `POST /events/restSearch` (`tags`): `{"response": [{"Event": …}]}`.
- `POST /events/add` (`{"Event": …}` or the bare event, with `Tag` and `Attribute`): the
  new event.
- `POST /attributes/add/{event id}`: `{"Attribute": …}`; a value the event already holds
  (same type and value) is refused with 403 and `errors.value` "A similar attribute
  already exists for this event.".
- `POST /sightings/add/{attribute id|uuid}` (`source`, `type`): "Sighting added".
- `POST /sightings/restSearch/attribute` (`id`, optional `source`): the sightings, a list
  of `{"Sighting": …}`.

Faults, each taken by the next request whose path starts with its prefix:
`fail_next(status)` answers an error before doing anything (429 with Retry-After);
`hang_next(seconds)` answers too late; `store_then_fail(status)` does the write and then
answers an error; `store_then_hang(seconds)` does the write and answers too late."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web

MISP_KEY = "misp-automation-key-0f8e7d6c5b4a39281706f5e4d3c2b1a0"
SIMILAR = "A similar attribute already exists for this event."
AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the"
    " Authorization header."
)


@dataclass
class Fault:
    prefix: str
    status: int = 200
    delay: float = 0.0
    after_write: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self) -> None:
        """Hold the answer `delay` seconds, or until the test lets it go."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.released.wait(), self.delay)


@dataclass
class FakeMisp:
    key: str = MISP_KEY
    base_url: str = ""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id
    sightings: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path), every one
    refused_similar: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _held: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return self.base_url

    # -- test set-up and inspection ---------------------------------------------------

    def add_event(
        self,
        info: str,
        attributes: list[tuple[str, str]],
        *,
        tags: tuple[str, ...] = (),
        to_ids: bool = False,
    ) -> str:
        """An event as an analyst made it, with (type, value) attributes (marked for
        detection with `to_ids`); returns its uuid."""
        event = self._new_event({"info": info, "Tag": [{"name": t} for t in tags]})
        for misp_type, value in attributes:
            self._new_attribute(
                event, {"type": misp_type, "value": value, "category": "Network activity", "to_ids": to_ids}
            )
        return str(event["uuid"])

    def event_by_uuid(self, event_uuid: str) -> dict[str, Any]:
        return next(e for e in self.events.values() if e["uuid"] == event_uuid)

    def events_tagged(self, tag: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if any(t["name"] == tag for t in e["Tag"])]

    def sightings_of(self, value: str) -> list[dict[str, Any]]:
        ids = {a["id"] for e in self.events.values() for a in e["Attribute"] if a["value"] == value}
        return [s for s in self.sightings if s["attribute_id"] in ids]

    def fail_next(self, status: int, *, times: int = 1, prefix: str = "/") -> None:
        self._faults += [Fault(prefix, status)] * times

    def hang_next(self, seconds: float, *, prefix: str = "/") -> None:
        self._faults.append(Fault(prefix, 200, seconds))

    def store_then_fail(self, status: int = 500, *, prefix: str = "/") -> None:
        self._faults.append(Fault(prefix, status, after_write=True))

    def store_then_hang(self, seconds: float, *, prefix: str = "/") -> None:
        self._faults.append(Fault(prefix, 200, seconds, after_write=True))

    def release(self) -> None:
        """Let every held answer go (to a client that may be gone)."""
        for fault in self._held:
            fault.released.set()

    # -- MISP -------------------------------------------------------------------------

    def _new_event(self, given: dict[str, Any]) -> dict[str, Any]:
        event_id = str(next(self._ids))
        event = {
            "id": event_id,
            "uuid": str(uuid.uuid4()),
            "info": given.get("info", ""),
            "distribution": str(given.get("distribution", "1")),
            "threat_level_id": str(given.get("threat_level_id", "4")),
            "analysis": str(given.get("analysis", "0")),
            "published": False,
            "Tag": [{"name": t["name"]} for t in given.get("Tag") or ()],
            "Attribute": [],
        }
        self.events[event_id] = event
        for attribute in given.get("Attribute") or ():
            self._new_attribute(event, attribute)
        return event

    def _new_attribute(self, event: dict[str, Any], given: dict[str, Any]) -> dict[str, Any] | None:
        """None: MISP's validation refuses a second attribute of one type and value."""
        if any(a["type"] == given["type"] and a["value"] == given["value"] for a in event["Attribute"]):
            return None
        attribute = {
            "id": str(next(self._ids)),
            "uuid": str(uuid.uuid4()),
            "event_id": event["id"],
            "type": given["type"],
            "category": given.get("category", "Other"),
            "value": given["value"],
            "to_ids": bool(given.get("to_ids", False)),
            "comment": given.get("comment", ""),
        }
        event["Attribute"].append(attribute)
        return attribute

    def _event(self, key: str) -> dict[str, Any] | None:
        return self.events.get(key) or next((e for e in self.events.values() if e["uuid"] == key), None)

    def _attribute(self, key: str) -> dict[str, Any] | None:
        for event in self.events.values():
            for attribute in event["Attribute"]:
                if key in (attribute["id"], attribute["uuid"]):
                    return attribute
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((request.method, path))
        if request.headers.get("Authorization") != self.key:
            return _error(403, AUTH_FAILED, path)
        fault = next((f for f in self._faults if path.startswith(f.prefix)), None)
        if fault is not None:
            self._faults.remove(fault)
            self._held.append(fault)
            if not fault.after_write:
                return await _faulty(fault)
        body = await request.json() if request.can_read_body else {}
        answer = self._route(request.method, path, body)
        if fault is not None:
            return await _faulty(fault)
        return answer

    def _route(self, method: str, path: str, body: Any) -> web.Response:
        parts = path.strip("/").split("/")
        if method == "GET" and parts[:2] == ["events", "view"] and len(parts) == 3:
            event = self._event(parts[2])
            return (
                _error(404, "Invalid event.", path) if event is None else web.json_response({"Event": event})
            )
        if method == "POST" and parts == ["events", "restSearch"]:
            tags = set(body.get("tags") or ())
            found = [e for e in self.events.values() if not tags or tags & {t["name"] for t in e["Tag"]}]
            return web.json_response({"response": [{"Event": e} for e in found]})
        if method == "POST" and parts == ["events", "add"]:
            return web.json_response({"Event": self._new_event(body.get("Event", body))})
        if method == "POST" and parts[:2] == ["attributes", "add"] and len(parts) == 3:
            return self._add_attribute(parts[2], body, path)
        if method == "POST" and parts[:2] == ["sightings", "add"] and len(parts) == 3:
            return self._add_sighting(parts[2], body, path)
        if method == "POST" and parts == ["sightings", "restSearch", "attribute"]:
            if "id" not in body:
                return _error(405, "An id must be provided if the context is set.", path)
            found = [
                {"Sighting": s}
                for s in self.sightings
                if s["attribute_id"] == str(body["id"])
                and ("source" not in body or s["source"] == body["source"])
            ]
            return web.json_response(found)
        return _error(404, "Not Found", path)

    def _add_attribute(self, event_key: str, body: dict[str, Any], path: str) -> web.Response:
        event = self._event(event_key)
        if event is None:
            return _error(404, "Invalid event.", path)
        if not body.get("type") or not body.get("value"):
            return web.json_response(
                {
                    "name": "Could not add Attribute",
                    "message": "Could not add Attribute",
                    "url": "/attributes/add",
                    "errors": {"value": ["Please fill in this field"]},
                },
                status=403,
            )
        attribute = self._new_attribute(event, body)
        if attribute is None:
            self.refused_similar += 1
            return web.json_response(
                {
                    "name": "Could not add Attribute",
                    "message": "Could not add Attribute",
                    "url": "/attributes/add",
                    "errors": {"value": [SIMILAR]},
                },
                status=403,
            )
        return web.json_response({"Attribute": attribute})

    def _add_sighting(self, attribute_key: str, body: dict[str, Any], path: str) -> web.Response:
        attribute = self._attribute(attribute_key)
        if attribute is None:
            return web.json_response(
                {"message": "Could not add the Sighting. Reason: No valid attributes found."}
            )
        self.sightings.append(
            {
                "id": str(next(self._ids)),
                "attribute_id": attribute["id"],
                "event_id": attribute["event_id"],
                "type": str(body.get("type", "0")),
                "source": str(body.get("source", "")).strip(),
                "date_sighting": str(body.get("timestamp", "")),
            }
        )
        return web.json_response({"message": "Sighting added"})


def _error(status: int, message: str, path: str) -> web.Response:
    return web.json_response({"name": message, "message": message, "url": path}, status=status)


async def _faulty(fault: Fault) -> web.Response:
    if fault.delay:
        await fault.wait()
    if fault.status == 200:
        return web.json_response({"message": "too late"})
    headers = {"Retry-After": "7"} if fault.status in (429, 503) else {}
    if 300 <= fault.status < 400:
        headers = {"Location": "/trap"}  # must never be followed
    return web.Response(status=fault.status, headers=headers, text=json.dumps({"message": "fault"}))


@pytest_asyncio.fixture
async def misp() -> AsyncIterator[FakeMisp]:
    fake = FakeMisp()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()
