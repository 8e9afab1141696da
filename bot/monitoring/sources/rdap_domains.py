"""RDAP for domains (RFC 9083, bootstrap RFC 9224): registration data from the registry,
and registrant data from the registrar the registry's reply links to.

Where to ask. IANA's bootstrap file `dns.json` (under WATCHPOST_RDAP_BOOTSTRAP_URL, IANA's
by default; a local copy for tests and air-gapped teams) maps TLDs to their registries'
RDAP base URLs; it is fetched when first needed and again a day later (a failed refresh
keeps the file in hand). A TLD it does not list has no RDAP service: `lookup` returns
None and the caller asks WHOIS (port 43) instead. The longest listed label suffix wins.

What is read. The registry's `domain/<name>` reply gives the registrar (the `registrar`
entity's name), name servers, EPP statuses (RFC 8056 names mapped to EPP spelling, so
"client transfer prohibited" is `clientTransferProhibited` and "active" is `ok`, as
WHOIS writes them) and the registration and expiration events. Its `links` with
`rel: "related"` lead to the registrar's own RDAP reply, which is where gTLD
registrants live: the registrant's `org` and `email` are taken from there (the
registry's own, where it has them, otherwise). A value that is withheld — a redaction
placeholder ("REDACTED FOR PRIVACY", "Data Protected"), an empty vCard, or a field the
reply lists in its RFC 9537 `redacted` array — is no value, and never a change.

The facts are exactly the fields and the value forms the WHOIS source produces (see
whois.py), under source "rdap": the diff compares (field, value) and never the source,
so a domain that moves between RDAP and WHOIS is not reported as changed. Read but not
stored, because a field new to every monitored domain would alert on every one of them
at the first check after an upgrade: the registrar's IANA ID (`publicIds`), the last
update event, and DNSSEC (`secureDNS.delegationSigned`); `RdapDomainRecord` carries them.

Errors. 404 from the registry is "not registered" (data); 429 and 5xx are transient
SourceErrors; a registrar hop that fails leaves the registrant fields unknown, so a
flaky registrar never looks like a removed registrant. Links and redirects are followed
only to https, or on loopback when the registry itself is (tests); names are resolved
to public addresses only.
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
from urllib.parse import urljoin, urlsplit

from aiohttp.abc import AbstractResolver

from bot.core.errors import SourceError
from bot.core.observations import Fact
from bot.monitoring.sources.http import HttpReply, PublicOnlyResolver, RequestGate, SourceHttpClient, gated
from bot.monitoring.sources.rdap import redirect_allowed
from bot.monitoring.sources.whois import NOT_REGISTERED, REGISTRANT_FIELDS, redacted, status_code
from bot.monitoring.sources.whois_text import EARLIEST, LATEST, valid_email, valid_host

log = logging.getLogger(__name__)

SOURCE = "rdap"
# IANA's bootstrap file, in source health beside the registries' RDAP.
BOOTSTRAP_SOURCE = "rdap_bootstrap"
BOOTSTRAP_REFRESH = 24 * 3600.0
BOOTSTRAP_RETRY = 300.0  # after a failed fetch, before which WHOIS is used
MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class RdapDomainRecord:
    """One domain lookup. `unknown_fields`: fields it could not speak for (the registrar
    hop failed), with the reason in `note`. The extras are read, not stored."""

    facts: tuple[Fact, ...]
    server: str
    unknown_fields: frozenset[str] = frozenset()
    note: str | None = None
    registrar_iana_id: str | None = None
    updated: str | None = None
    dnssec: bool | None = None


# -- bootstrap (RFC 9224) --------------------------------------------------------------------


def parse_bootstrap(document: Any) -> dict[str, str]:
    """dns.json -> {tld: base URL ending in "/"}; an https URL is preferred (pure)."""
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise SourceError(SOURCE, "bootstrap file has no services list", transient=False)
    bases: dict[str, str] = {}
    for service in document["services"]:
        if not (isinstance(service, list) and len(service) >= 2):
            continue
        tlds, urls = service[0], service[1]
        if not isinstance(tlds, list) or not isinstance(urls, list):
            continue
        usable = [u for u in urls if isinstance(u, str) and u.startswith(("https://", "http://"))]
        if not usable:
            continue
        base = sorted(usable, key=lambda u: not u.startswith("https://"))[0]
        base = base if base.endswith("/") else base + "/"
        for tld in tlds:
            if isinstance(tld, str) and tld.strip():
                bases[tld.strip().strip(".").lower()] = base
    return bases


def base_for(bases: dict[str, str], domain: str) -> str | None:
    """The RDAP base of the longest label suffix of `domain` the bootstrap lists."""
    labels = domain.lower().rstrip(".").split(".")
    for start in range(1, len(labels)):
        base = bases.get(".".join(labels[start:]))
        if base is not None:
            return base
    return None


class RdapBootstrap:
    """IANA's dns.json, fetched when first needed and refreshed daily."""

    def __init__(
        self,
        url: str,
        http: SourceHttpClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh: float = BOOTSTRAP_REFRESH,
        gate: RequestGate | None = None,
    ) -> None:
        self._gate = gate  # each fetch logged for source health, as `rdap_bootstrap`
        self._url = url if url.endswith(".json") else (url if url.endswith("/") else url + "/") + "dns.json"
        self._http = http
        self._clock = clock
        self._refresh = refresh
        self._bases: dict[str, str] | None = None
        self._next_fetch = 0.0
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return self._url

    async def base_for(self, domain: str) -> str | None:
        """The registry's RDAP base for `domain`, or None (no RDAP service known)."""
        if self._clock() >= self._next_fetch:
            async with self._lock:
                if self._clock() >= self._next_fetch:
                    await self._fetch()
        return base_for(self._bases or {}, domain)

    async def _fetch(self) -> None:
        try:
            async with gated(self._gate, BOOTSTRAP_SOURCE):
                reply = await self._http.get(self._url)
                self._bases = parse_bootstrap(reply.json(SOURCE))
            self._next_fetch = self._clock() + self._refresh
        except SourceError as exc:
            # Keep the file in hand; without one, domains use WHOIS until the retry.
            self._next_fetch = self._clock() + BOOTSTRAP_RETRY
            log.warning(
                "RDAP bootstrap %s: %s (%s)", self._url, exc.message, "kept" if self._bases else "WHOIS"
            )


