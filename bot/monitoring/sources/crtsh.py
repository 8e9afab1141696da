"""crt.sh: certificates from the CT logs for every name under a domain.

crt.sh is slow and flaky, and the certificates and subdomains datasets read the same
reply in one check: a lookup is memoised per domain for a short TTL (its failure too, so
the second dataset does not wait out the same timeout again), and concurrent lookups of
one domain share a single HTTP request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.errors import SourceError
from bot.monitoring.sources.http import RequestGate, SourceHttpClient
from bot.monitoring.sources.passive_dns import normalise_name

logger = logging.getLogger(__name__)

SOURCE = "crtsh"
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_CN = re.compile(r"(?:^|,)\s*CN\s*=\s*([^,]+)")
_ORG = re.compile(r"(?:^|,)\s*O\s*=\s*(\"[^\"]*\"|[^,]+)")


@dataclass(frozen=True)
class CtCertificate:
    """One certificate (its precertificate merged in), names limited to the queried domain."""

    issuer_name: str
    issuer_ca_id: int | None
    serial: str  # lower-case hex, no separators
    not_before: datetime | None
    not_after: datetime | None
    names: tuple[str, ...]  # sorted; wildcards keep their "*." here
    crtsh_ids: tuple[int, ...]

    @property
    def issuer(self) -> str:
        """The issuer's CN (its O when it has none), for people to read."""
        for pattern in (_CN, _ORG):
            match = pattern.search(self.issuer_name)
            if match:
                return match.group(1).strip().strip('"')
        if self.issuer_name:
            return self.issuer_name
        return f"CA {self.issuer_ca_id}" if self.issuer_ca_id is not None else "unknown CA"

    @property
    def base_names(self) -> frozenset[str]:
        return frozenset(name.removeprefix("*.") for name in self.names)


@dataclass(frozen=True)
class CrtShResult:
    domain: str
    certificates: tuple[CtCertificate, ...]  # sorted by (not_before, serial)
    names: frozenset[str]  # every name under (or equal to) the domain, wildcards reduced to their base
    wildcards: frozenset[str]  # the bases that appeared as "*.<base>"
    skipped: int = 0


def split_names(name_value: str, domain: str) -> list[str]:
    """crt.sh `name_value` → lower-case names under `domain` ("*." kept), others dropped."""
    found: list[str] = []
    for raw in name_value.splitlines():
        name = normalise_name(raw)
        base = name.removeprefix("*.")
        if not _HOSTNAME.fullmatch(base):
            continue  # e-mail identities, IP SANs, stray wildcards
        if base == domain or base.endswith("." + domain):
            found.append(name)
    return found


def parse_crtsh(payload: Any, domain: str) -> CrtShResult:
    """crt.sh JSON array → certificates deduplicated by (issuer, serial).

    A precertificate and its certificate are two rows with one issuer and serial: they
    become one certificate with the union of their names.
    """
    domain = normalise_name(domain)
    if not isinstance(payload, list):
        raise SourceError(SOURCE, "reply is not a JSON array of certificates")
    merged: dict[tuple[str, str], CtCertificate] = {}
    skipped = 0
    for row in payload:
        try:
            cert = _certificate(row, domain)
        except (ValueError, TypeError, KeyError):
            skipped += 1
            continue
        key = (cert.issuer_name or str(cert.issuer_ca_id), cert.serial)
        seen = merged.get(key)
        merged[key] = cert if seen is None else _merge(seen, cert)
    if payload and not merged:
        raise SourceError(SOURCE, f"none of the {len(payload)} rows is a certificate")
    if skipped:
        logger.warning("crtsh: skipped %d unreadable rows for %s", skipped, domain)
    certificates = tuple(
        sorted(
            (cert for cert in merged.values() if cert.names),
            key=lambda cert: (cert.not_before or datetime.min.replace(tzinfo=UTC), cert.serial),
        )
    )
    names = frozenset(name.removeprefix("*.") for cert in certificates for name in cert.names)
    wildcards = frozenset(
        name.removeprefix("*.") for cert in certificates for name in cert.names if name.startswith("*.")
    )
    return CrtShResult(domain, certificates, names, wildcards, skipped)


