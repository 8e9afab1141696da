"""One real aiohttp server on 127.0.0.1 that speaks every HTTP source's documented format.

Routes (each source's base URL is `server.url(route)`):
  mnemonic    GET /mnemonic/pdns/v3/{indicator}?offset=&limit=   JSON, optional Argus-API-Key
  circl       GET /circl/pdns/query/{indicator}                   COF NDJSON, HTTP Basic auth
  virustotal  GET /virustotal/api/v3/{ip_addresses|domains}/{x}/resolutions?limit=&cursor=
              JSON, x-apikey required
  crtsh       GET /crtsh/?q=%25.{domain}&output=json&exclude=expired   JSON array
  internetdb  GET /internetdb/{ip}                                JSON, 404 "No information available"
  rdap        GET /rdap/ip/{ip}                                   RFC 9083 ip network JSON, 404 unknown
  rdapdns     GET /rdapdns/dns.json                               RFC 9224 bootstrap from `rdap_tlds`
              GET /rdapdns/registry/{registry}/domain/{name}      a registry's domain object, 404 unknown
              GET /rdapdns/registrar/{registrar}/domain/{name}    a registrar's domain object, 404 unknown

The data each route serves is a plain attribute to edit (`server.mnemonic_rows[...]`);
`server.inject(route, fault)` makes the next replies of one route fail (500, 404, 429
with Retry-After, malformed JSON, empty body, a hang past the client's timeout, any
status or body), for every request or, with `only=`, for requests about one indicator
(its path or query holds that text); `server.requests` records every request (path,
query, headers).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web

ROUTES = ("mnemonic", "circl", "virustotal", "crtsh", "internetdb", "rdap", "rdapdns")
FAULTS = ("500", "404", "429", "malformed", "empty", "hang", "status", "body")

MNEMONIC_KEY = "mnemonic-key-4f1c9e0d"
CIRCL_USER = "analyst"
CIRCL_PASSWORD = "circl-pass-8b2d71aa"
VIRUSTOTAL_KEY = "vt-key-1a7e55c3"

# 2024-01-01, 2024-02-01, 2024-03-01 00:00:00 UTC
JAN, FEB, MAR = 1704067200, 1706745600, 1709251200


def _mnemonic_row(query: str, answer: str, rrtype: str, first: int, last: int) -> dict[str, Any]:
    return {
        "query": query,
        "answer": answer,
        "rrtype": rrtype,
        "rrclass": "in",
        "firstSeenTimestamp": first * 1000,
        "lastSeenTimestamp": last * 1000,
        "times": 42,
        "maxTtl": 300,
        "minTtl": 60,
        "tlp": "white",
    }


MNEMONIC_ROWS: dict[str, list[dict[str, Any]]] = {
    "98.126.38.107": [
        _mnemonic_row("evil-example.com.", "98.126.38.107", "a", JAN, FEB),
        _mnemonic_row("Login.Evil-Example.COM.", "98.126.38.107", "a", FEB, MAR),
    ],
    "evil-example.com": [
        _mnemonic_row("evil-example.com.", "98.126.38.107", "a", JAN, FEB),
        _mnemonic_row("evil-example.com.", "2001:DB8:0:0::1", "aaaa", FEB, MAR),
        _mnemonic_row("evil-example.com.", "NS1.Bad-DNS.net.", "ns", JAN, MAR),
    ],
}

CIRCL_LINES: dict[str, list[str]] = {
    "98.126.38.107": [
        json.dumps(
            {
                "count": 5,
                "time_first": JAN,
                "rrtype": "A",
                "rrname": "evil-example.com.",
                "rdata": "98.126.38.107",
                "time_last": FEB,
            }
        ),
        # Numbers as strings, rdata as a list: only the element that is the queried IP matches.
        json.dumps(
            {
                "count": "3",
                "time_first": str(FEB),
                "rrtype": "a",
                "rrname": "Cdn.Evil-Example.com",
                "rdata": ["98.126.38.107", "98.126.38.108"],
                "time_last": str(MAR),
            }
        ),
        json.dumps(
            {"time_first": JAN, "rrtype": "A", "rrname": "other.test", "rdata": "192.0.2.1", "time_last": FEB}
        ),
        "this line is not JSON",
        json.dumps(["a", "list", "is", "not", "an", "object"]),
    ],
    "evil-example.com": [
        json.dumps(
            {
                "time_first": JAN,
                "rrtype": "NS",
                "rrname": "evil-example.com",
                "rdata": "NS1.Bad-DNS.net.",
                "time_last": MAR,
                "bailiwick": "com",
            }
        ),
        # Matches on rdata, not rrname.
        json.dumps(
            {
                "time_first": FEB,
                "rrtype": "CNAME",
                "rrname": "www.evil-example.com.",
                "rdata": "evil-example.com.",
                "time_last": MAR,
            }
        ),
    ],
}


def _vt_resolution(date: int, host: str, ip: str) -> dict[str, Any]:
    return {
        "attributes": {
            "date": date,
            "host_name": host,
            "ip_address": ip,
            "resolver": "8.8.8.8",
            "host_name_last_analysis_stats": {"harmless": 60, "malicious": 2},
        },
        "id": f"{ip}{host}",
        "type": "resolution",
    }


VIRUSTOTAL_RESOLUTIONS: dict[str, list[dict[str, Any]]] = {
    "98.126.38.107": [
        _vt_resolution(MAR, "Evil-Example.com", "98.126.38.107"),
        _vt_resolution(FEB, "login.evil-example.com", "98.126.38.107"),
    ],
    "evil-example.com": [
        _vt_resolution(MAR, "evil-example.com", "98.126.38.107"),
        _vt_resolution(FEB, "evil-example.com", "2001:0db8::0001"),
    ],
}


def _crtsh_row(
    crtsh_id: int,
    issuer: str,
    ca_id: int,
    names: str,
    serial: str,
    not_before: str,
    not_after: str,
    common_name: str = "",
) -> dict[str, Any]:
    return {
        "issuer_ca_id": ca_id,
        "issuer_name": issuer,
        "common_name": common_name or names.split("\n")[0],
        "name_value": names,
        "id": crtsh_id,
        "entry_timestamp": not_before + ".123",
        "not_before": not_before,
        "not_after": not_after,
        "serial_number": serial,
        "result_count": 2,
    }


LETS_ENCRYPT_R3 = "C=US, O=Let's Encrypt, CN=R3"
GOOGLE_WR1 = "C=US, O=Google Trust Services, CN=WR1"

CRTSH_ROWS: dict[str, list[dict[str, Any]]] = {
    "evil-example.com": [
        # Precertificate and certificate: the same issuer and serial, listed twice.
        _crtsh_row(
            11111,
            LETS_ENCRYPT_R3,
            183267,
            "*.evil-example.com\nevil-example.com",
            "04a1b2c3d4e5f6",
            "2024-01-01T00:00:00",
            "2024-03-31T00:00:00",
            "evil-example.com",
        ),
        _crtsh_row(
            11112,
            LETS_ENCRYPT_R3,
            183267,
            "*.evil-example.com\nevil-example.com",
            "04a1b2c3d4e5f6",
            "2024-01-01T00:00:00",
            "2024-03-31T00:00:00",
            "evil-example.com",
        ),
        _crtsh_row(
            22222,
            GOOGLE_WR1,
            1,
            "login.evil-example.com\nMail.Evil-Example.com.\nunrelated.org\nadmin@evil-example.com",
            "0A0B0C",
            "2024-02-10T12:00:00",
            "2024-05-10T12:00:00",
        ),
        _crtsh_row(
            33333,
            LETS_ENCRYPT_R3,
            183267,
            "*.api.evil-example.com",
            "ff01",
            "2024-03-01T08:30:00",
            "2024-05-30T08:30:00",
        ),
    ],
}

INTERNETDB_HOSTS: dict[str, dict[str, Any]] = {
    "98.126.38.107": {
        "cpes": ["cpe:/a:nginx:nginx", "cpe:/o:canonical:ubuntu_linux"],
        "hostnames": ["Evil-Example.com."],
        "ip": "98.126.38.107",
        "ports": [443, 22, 80],
        "tags": ["Self-Signed"],
        "vulns": ["cve-2023-44487"],
    },
}


@dataclass(frozen=True)
class RecordedRequest:
    route: str
    method: str
    path: str
    query: dict[str, str]  # decoded
    raw_query: str  # as sent, still percent-encoded
    headers: dict[str, str]  # names lower-case
    at: float  # the server loop's monotonic time


@dataclass
class Fault:
    kind: str
    status: int = 500
    body: bytes = b""
    content_type: str = "application/json"
    retry_after: str = "30"
    remaining: int | None = None  # None: until cleared
    only: str | None = None  # None: every request of the route; else those whose path or query holds it


@dataclass
class FakeHttpSources:
    mnemonic_rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: copy.deepcopy(MNEMONIC_ROWS)
    )
    circl_lines: dict[str, list[str]] = field(default_factory=lambda: copy.deepcopy(CIRCL_LINES))
    virustotal_resolutions: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: copy.deepcopy(VIRUSTOTAL_RESOLUTIONS)
    )
    crtsh_rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: copy.deepcopy(CRTSH_ROWS))
    internetdb_hosts: dict[str, dict[str, Any]] = field(
        default_factory=lambda: copy.deepcopy(INTERNETDB_HOSTS)
    )
    # RFC 9083 ip network objects by IP (see tests.fakes.whois_server.ip_network_document).
    rdap_networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # RDAP for domains: TLD -> registry key (the bootstrap file), and domain objects served
    # by (registry key, name) and (registrar key, name); see tests/fakes/rdap_documents.py.
    rdap_tlds: dict[str, str] = field(default_factory=dict)
    rdap_registry_domains: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rdap_registrar_domains: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Seconds every reply of a route waits before it is sent (to overlap concurrent requests).
    delays: dict[str, float] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    root: str = ""
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._released.set()  # let hanging handlers finish
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls -----------------------------------------------------------------

    def url(self, route: str) -> str:
        return {
            "mnemonic": f"{self.root}/mnemonic/pdns/v3/",
            "circl": f"{self.root}/circl/pdns/query/",
            "virustotal": f"{self.root}/virustotal/api/v3/",
            "crtsh": f"{self.root}/crtsh/",
            "internetdb": f"{self.root}/internetdb/",
            "rdap": f"{self.root}/rdap/",
            "rdapdns": f"{self.root}/rdapdns/",
        }[route]

    def registry_url(self, registry: str) -> str:
        return f"{self.root}/rdapdns/registry/{registry}/"

    def registrar_url(self, registrar: str, name: str) -> str:
        """Where a registry's `related` link for `name` points."""
        return f"{self.root}/rdapdns/registrar/{registrar}/domain/{name}"

    def inject(
        self,
        route: str,
        kind: str,
        *,
        times: int | None = None,
        status: int | None = None,
        body: bytes | str = b"",
        content_type: str = "application/json",
        retry_after: str = "30",
        only: str | None = None,
    ) -> None:
        """Make the next `times` replies of `route` (all, when None) fail as `kind`; with
        `only`, just the replies about that indicator (another fault of the route stays).

        `kind`: one of FAULTS; "status" sends `status` with a JSON error body, "body" sends
        `body` with `status` (200 by default).
        """
        if route not in ROUTES or kind not in FAULTS:
            raise ValueError(f"unknown route or fault: {route!r}, {kind!r}")
        raw = body.encode() if isinstance(body, str) else body
        default_status = {"500": 500, "404": 404, "429": 429, "status": 500}.get(kind, 200)
        fault = Fault(
            kind, status or default_status, raw, content_type, retry_after, remaining=times, only=only
        )
        kept = [f for f in self.faults.get(route, []) if f.only != only]
        # The most specific fault answers: one indicator's before the whole route's.
        self.faults[route] = sorted([*kept, fault], key=lambda f: f.only is None)

    def clear(self, route: str | None = None) -> None:
        if route is None:
            self.faults.clear()
        else:
            self.faults.pop(route, None)

    def requests_for(self, route: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.route == route]

    # -- serving -----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.path.strip("/").split("/", 1)[0]
        self.requests.append(
            RecordedRequest(
                route=route,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                raw_query=request.raw_path.partition("?")[2],
                headers={name.lower(): value for name, value in request.headers.items()},
                at=asyncio.get_running_loop().time(),
            )
        )
        if self.delays.get(route):
            await asyncio.sleep(self.delays[route])
        about = request.path_qs
        fault = next((f for f in self.faults.get(route, []) if f.only is None or f.only in about), None)
        if fault is not None:
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults[route].remove(fault)
            return await self._faulty(fault)
        response: web.StreamResponse = await handler(request)
        return response

    async def _faulty(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "hang":
            try:
                await asyncio.wait_for(self._released.wait(), timeout=30)
            except TimeoutError:
                pass
            return web.Response(status=200, body=b"")
        if fault.kind == "429":
            return web.json_response(
                {"error": {"code": "QuotaExceededError", "message": "slow down"}},
                status=429,
                headers={"Retry-After": fault.retry_after},
            )
        if fault.kind == "malformed":
            return web.Response(
                status=200, body=b'{"data": [{"query": "trunc', content_type="application/json"
            )
        if fault.kind == "empty":
            return web.Response(status=200, body=b"", content_type="application/json")
        if fault.kind == "body":
            return web.Response(status=fault.status, body=fault.body, content_type=fault.content_type)
        if fault.kind == "404":
            return web.Response(status=404, text="404: Not Found")
        return web.json_response({"responseCode": fault.status, "error": "injected"}, status=fault.status)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        route, _, rest = request.path.strip("/").partition("/")
        handlers = {
            "mnemonic": self._mnemonic,
            "circl": self._circl,
            "virustotal": self._virustotal,
            "crtsh": self._crtsh,
            "internetdb": self._internetdb,
            "rdap": self._rdap,
            "rdapdns": self._rdapdns,
        }
        if route not in handlers:
            return web.Response(status=404, text="404: Not Found")
        return await handlers[route](request, rest)

    async def _mnemonic(self, request: web.Request, rest: str) -> web.StreamResponse:
        prefix = "pdns/v3/"
        if not rest.startswith(prefix):
            return web.Response(status=404, text="404: Not Found")
        key = request.headers.get("Argus-API-Key")
        if key is not None and key != MNEMONIC_KEY:
            body = {"responseCode": 401, "messages": [{"message": "Invalid API key", "type": "ACTION_ERROR"}]}
            return web.json_response(body, status=401)
        rows = self.mnemonic_rows.get(rest[len(prefix) :], [])
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "25"))
        page = rows[offset : offset + limit]
        return web.json_response(
            {
                "responseCode": 200,
                "limit": limit,
                "offset": offset,
                "count": len(rows),
                "metaData": {},
                "messages": [],
                "data": page,
                "size": len(page),
            }
        )

    async def _circl(self, request: web.Request, rest: str) -> web.StreamResponse:
        prefix = "pdns/query/"
        expected = "Basic " + base64.b64encode(f"{CIRCL_USER}:{CIRCL_PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(
                status=401, text="Unauthorized", headers={"WWW-Authenticate": 'Basic realm="pdns"'}
            )
        if not rest.startswith(prefix):
            return web.Response(status=404, text="404: Not Found")
        lines = self.circl_lines.get(rest[len(prefix) :], [])
        body = "".join(line + "\n" for line in lines)
        return web.Response(status=200, text=body, content_type="application/x-ndjson")

    async def _virustotal(self, request: web.Request, rest: str) -> web.StreamResponse:
        if request.headers.get("x-apikey") != VIRUSTOTAL_KEY:
            error = {"code": "WrongCredentialsError", "message": "Wrong API key"}
            return web.json_response({"error": error}, status=401)
        parts = rest.split("/")
        if len(parts) != 5 or parts[:2] != ["api", "v3"] or parts[2] not in ("ip_addresses", "domains"):
            return web.Response(status=404, text="404: Not Found")
        if parts[4] != "resolutions":
            return web.Response(status=404, text="404: Not Found")
        indicator = parts[3]
        if indicator not in self.virustotal_resolutions:
            error = {"code": "NotFoundError", "message": f'Resource "{indicator}" not found'}
            return web.json_response({"error": error}, status=404)
        rows = self.virustotal_resolutions[indicator]
        limit = int(request.query.get("limit", "10"))
        start = int(request.query.get("cursor", "0") or "0")
        page = rows[start : start + limit]
        meta: dict[str, Any] = {"count": len(rows)}
        if start + limit < len(rows):
            meta["cursor"] = str(start + limit)
        return web.json_response({"data": page, "meta": meta, "links": {"self": str(request.url)}})

    async def _crtsh(self, request: web.Request, rest: str) -> web.StreamResponse:
        query = request.query.get("q", "")
        if rest or request.query.get("output") != "json" or not query.startswith("%."):
            return web.Response(status=200, text="<html>crt.sh search page</html>", content_type="text/html")
        return web.json_response(self.crtsh_rows.get(query[2:].lower(), []))

    async def _rdap(self, request: web.Request, rest: str) -> web.StreamResponse:
        kind, _, ip = rest.partition("/")
        network = self.rdap_networks.get(ip) if kind == "ip" else None
        if network is None:
            return web.json_response({"errorCode": 404, "title": "Not Found"}, status=404)
        return web.json_response(network, content_type="application/rdap+json")

    async def _rdapdns(self, request: web.Request, rest: str) -> web.StreamResponse:
        if rest == "dns.json":
            by_registry: dict[str, list[str]] = {}
            for tld, registry in sorted(self.rdap_tlds.items()):
                by_registry.setdefault(registry, []).append(tld)
            services = [[tlds, [self.registry_url(registry)]] for registry, tlds in by_registry.items()]
            bootstrap = {
                "description": "RDAP bootstrap file for Domain Name System registrations",
                "publication": "2025-11-04T19:00:01Z",
                "services": services,
                "version": "1.0",
            }
            return web.json_response(bootstrap)
        parts = rest.split("/")
        if len(parts) == 4 and parts[0] in ("registry", "registrar") and parts[2] == "domain":
            table = self.rdap_registry_domains if parts[0] == "registry" else self.rdap_registrar_domains
            document = table.get((parts[1], parts[3].lower()))
            if document is not None:
                return web.json_response(document, content_type="application/rdap+json")
        error = {"errorCode": 404, "title": "Not Found", "description": ["The object does not exist."]}
        return web.json_response(error, status=404, content_type="application/rdap+json")

    async def _internetdb(self, request: web.Request, rest: str) -> web.StreamResponse:
        host = self.internetdb_hosts.get(rest)
        if host is None:
            return web.json_response({"detail": "No information available"}, status=404)
        return web.json_response(host)


@pytest_asyncio.fixture
async def http_sources() -> AsyncIterator[FakeHttpSources]:
    """The fake HTTP sources, listening on 127.0.0.1 for the length of one test."""
    server = FakeHttpSources()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class FakeClock:
    """A monotonic clock that moves only when told; `sleep` moves it instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