# -- the client ------------------------------------------------------------------------------


class RdapDomainClient:
    """Domain lookups over RDAP; every failure is a SourceError."""

    def __init__(
        self,
        bootstrap_url: str,
        *,
        timeout: float = 20.0,
        resolver: AbstractResolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        gate: RequestGate | None = None,
    ) -> None:
        trusted = [urlsplit(bootstrap_url).hostname or ""]
        self._http = SourceHttpClient(
            SOURCE, timeout=timeout, max_body=4 * 1024 * 1024, resolver=PublicOnlyResolver(trusted, resolver)
        )
        self._timeout = timeout
        self._resolver = resolver
        self.bootstrap = RdapBootstrap(bootstrap_url, self._http, clock=clock, gate=gate)
        # One HTTP client per server: a 429 from one registrar never holds up the others.
        self._servers: dict[str, SourceHttpClient] = {}

    async def lookup(self, domain: str) -> RdapDomainRecord | None:
        """The domain's registration facts; None when its TLD has no RDAP service."""
        name = domain.strip().lower().rstrip(".")
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise SourceError(SOURCE, f"cannot ask RDAP about {name!r}", transient=False) from None
        base = await self.bootstrap.base_for(ascii_name)
        if base is None:
            return None
        url = f"{base}domain/{ascii_name}"
        reply = await self._get(url, base)
        host = urlsplit(url).hostname or url
        if reply.status == 404:
            return RdapDomainRecord((Fact("status", NOT_REGISTERED, SOURCE),), host)
        registry = reply.json(SOURCE)
        facts = domain_facts(registry)
        extras = domain_extras(registry)
        link = related_link(registry, url)
        if link is None:
            return RdapDomainRecord(tuple(facts), host, **extras)
        registrar_host = urlsplit(link).hostname or link
        try:
            registrar_reply = await self._get(link, url)
            if registrar_reply.status == 404:
                raise SourceError(SOURCE, "no record", transient=False)
            registrant = registrant_facts(registrar_reply.json(SOURCE))
        except SourceError as exc:
            missing = REGISTRANT_FIELDS - {fact.field for fact in facts}
            note = f"registrar {registrar_host}: {exc.message}"
            return RdapDomainRecord(tuple(facts), host, missing, note if missing else None, **extras)
        # The registrar speaks for its registrant; the registry for the rest.
        kept = [
            fact
            for fact in facts
            if fact.field not in REGISTRANT_FIELDS or fact.field not in _fields(registrant)
        ]
        return RdapDomainRecord(tuple(sorted([*kept, *registrant])), host, **extras)

    async def close(self) -> None:
        await self._http.close()
        for client in self._servers.values():
            await client.close()

    def _client_for(self, url: str) -> SourceHttpClient:
        parts = urlsplit(url)
        key = f"{parts.hostname}:{parts.port}"
        if key not in self._servers:
            self._servers[key] = SourceHttpClient(
                SOURCE,
                timeout=self._timeout,
                max_body=4 * 1024 * 1024,
                resolver=PublicOnlyResolver([], self._resolver),
                headers={"Accept": "application/rdap+json"},
            )
        return self._servers[key]

    async def _get(self, url: str, came_from: str) -> HttpReply:
        """GET with up to three redirects, each (and `url`, a link from a reply) allowed
        only where `redirect_allowed` says, relative to the page that named it."""
        if not redirect_allowed(came_from, url):
            raise SourceError(SOURCE, f"refused link to {urlsplit(url).hostname!r}", transient=False)
        for _ in range(MAX_REDIRECTS + 1):
            reply = await self._client_for(url).get(url, ok_statuses=(200, 404, *_REDIRECTS))
            if reply.status not in _REDIRECTS:
                return reply
            target = urljoin(url, reply.location)
            if not reply.location or not redirect_allowed(url, target):
                raise SourceError(
                    SOURCE, f"refused redirect to {urlsplit(target).hostname!r}", transient=False
                )
            url = target
        raise SourceError(SOURCE, f"more than {MAX_REDIRECTS} redirects")