def _certificate(row: Any, domain: str) -> CtCertificate:
    if not isinstance(row, dict):
        raise TypeError("row is not an object")
    serial = row["serial_number"]
    if not isinstance(serial, str) or not serial.strip():
        raise ValueError("no serial number")
    issuer_name = row.get("issuer_name") or ""
    ca_id = row.get("issuer_ca_id")
    if not isinstance(issuer_name, str):
        raise TypeError("issuer_name must be text")
    if not issuer_name and not isinstance(ca_id, int):
        raise ValueError("no issuer")
    names = set(split_names(_text(row.get("name_value")), domain))
    names.update(split_names(_text(row.get("common_name")), domain))
    crtsh_id = row.get("id")
    return CtCertificate(
        issuer_name=issuer_name.strip(),
        issuer_ca_id=ca_id if isinstance(ca_id, int) and not isinstance(ca_id, bool) else None,
        serial=serial.strip().lower().replace(":", ""),
        not_before=_utc(row.get("not_before")),
        not_after=_utc(row.get("not_after")),
        names=tuple(sorted(names)),
        crtsh_ids=(crtsh_id,) if isinstance(crtsh_id, int) and not isinstance(crtsh_id, bool) else (),
    )


def _merge(first: CtCertificate, second: CtCertificate) -> CtCertificate:
    return CtCertificate(
        issuer_name=first.issuer_name or second.issuer_name,
        issuer_ca_id=first.issuer_ca_id if first.issuer_ca_id is not None else second.issuer_ca_id,
        serial=first.serial,
        not_before=first.not_before or second.not_before,
        not_after=first.not_after or second.not_after,
        names=tuple(sorted(set(first.names) | set(second.names))),
        crtsh_ids=tuple(sorted(set(first.crtsh_ids) | set(second.crtsh_ids))),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _utc(value: object) -> datetime | None:
    """crt.sh times are UTC without a zone."""
    if not isinstance(value, str) or not value.strip():
        return None
    parsed = datetime.fromisoformat(value.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class _Cached:
    expires: float
    result: CrtShResult | None
    error: SourceError | None


class CrtShClient:
    """`GET {base_url}?q=%25.{domain}&output=json&exclude=expired`, memoised for `cache_ttl` s."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        cache_ttl: float = 60.0,
        concurrency: int = 2,
        max_body: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        gate: RequestGate | None = None,
    ) -> None:
        self._base_url = base_url
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._http = SourceHttpClient(
            SOURCE,
            timeout=timeout,
            concurrency=concurrency,
            headers={"Accept": "application/json"},
            max_body=max_body,
            clock=clock,
            gate=gate,
        )
        self._cache: dict[str, _Cached] = {}
        self._inflight: dict[str, asyncio.Task[CrtShResult]] = {}

    def __repr__(self) -> str:
        return f"CrtShClient(base_url={self._base_url!r})"

    async def certificates(self, domain: str) -> CrtShResult:
        """Every unexpired certificate for names under `domain`; raises SourceError."""
        key = normalise_name(domain)
        cached = self._cache.get(key)
        if cached is not None and cached.expires > self._clock():
            if cached.error is not None:
                raise _copy(cached.error)
            assert cached.result is not None
            return cached.result
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        try:
            # Shielded: one caller giving up must not cancel the request the others wait for.
            return await asyncio.shield(task)
        except SourceError as exc:
            raise _copy(exc) from None

    async def _fetch(self, domain: str) -> CrtShResult:
        try:
            reply = await self._http.get(
                self._base_url,
                params={"q": f"%.{domain}", "output": "json", "exclude": "expired"},
            )
            result = parse_crtsh(reply.json(SOURCE), domain)
        except SourceError as exc:
            self._store(domain, _Cached(self._clock() + self._cache_ttl, None, exc))
            raise
        self._store(domain, _Cached(self._clock() + self._cache_ttl, result, None))
        return result

    def _store(self, domain: str, entry: _Cached) -> None:
        if self._cache_ttl <= 0:
            return
        now = self._clock()
        self._cache = {key: value for key, value in self._cache.items() if value.expires > now}
        self._cache[domain] = entry

    def _settle(self, domain: str, task: asyncio.Task[CrtShResult]) -> None:
        if self._inflight.get(domain) is task:
            del self._inflight[domain]
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited is not logged as lost

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await self._http.close()


def _copy(error: SourceError) -> SourceError:
    """A fresh exception per caller: one instance raised twice would chain tracebacks."""
    return SourceError(error.source, error.message, transient=error.transient)
