"""Shodan InternetDB: open ports, hostnames, CPEs, tags and vulns of an IP (no key)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.core.errors import SourceError
from bot.monitoring.sources.http import RequestGate, SourceHttpClient
from bot.monitoring.sources.passive_dns import indicator_path, normalise_name

SOURCE = "internetdb"
NO_INFORMATION = "No information available"


@dataclass(frozen=True)
class InternetDbHost:
    ports: frozenset[int]
    hostnames: frozenset[str]
    cpes: frozenset[str]
    tags: frozenset[str]
    vulns: frozenset[str]


def parse_internetdb(payload: Any) -> InternetDbHost:
    """`{"ip","ports":[..],"cpes":[..],"hostnames":[..],"tags":[..],"vulns":[..]}` → host."""
    if not isinstance(payload, dict) or not isinstance(payload.get("ports"), list):
        raise SourceError(SOURCE, "reply is not an InternetDB host (no ports list)")
    ports: set[int] = set()
    for port in payload["ports"]:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise SourceError(SOURCE, f"reply has a bad port: {str(port)[:20]!r}")
        ports.add(port)
    return InternetDbHost(
        ports=frozenset(ports),
        hostnames=_texts(payload, "hostnames", normalise_name),
        cpes=_texts(payload, "cpes", str.strip),
        tags=_texts(payload, "tags", lambda tag: tag.strip().lower()),
        vulns=_texts(payload, "vulns", lambda vuln: vuln.strip().upper()),
    )


def _texts(payload: dict[str, Any], key: str, normalise: Callable[[str], str]) -> frozenset[str]:
    values = payload.get(key, [])
    if values is None:
        return frozenset()
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise SourceError(SOURCE, f"reply has a bad {key} list")
    return frozenset(text for value in values if (text := normalise(value)))


def is_no_information(body: bytes) -> bool:
    """InternetDB's 404 `{"detail":"No information available"}` (not a wrong URL's 404)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(payload, dict) and payload.get("detail") == NO_INFORMATION


class InternetDbClient:
    """`GET {base_url}{ip}`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        gate: RequestGate | None = None,
    ) -> None:
        self._base_url = base_url
        self._http = SourceHttpClient(
            SOURCE, timeout=timeout, headers={"Accept": "application/json"}, clock=clock, gate=gate
        )

    def __repr__(self) -> str:
        return f"InternetDbClient(base_url={self._base_url!r})"

    async def host(self, ip: str) -> InternetDbHost | None:
        """The host, or None when InternetDB has no information on it; raises SourceError."""
        reply = await self._http.get(f"{self._base_url}{indicator_path(ip)}", ok_statuses=(200, 404))
        if reply.status == 404:
            if is_no_information(reply.body):
                return None
            raise SourceError(SOURCE, "HTTP 404", transient=False)
        return parse_internetdb(reply.json(SOURCE))

    async def close(self) -> None:
        await self._http.close()