def _fields(facts: list[Fact]) -> set[str]:
    return {fact.field for fact in facts}


# -- normalisation (pure) --------------------------------------------------------------------


def domain_facts(document: Any) -> list[Fact]:
    """An RFC 9083 domain object -> facts in WHOIS's fields and value forms."""
    if not isinstance(document, dict) or document.get("objectClassName", "domain") != "domain":
        raise SourceError(SOURCE, "reply is not an RDAP domain object", transient=False)
    if not isinstance(document.get("ldhName") or document.get("unicodeName"), str):
        raise SourceError(SOURCE, "reply is not an RDAP domain object", transient=False)
    facts: list[Fact] = []
    registrar = _entity_name(_entities(document, "registrar"), document)
    if registrar:
        facts.append(Fact("registrar", registrar, SOURCE))
    for event_action, field_name in (("registration", "creation_date"), ("expiration", "expiration_date")):
        day = _event_day(document, event_action)
        if day:
            facts.append(Fact(field_name, day, SOURCE))
    servers = {
        host
        for ns in document.get("nameservers") or []
        if isinstance(ns, dict) and isinstance(ns.get("ldhName"), str) and (host := valid_host(ns["ldhName"]))
    }
    facts.extend(Fact("name_server", host, SOURCE) for host in sorted(servers))
    statuses = {code for status in document.get("status") or [] if (code := rdap_status(status))}
    facts.extend(Fact("status", code, SOURCE) for code in sorted(statuses))
    facts.extend(registrant_facts(document))
    return facts


