"""RDAP (RFC 9083) for IP networks: who holds the network an IP is in.

The default base, rdap.org, answers with a redirect to the regional registry, and
SourceHttpClient follows none, so this client follows up to three itself: only to
https URLs or to the base URL's own host:port, and never to a private or loopback
IP literal unless the base URL is itself on loopback (as in tests). Host names are
resolved to public addresses only (PublicOnlyResolver), so no redirect reaches the
bot's own network, whatever name it uses.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from aiohttp.abc import AbstractResolver

from bot.core.errors import SourceError
from bot.core.observations import Fact
from bot.monitoring.sources.http import HttpReply, PublicOnlyResolver, RequestGate, SourceHttpClient

SOURCE = "rdap"
MAX_REDIRECTS = 3
SINGLE_VALUED_FIELDS = frozenset({"network_name", "handle", "org", "country"})
MULTI_VALUED_FIELDS = frozenset({"cidr"})
FIELDS = SINGLE_VALUED_FIELDS | MULTI_VALUED_FIELDS

_REDIRECTS = (301, 302, 303, 307, 308)


class RdapClient:
    """IP network lookups against an RDAP base URL (`{base}ip/{ip}`)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 20.0,
        resolver: AbstractResolver | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        # Redirect targets are named by the redirector's answers: resolved to public
        # addresses only (the base URL's own host excepted: the operator chose it).
        trusted = [urlsplit(self._base).hostname or ""]
        self._http = SourceHttpClient(
            SOURCE,
            timeout=timeout,
            max_body=4 * 1024 * 1024,
            resolver=PublicOnlyResolver(trusted, resolver),
            gate=gate,
        )

    async def network_facts(self, ip: str) -> list[Fact]:
        """Facts about the network holding `ip`; SourceError on any failure or no record."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise SourceError(SOURCE, f"not an IP address: {ip!r}", transient=False) from None
        reply = await self._get(f"{self._base}ip/{address}")
        return network_facts(reply.json(SOURCE))

    async def close(self) -> None:
        await self._http.close()

    async def _get(self, url: str) -> HttpReply:
        for _ in range(MAX_REDIRECTS + 1):
            reply = await self._http.get(url, ok_statuses=(200, 404, *_REDIRECTS))
            if reply.status == 404:
                raise SourceError(SOURCE, "no RDAP record", transient=False)
            if reply.status not in _REDIRECTS:
                return reply
            target = urljoin(url, reply.location)
            if not reply.location or not redirect_allowed(self._base, target):
                raise SourceError(SOURCE, f"refused redirect to {_host_of(target)!r}", transient=False)
            url = target
        raise SourceError(SOURCE, f"more than {MAX_REDIRECTS} redirects")


def redirect_allowed(base_url: str, target: str) -> bool:
    """May a redirect from an RDAP lookup under `base_url` go to `target`?"""
    base, to = urlsplit(base_url), urlsplit(target)
    if to.scheme not in ("http", "https") or not to.hostname:
        return False
    same_host = (base.hostname, base.port) == (to.hostname, to.port)
    if to.scheme != "https" and not same_host:
        return False
    if _is_internal_literal(to.hostname) and not same_host:
        return _is_loopback(base.hostname)
    return True


def network_facts(document: Any) -> list[Fact]:
    """An RFC 9083 ip network object -> facts (pure)."""
    if not _is_ip_network(document):
        raise SourceError(SOURCE, "reply is not an RDAP ip network object", transient=False)
    facts: list[Fact] = []
    for field_name, key in (("network_name", "name"), ("handle", "handle"), ("country", "country")):
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip().upper() if field_name == "country" else value.strip()
            facts.append(Fact(field_name, text, SOURCE))
    facts.extend(Fact("cidr", cidr, SOURCE) for cidr in _cidrs(document))
    org = _org(document.get("entities"))
    if org:
        facts.append(Fact("org", org, SOURCE))
    return facts


def _is_ip_network(document: Any) -> bool:
    """An ip network object; older servers leave `objectClassName` out (it arrived late in
    the drafts), so an object with a start and end address and no other class is one too."""
    if not isinstance(document, dict):
        return False
    kind = document.get("objectClassName")
    if kind is not None:
        return bool(kind == "ip network")
    return isinstance(document.get("startAddress"), str) and isinstance(document.get("endAddress"), str)


def plain_address(text: str) -> str:
    """ARIN's legacy zero-padded dotted quads (`074.125.000.000`) as addresses: each
    octet's leading zeros dropped (Python refuses them, since they read as octal elsewhere)."""
    text = text.strip()
    if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", text):
        return ".".join(str(int(octet)) for octet in text.split("."))
    return text


def _cidrs(document: dict[str, Any]) -> list[str]:
    found: set[str] = set()
    cidrs = document.get("cidr0_cidrs")
    for item in cidrs if isinstance(cidrs, list) else []:
        if not isinstance(item, dict):
            continue
        prefix = item.get("v4prefix") or item.get("v6prefix")
        prefix = plain_address(prefix) if isinstance(prefix, str) else prefix
        try:
            found.add(str(ipaddress.ip_network(f"{prefix}/{int(item['length'])}", strict=False)))
        except (KeyError, TypeError, ValueError):
            continue
    if found:
        return sorted(found)
    start, end = document.get("startAddress"), document.get("endAddress")
    if not isinstance(start, str) or not isinstance(end, str):
        return []
    try:
        first, last = ipaddress.ip_address(plain_address(start)), ipaddress.ip_address(plain_address(end))
        return [str(net) for net in ipaddress.summarize_address_range(first, last)]
    except (TypeError, ValueError):
        return []  # a range that is no range is no fact (never its text as a "CIDR")


def _org(entities: Any) -> str | None:
    """The registrant's vCard name, else the administrative contact's."""
    if not isinstance(entities, list):
        return None
    for role in ("registrant", "administrative"):
        for entity in entities:
            if isinstance(entity, dict) and role in (entity.get("roles") or []):
                name = _vcard_fn(entity.get("vcardArray"))
                if name:
                    return name
    return None


def _vcard_fn(vcard: Any) -> str | None:
    if not (isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list)):
        return None
    for prop in vcard[1]:
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "fn" and isinstance(prop[3], str):
            return " ".join(prop[3].split()) or None
    return None


def _is_internal_literal(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")
    return not address.is_global


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _host_of(url: str) -> str:
    return urlsplit(url).hostname or url
