"""TheHive 5 on 127.0.0.1, written from its API documentation and its AlertSrv: the one
call Watchpost makes, `POST /api/v1/alert`, with TheHive's answers and refusals.

- `Authorization: Bearer <key>`; otherwise 401 `AuthenticationError`.
- The body needs `type`, `source`, `sourceRef`, `title` and `description`, and
  `severity` 1–4 when given; otherwise 400 `AttributeCheckError`.
- (type, source, sourceRef) is unique in the organisation: a second alert with the same
  three is refused with 400 `CreateError` "Alert <type>:<source>:<sourceRef> already exist
  in organisation <org>".
- Two observables of one dataType and data in one alert: 400 `CreateError` "Observable
  already exists".
- Created: 201 with the alert (`_id`, `_type` "Alert", `status` "New", `observableCount`).

Faults as the MISP fake's: `fail_next`, `hang_next`, `store_then_fail`, `store_then_hang`."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web

from tests.fakes.misp_receiver import Fault

THEHIVE_KEY = "thehive-api-key-5a4b3c2d1e0f9a8b7c6d"
ORGANISATION = "watchers"
REQUIRED = ("type", "source", "sourceRef", "title", "description")


@dataclass
class FakeTheHive:
    key: str = THEHIVE_KEY
    base_url: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    duplicates: int = 0
    trap_hits: int = 0  # requests that followed a redirect
    _faults: list[Fault] = field(default_factory=list)
    _held: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4096))

    @property
    def url(self) -> str:
        return self.base_url

    def fail_next(self, status: int, *, times: int = 1) -> None:
        self._faults += [Fault("/", status)] * times

    def hang_next(self, seconds: float) -> None:
        self._faults.append(Fault("/", 200, seconds))

    def store_then_fail(self, status: int = 500) -> None:
        self._faults.append(Fault("/", status, after_write=True))

    def store_then_hang(self, seconds: float) -> None:
        self._faults.append(Fault("/", 200, seconds, after_write=True))

    def release(self) -> None:
        """Let every held answer go (to a client that may be gone)."""
        for fault in self._held:
            fault.released.set()

    async def handle_trap(self, request: web.Request) -> web.Response:
        self.trap_hits += 1
        return web.json_response({}, status=201)

    async def handle_alert(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return _error(401, "AuthenticationError", "Authentication failure")
        fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            self._held.append(fault)
        if fault is not None and not fault.after_write:
            return await _faulty(fault)
        answer = self._create(await request.json())
        if fault is not None:
            return await _faulty(fault)
        return answer

    def _create(self, body: Any) -> web.Response:
        if not isinstance(body, dict):
            return _error(400, "BadRequestError", "Invalid json")
        missing = [name for name in REQUIRED if not isinstance(body.get(name), str) or not body[name]]
        if missing:
            return _error(400, "AttributeCheckError", f"Attribute {missing[0]} is missing")
        severity = body.get("severity", 2)
        if not isinstance(severity, int) or not 1 <= severity <= 4:
            return _error(400, "AttributeCheckError", "Invalid severity")
        key = (body["type"], body["source"], body["sourceRef"])
        if any((a["type"], a["source"], a["sourceRef"]) == key for a in self.alerts):
            self.duplicates += 1
            return _error(
                400, "CreateError", f"Alert {':'.join(key)} already exist in organisation {ORGANISATION}"
            )
        observables = body.get("observables") or []
        pairs = [(o.get("dataType"), o.get("data")) for o in observables]
        if len(set(pairs)) != len(pairs):
            return _error(400, "CreateError", "Observable already exists")
        alert = {
            "_id": f"~{next(self._ids)}",
            "_type": "Alert",
            **{name: body[name] for name in REQUIRED},
            "severity": severity,
            "tags": list(body.get("tags") or []),
            "observables": observables,
            "observableCount": len(observables),
            "status": "New",
        }
        self.alerts.append(alert)
        return web.json_response({k: v for k, v in alert.items() if k != "observables"}, status=201)


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"type": kind, "message": message}, status=status)


async def _faulty(fault: Fault) -> web.Response:
    if fault.delay:
        await fault.wait()
    if fault.status == 200:
        return web.json_response({}, status=201)
    headers = {"Retry-After": "7"} if fault.status in (429, 503) else {}
    if 300 <= fault.status < 400:
        headers = {"Location": "/trap"}  # must never be followed
    return web.json_response(
        {"type": "InternalError", "message": "fault"}, status=fault.status, headers=headers
    )


@pytest_asyncio.fixture
async def thehive() -> AsyncIterator[FakeTheHive]:
    fake = FakeTheHive()
    app = web.Application()
    app.router.add_post("/api/v1/alert", fake.handle_alert)
    app.router.add_route("*", "/trap", fake.handle_trap)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()
