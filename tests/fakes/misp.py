"""A MISP instance on loopback, as far as Watchpost reads it: `GET /events/view/{id or uuid}`.

Written from MISP's OpenAPI document (app/webroot/doc/openapi.yaml, "MISP Automation API")
and its controllers' behaviour:

- the API key goes in `Authorization` (no scheme); a missing or wrong key is answered 403
  `{"name": "Authentication failed. …", "message": …, "url": …}`;
- a request that does not ask for JSON (`Accept: application/json`) is treated as a
  browser's: 302 to `/users/login` (why a client must never follow redirects blindly);
- an event the key may not see, or that does not exist, is 404 `{"name": "Invalid event",
  "message": "Invalid event", "url": …}`;
- an event is `{"Event": {…, "Attribute": […], "Object": [{…, "Attribute": […]}], "Tag": […]}}`
  with ids as strings, `to_ids` and `deleted` as booleans (ExtendedEvent in the document).

`FakeMisp` keeps its routes in `routes()` so another fake (sightings, attributes added by
receivers) can subclass it and add its own. Faults: `answer_with` (every request gets that
status), `redirect_to` (every request gets a 302 there). Every request is recorded.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the "
    "Authorization header."
)


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    method: str
    path: str
    headers: Mapping[str, str]


def misp_attribute(
    kind: str,
    value: str,
    *,
    to_ids: bool = True,
    category: str = "Network activity",
    deleted: bool = False,
    comment: str = "",
) -> dict[str, Any]:
    """An attribute as a test writes it; `FakeMisp.add_event` fills in ids and the rest."""
    return {
        "type": kind,
        "value": value,
        "to_ids": to_ids,
        "category": category,
        "deleted": deleted,
        "comment": comment,
    }


def misp_object(name: str, attributes: Iterable[dict[str, Any]], *, deleted: bool = False) -> dict[str, Any]:
    """A MISP object (e.g. `domain-ip`, `url`) holding attributes."""
    return {"name": name, "meta-category": "network", "deleted": deleted, "Attribute": list(attributes)}


@dataclass
class FakeMisp:
    key: str = "misp-automation-key-4b1d8e2f9c7a"
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> {"Event": …}
    seen: list[Seen] = field(default_factory=list)
    answer_with: int | None = None
    redirect_to: str | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/events/view/{event}", self.handle_event_view)]

    async def start(self) -> FakeMisp:
        app = web.Application(middlewares=[self._record, self._authenticate])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- events --------------------------------------------------------------------------

    def add_event(
        self,
        info: str,
        attributes: Iterable[dict[str, Any]] = (),
        objects: Iterable[dict[str, Any]] = (),
        *,
        tags: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Store an event as MISP would give it back; returns its `Event` object."""
        event_id = str(len(self.events) + 1)
        event: dict[str, Any] = {
            "id": event_id,
            "orgc_id": "1",
            "org_id": "1",
            "date": "2026-12-01",
            "threat_level_id": "2",
            "info": info,
            "published": False,
            "uuid": str(uuid.uuid4()),
            "analysis": "1",
            "timestamp": "1764547200",
            "distribution": "1",
            "proposal_email_lock": False,
            "locked": False,
            "publish_timestamp": "0",
            "sharing_group_id": "0",
            "disable_correlation": False,
            "extends_uuid": "",
            "event_creator_email": "analyst@example.org",
            "Org": {"id": "1", "name": "CIRCL", "uuid": str(uuid.uuid4()), "local": True},
            "Orgc": {"id": "1", "name": "CIRCL", "uuid": str(uuid.uuid4()), "local": True},
            "Attribute": [self._attribute(event_id, a, "0") for a in attributes],
            "ShadowAttribute": [],
            "RelatedEvent": [],
            "Galaxy": [],
            "Object": [],
            "EventReport": [],
            "CryptographicKey": [],
            "Tag": [
                {"id": str(n), "name": t, "colour": "#004646", "exportable": True} for n, t in enumerate(tags)
            ],
        }
        for number, misp_obj in enumerate(objects, start=1):
            object_id = str(number)
            event["Object"].append(
                {
                    "id": object_id,
                    "name": misp_obj["name"],
                    "meta-category": misp_obj.get("meta-category", "network"),
                    "description": "",
                    "template_uuid": str(uuid.uuid4()),
                    "template_version": "1",
                    "event_id": event_id,
                    "uuid": str(uuid.uuid4()),
                    "timestamp": "1764547200",
                    "distribution": "5",
                    "sharing_group_id": "0",
                    "comment": "",
                    "deleted": misp_obj.get("deleted", False),
                    "first_seen": None,
                    "last_seen": None,
                    "ObjectReference": [],
                    "Attribute": [self._attribute(event_id, a, object_id) for a in misp_obj["Attribute"]],
                }
            )
        event["attribute_count"] = str(
            len(event["Attribute"]) + sum(len(o["Attribute"]) for o in event["Object"])
        )
        self.events[event_id] = {"Event": event}
        return event

    def _attribute(self, event_id: str, given: Mapping[str, Any], object_id: str) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "type": given["type"],
            "category": given.get("category", "Network activity"),
            "to_ids": given.get("to_ids", True),
            "uuid": str(uuid.uuid4()),
            "event_id": event_id,
            "distribution": "5",
            "timestamp": "1764547200",
            "comment": given.get("comment", ""),
            "sharing_group_id": "0",
            "deleted": given.get("deleted", False),
            "disable_correlation": False,
            "object_id": object_id,
            "object_relation": given.get("object_relation"),
            "first_seen": None,
            "last_seen": None,
            "value": given["value"],
            "Galaxy": [],
            "ShadowAttribute": [],
        }

    def find(self, reference: str) -> dict[str, Any] | None:
        """An event by its id or its uuid, as /events/view takes either."""
        if reference in self.events:
            return self.events[reference]
        return next((e for e in self.events.values() if e["Event"]["uuid"] == reference.lower()), None)

    # --- HTTP ----------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, dict(request.headers)))
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to)
        if self.answer_with is not None:
            return web.json_response(
                {"name": "Internal error", "message": "Internal error", "url": request.path},
                status=self.answer_with,
            )
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Accept", ""):
            raise web.HTTPFound("/users/login")  # a browser: to the login form
        if request.headers.get("Authorization", "") != self.key:
            return web.json_response(
                {"name": AUTH_FAILED, "message": AUTH_FAILED, "url": request.path}, status=403
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def handle_event_view(self, request: web.Request) -> web.Response:
        event = self.find(request.match_info["event"])
        if event is None:
            return web.json_response(
                {"name": "Invalid event", "message": "Invalid event", "url": request.path}, status=404
            )
        return web.json_response(event)