def registrant_facts(document: Any) -> list[Fact]:
    """The registrant's organisation and e-mail address, where not withheld."""
    if not isinstance(document, dict):
        return []
    withheld = _redacted_names(document)
    facts: list[Fact] = []
    for entity in _entities(document, "registrant"):
        vcard = _vcard(entity)
        org = _vcard_value(vcard, "org")
        if org and "registrant organization" not in withheld and not redacted(org):
            facts.append(Fact("registrant_org", org, SOURCE))
        email = _vcard_value(vcard, "email")
        checked = valid_email(email) if email and not redacted(email) else None
        if checked and "registrant email" not in withheld:
            facts.append(Fact("registrant_email", checked, SOURCE))
        if facts:
            break
    return facts


def domain_extras(document: dict[str, Any]) -> dict[str, Any]:
    """What is read but not stored (see the module docstring)."""
    iana_id = None
    for entity in _entities(document, "registrar"):
        for public_id in entity.get("publicIds") or []:
            if isinstance(public_id, dict) and "iana" in str(public_id.get("type", "")).lower():
                iana_id = str(public_id.get("identifier", "")).strip() or None
    secure = document.get("secureDNS")
    signed = secure.get("delegationSigned") if isinstance(secure, dict) else None
    return {
        "registrar_iana_id": iana_id,
        "updated": _event_day(document, "last changed"),
        "dnssec": signed if isinstance(signed, bool) else None,
    }


def related_link(document: dict[str, Any], base: str) -> str | None:
    """The registrar's RDAP URL for this domain: a `related` link to RDAP JSON."""
    for link in document.get("links") or []:
        if not isinstance(link, dict) or link.get("rel") != "related":
            continue
        href = link.get("href")
        kind = str(link.get("type", "application/rdap+json")).lower()
        if isinstance(href, str) and "rdap+json" in kind and "/domain/" in href:
            return urljoin(base, href)
    return None


_RDAP_STATUS_WORDS = re.compile(r"[\s_-]+")


def rdap_status(status: Any) -> str | None:
    """RFC 8056 "client transfer prohibited" -> EPP `clientTransferProhibited`; "active"
    is EPP `ok` (that is how WHOIS writes it)."""
    if not isinstance(status, str) or not status.strip():
        return None
    words = _RDAP_STATUS_WORDS.split(status.strip())
    if len(words) == 1 and words[0].lower() == "active":
        return "ok"
    return status_code(" ".join(words))


def _entities(document: dict[str, Any], role: str) -> list[dict[str, Any]]:
    found = []
    for entity in document.get("entities") or []:
        if isinstance(entity, dict) and role in (entity.get("roles") or []):
            found.append(entity)
    return found


def _entity_name(entities: list[dict[str, Any]], document: dict[str, Any]) -> str | None:
    for entity in entities:
        name = _vcard_value(_vcard(entity), "fn")
        if name and not redacted(name):
            return name
    return None


def _vcard(entity: dict[str, Any]) -> list[Any]:
    vcard = entity.get("vcardArray")
    if isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list):
        return vcard[1]
    return []


def _vcard_value(properties: list[Any], name: str) -> str | None:
    for prop in properties:
        if not (isinstance(prop, list) and len(prop) >= 4 and prop[0] == name):
            continue
        value = prop[3]
        if isinstance(value, list):  # org may be structured: ["Example Inc", "Unit"]
            value = next((v for v in value if isinstance(v, str) and v.strip()), "")
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


def _redacted_names(document: dict[str, Any]) -> set[str]:
    """RFC 9537: the names of the fields the reply says it withheld, lower-case."""
    names: set[str] = set()
    for item in document.get("redacted") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), dict):
            text = item["name"].get("description") or item["name"].get("type") or ""
            if isinstance(text, str):
                names.add(" ".join(text.lower().split()))
    return names


def _event_day(document: dict[str, Any], action: str) -> str | None:
    for event in document.get("events") or []:
        if not (isinstance(event, dict) and event.get("eventAction") == action):
            continue
        raw = event.get("eventDate")
        if not isinstance(raw, str):
            continue
        try:
            moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        day = aware.astimezone(UTC).date()
        if EARLIEST <= day <= LATEST:
            return day.isoformat()
    return None
