"""WHOIS over port 43 (RFC 3912) with asyncio, parsed by python-whois, normalised into facts.

Referrals. Without a server override a lookup asks IANA which server holds the TLD
(`refer:`/`whois:` line), asks that registry, then follows the registry's
`Registrar WHOIS Server:` line to the registrar. The registrar's text is used when it
parses into more fields than the registry's (thin registries such as .com keep the
registrant only at the registrar); otherwise the registry's. If the registrar hop
fails, the registry's facts are used and the registrant fields it lacks are reported
unknown, so a flaky registrar never looks like a removed registrant.

With `server` set (WATCHPOST_WHOIS_SERVER) every lookup is one query to that host:port
and no referral is followed: the operator asked for that server and no other.
`hosts` maps referral host names to the address actually dialled (like /etc/hosts);
tests use it to run the whole IANA -> registry -> registrar chain on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime

from whois import exceptions as whois_exceptions

from bot.config import HostPort
from bot.core.errors import SourceError, SourceRefused
from bot.core.observations import Fact
from bot.monitoring.sources.http import RequestGate, gated
from bot.monitoring.sources.whois_library import LibraryParser, shared_parser
from bot.monitoring.sources.whois_text import (
    EARLIEST,
    LATEST,
    LATEST_EXPIRY,
    ScannedRecord,
    is_handle,
    own_record,
    refusal_notice,
    says_not_registered,
    scan_whois,
    valid_email,
    valid_host,
    withholds_fields,
)

SOURCE = "whois"
IANA = HostPort("whois.iana.org", 43)
MAX_REPLY_BYTES = 1024 * 1024
# python-whois's patterns take time quadratic in a line's length (a 20 KB line: 14 s), so
# a hostile server could stall the bot: what is parsed is cut to lines no field needs
# more of, and to a size well past any real reply's.
MAX_PARSED_LINE = 300
MAX_PARSED_CHARS = 100_000
# Registries whose python-whois parser backtracks on real replies: its .jp contact patterns
# (`(?:^\s*.*\s+)*` before a key the reply lacks) cost about 20 times more per padded empty
# line after "Contact Information:" (5 lines: 5 s, 6 lines: 100 s, on replies under 1 KB).
# The generic reader reads every field Watchpost keeps from these replies on its own, so
# they are not even sent to python-whois (whose deadline would cost a second each).
LIBRARY_BACKTRACKS = (".jp",)

NOT_REGISTERED = "not registered"
SINGLE_VALUED_FIELDS = frozenset(
    {"registrar", "registrant_org", "registrant_email", "creation_date", "expiration_date"}
)
MULTI_VALUED_FIELDS = frozenset({"name_server", "status"})
FIELDS = SINGLE_VALUED_FIELDS | MULTI_VALUED_FIELDS
REGISTRANT_FIELDS = frozenset({"registrant_org", "registrant_email"})
# A registered domain's reply names at least one of these; a reply with none is unread.
CORE_FIELDS = frozenset({"registrar", "creation_date", "expiration_date", "name_server"})

# Values that say "there is a value but you may not see it": absent, not a value.
_REDACTED = re.compile(
    r"redacted|data protected|privacy|withheld|not disclosed|non-public|gdpr|mask(?:ed|ing)"
    r"|query the rdds|contact the registrar|hidden upon user request|not shown|statutory masking"
    r"|not available|see (?:the )?(?:web|http)|^\W*(?:n/?a|none|private|hidden)\W*$",
    re.IGNORECASE,
)
_EPP_CODES = {
    code.lower(): code
    for code in (
        "addPeriod autoRenewPeriod inactive ok active pendingCreate pendingDelete pendingRenew "
        "pendingRestore pendingTransfer pendingUpdate redemptionPeriod renewPeriod "
        "serverDeleteProhibited serverHold serverRenewProhibited serverTransferProhibited "
        "serverUpdateProhibited transferPeriod clientDeleteProhibited clientHold "
        "clientRenewProhibited clientTransferProhibited clientUpdateProhibited"
    ).split()
}
# [ \t], never \s, after ^: with MULTILINE a \s* runs on across blank lines, and a reply
# of blank lines would take quadratic time.
_REFERRAL_IANA = re.compile(r"^[ \t]*(?:refer|whois):[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_REFERRAL_REGISTRAR = re.compile(
    r"^[ \t]*(?:Registrar[ \t]+)?WHOIS[ \t]+Server:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE
)
_REGISTRANT_EMAIL = re.compile(r"^[ \t]*Registrant[ \t]+E-?mail:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)
_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")

# python-whois names a field differently per registry parser: first present key wins.
_KEYS = {
    "registrar": ("registrar", "registrar_name"),
    "registrant_org": ("registrant_org", "org", "registrant_organization", "registrant_organisation"),
    "registrant_email": ("registrant_email",),
}


# Host name -> its addresses (getaddrinfo by default; tests pass their own).
Resolve = Callable[[str], Awaitable[list[str]]]


@dataclass(frozen=True)
class WhoisRecord:
    """The outcome of one domain lookup.

    `unknown_fields` are fields this lookup could not speak for (the registrar hop
    failed), with the reason in `note`.
    """

    facts: tuple[Fact, ...]
    server: str
    unknown_fields: frozenset[str] = frozenset()
    note: str | None = None


class WhoisClient:
    """Domain WHOIS lookups; every failure is a SourceError."""

    def __init__(
        self,
        server: HostPort | None,
        timeout: float = 10.0,
        *,
        iana: HostPort = IANA,
        hosts: Mapping[str, HostPort] | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
        concurrency: int = 4,
        resolve: Resolve | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self._server = server
        # Every exchange is logged for source health, like an HTTP source's request.
        self._gate = gate
        self._timeout = timeout
        self._iana = iana
        self._hosts = {name.lower(): address for name, address in (hosts or {}).items()}
        self._max_bytes = max_bytes
        # Registries throttle clients that open many connections at once.
        self._limit = asyncio.Semaphore(concurrency)
        # TLD -> registry WHOIS host from IANA; it changes about never, so ask once per process.
        self._registries: dict[str, str] = {}
        self._resolve = resolve if resolve is not None else _addresses_of

    async def lookup(self, domain: str) -> WhoisRecord:
        domain = domain.strip().lower().rstrip(".")
        if self._server is not None:
            text = await self.query(self._server, domain)
            facts = await parse_whois_off_loop(domain, text, str(self._server))
            return WhoisRecord(tuple(facts), str(self._server))

        registry_host = await self._registry_of(domain)
        registry = await self._address(registry_host)
        registry_text = await self.query(registry, domain)
        registry_facts = await parse_whois_off_loop(domain, registry_text, registry_host)
        registry_record = WhoisRecord(tuple(registry_facts), registry_host)
        if _is_not_registered(registry_facts):
            return registry_record

        # The queried domain's record names its registrar's server, not a look-alike's.
        registrar_host = _referral(_REFERRAL_REGISTRAR, own_record(registry_text, domain), domain)
        if registrar_host is None or registrar_host in {registry_host, self._iana.host.lower()}:
            return registry_record
        try:
            registrar = await self._address(registrar_host)
            registrar_text = await self.query(registrar, domain)
            registrar_facts = await parse_whois_off_loop(domain, registrar_text, registrar_host)
        except SourceError as exc:
            missing = REGISTRANT_FIELDS - {fact.field for fact in registry_facts}
            note = f"registrar {registrar_host}: {exc.message}"
            return WhoisRecord(tuple(registry_facts), registry_host, missing, note if missing else None)
        if not _is_not_registered(registrar_facts) and _field_count(registrar_facts) > _field_count(
            registry_facts
        ):
            return WhoisRecord(tuple(registrar_facts), registrar_host)
        return registry_record

    async def _registry_of(self, domain: str) -> str:
        tld = domain.rsplit(".", 1)[-1]
        if tld not in self._registries:
            registry_host = _referral(_REFERRAL_IANA, await self.query(self._iana, tld), domain)
            if registry_host is None:
                raise SourceError(SOURCE, f"IANA names no WHOIS server for .{tld}", transient=False)
            self._registries[tld] = registry_host
        return self._registries[tld]

    async def query(self, server: HostPort, query: str) -> str:
        """One RFC 3912 exchange: send the query line, read until the server closes."""
        host = server.host
        try:
            line = query.encode("idna") + b"\r\n"
        except UnicodeError:
            raise SourceError(SOURCE, f"cannot send {query!r} as a WHOIS query", transient=False) from None
        try:
            # Waiting for a free connection counts: behind a hanging server, queued queries
            # fail at the timeout instead of holding their checks up.
            async with gated(self._gate, SOURCE), asyncio.timeout(self._timeout), self._limit:
                reply = await self._exchange(server, line)
        except TimeoutError:
            raise SourceError(SOURCE, f"{host}: no complete answer within {self._timeout:g}s") from None
        if not reply.strip():
            raise SourceError(SOURCE, f"{host}: empty reply")
        return _decode(reply)

    async def _exchange(self, server: HostPort, line: bytes) -> bytes:
        host = server.host
        reply = bytearray()
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(host, server.port)
            writer.write(line)
            await writer.drain()
            while chunk := await reader.read(65536):
                reply += chunk
                if len(reply) > self._max_bytes:
                    raise SourceError(SOURCE, f"{host}: reply larger than {self._max_bytes} bytes")
        except OSError as exc:
            raise SourceError(SOURCE, f"{host}: connection failed ({exc.__class__.__name__})") from None
        finally:
            if writer is not None:
                writer.close()
                with suppress(OSError):
                    await writer.wait_closed()
        return bytes(reply)

    async def _address(self, host: str) -> HostPort:
        """Where to dial a server a reply referred to. The name comes from a WHOIS reply, so
        it is resolved here and dialled by address, and only a public address is dialled:
        a referral never reaches the bot's own network (SSRF)."""
        if host in self._hosts:
            return self._hosts[host]
        try:
            async with asyncio.timeout(self._timeout):
                addresses = await self._resolve(host)
        except (TimeoutError, OSError) as exc:
            raise SourceError(SOURCE, f"{host}: cannot resolve ({exc.__class__.__name__})") from None
        public = [a for a in addresses if ipaddress.ip_address(a.split("%")[0]).is_global]
        if not public:
            raise SourceError(SOURCE, f"{host}: refused, it resolves to no public address", transient=False)
        return HostPort(public[0], 43)


async def _addresses_of(host: str) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, 43, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


async def parse_whois_off_loop(domain: str, text: str, server: str | None = None) -> list[Fact]:
    """parse_whois in a worker thread: parsing is CPU work the event loop must not wait on."""
    return await asyncio.to_thread(parse_whois, domain, text, server)


def parse_whois(
    domain: str, text: str, server: str | None = None, *, library: LibraryParser | None = None
) -> list[Fact]:
    """WHOIS text -> facts (no network I/O). Raises SourceError when the reply cannot be read.

    python-whois reads what it knows, in a child process killed at its deadline
    (whois_library; `library`, by default the process's); the generic reader
    (whois_text.scan_whois, linear in the reply) adds the continuation-line name servers,
    the fields of registries python-whois does not know, and dates read day-first where
    the registry writes them so, in their time zone.

    A "no such domain" reply, in any registry's phrasing, is data: one fact, status "not
    registered". A refusal (throttled, over quota, "try later") is SourceRefused whatever
    else the reply says (AFNIC follows its "Too many requests" with "No entries found"),
    unless the reply also carries the record (a footer may say "try again later") and
    does not say it left fields out. A reply with no registration data in it (a format
    nobody reads) is an error naming the registry (`server`), never a registered domain
    with its fields gone. Of a reply holding several records, only the queried domain's
    is read. Only the first MAX_PARSED_CHARS, in lines of at most MAX_PARSED_LINE, are read.
    """
    domain = domain.rstrip(".").lower()
    text = "\n".join(line[:MAX_PARSED_LINE] for line in text[:MAX_PARSED_CHARS].splitlines())
    text = own_record(text, domain)
    tld = domain.rsplit(".", 1)[-1]
    where = server or f"the .{tld} WHOIS server"
    library_says_free = False
    entry: Mapping[str, object] = {}
    try:
        if not domain.endswith(LIBRARY_BACKTRACKS):
            entry = (library or shared_parser()).load(domain, text)
    except whois_exceptions.WhoisDomainNotFoundError:
        library_says_free = True
    except SourceError:
        entry = {}  # python-whois could not read it (in time): the generic reader still may
    facts = _merge(normalise_whois(entry, text), scan_whois(text, tld, domain), text, domain)
    core = {fact.field for fact in facts} & CORE_FIELDS
    notice = refusal_notice(text)
    if notice is not None and (not core or withholds_fields(text)):
        raise SourceRefused(SOURCE, f"{where} refused the query: {notice}")
    if (library_says_free or says_not_registered(text)) and len(core) < 2:
        return [Fact("status", NOT_REGISTERED, SOURCE)]
    if not core:
        raise SourceError(SOURCE, f"{where}: reply has no WHOIS fields Watchpost can read")
    return facts


def _merge(library: list[Fact], scanned: ScannedRecord, text: str, domain: str) -> list[Fact]:
    """The generic reader's facts, completed by python-whois's. The generic reader's win
    where it found a value: it reads blocks and continuation lines (python-whois takes a
    registrar's technical contact for the registrant on .be, the registrant for the
    registrar on .ua), and dates day-first and in their time zone where the registry
    writes them so. Name servers: the generic reader's where it found any (python-whois's
    .uk pattern takes any host name in the reply), each a host name that is not the
    domain itself nor a web host (see `_name_servers`)."""
    by_field: dict[str, list[Fact]] = {}
    for fact in library:
        by_field.setdefault(fact.field, []).append(fact)
    for field_name, values in (
        ("creation_date", scanned.creation_date),
        ("expiration_date", scanned.expiration_date),
    ):
        if values:
            # The domain's own dates come first; later ones belong to its contacts.
            by_field[field_name] = [Fact(field_name, values[0].isoformat(), SOURCE)]
    library_servers = [fact.value for fact in by_field.pop("name_server", [])]
    for field_name in ("registrar", "registrant_org", "registrant_email"):
        values = getattr(scanned, field_name)
        redactable = field_name in REGISTRANT_FIELDS
        if redactable and values and _REDACTED.search(values[0]):
            by_field.pop(field_name, None)  # "NOT DISCLOSED!" then an address: withheld
            continue
        value = _checked(field_name, _first_value(values, redactable))
        if value is not None:
            by_field[field_name] = [Fact(field_name, value, SOURCE)]
    codes = {code for item in scanned.status if (code := _status_code(item))}
    if codes:
        by_field["status"] = [Fact("status", code, SOURCE) for code in sorted(codes)]
    registrars = [fact.value for fact in by_field.get("registrar", [])]
    servers = _name_servers(scanned.name_server or library_servers, text, domain, registrars)
    if servers:
        by_field["name_server"] = [Fact("name_server", host, SOURCE) for host in servers]
    return [fact for field_name in sorted(by_field) for fact in by_field[field_name]]


_URL_HOST = re.compile(r"[a-z][a-z0-9+.-]*://([^/\s:?#\]\[]+)", re.IGNORECASE)


def _name_servers(hosts: Iterable[str], text: str, domain: str, registrars: Iterable[str]) -> list[str]:
    """The hosts that can be the domain's name servers, sorted: never the domain itself (a
    child of it is glue and stays), nor a web host: a `www.` name, a URL's host, a host in
    the registrar's name (Nominet's "Names Direct Ltd t/a namesdirect.co.uk")."""
    web = {host.lower().rstrip(".") for host in _URL_HOST.findall(text)}
    web |= {token.lower().rstrip(".") for name in registrars for token in name.split()}
    return sorted(
        {host for host in hosts if host != domain and not host.startswith("www.") and host not in web}
    )


def _checked(field_name: str, value: str | None) -> str | None:
    """A value as the field allows it: an e-mail address's syntax, a name not a handle."""
    if value is None:
        return None
    if field_name == "registrant_email":
        return valid_email(value)
    if field_name == "registrant_org" and is_handle(value):
        return None
    if field_name == "registrar":
        value = re.sub(r"\s*\[tag = [^\]]*\]\s*$", "", value, flags=re.IGNORECASE).strip()
    return value or None


def normalise_whois(entry: Mapping[str, object], text: str = "") -> list[Fact]:
    """python-whois fields -> facts. Pure; `text` is searched for a registrant e-mail.
    Every value is checked for its field: name servers are host names, e-mail addresses
    have their syntax, dates are in a sane range, a registrant is not a handle."""
    facts: list[Fact] = []

    for field_name, keys in _KEYS.items():
        redactable = field_name in REGISTRANT_FIELDS
        value = _first_text(entry, keys, redactable)
        if value is None and field_name == "registrant_email":
            value = _first_value(_REGISTRANT_EMAIL.findall(text), redactable)
        value = _checked(field_name, value)
        if value is not None:
            facts.append(Fact(field_name, value, SOURCE))

    created = _dates(entry.get("creation_date"))
    if created:
        facts.append(Fact("creation_date", min(created).isoformat(), SOURCE))
    expires = _dates(entry.get("expiration_date"), latest=LATEST_EXPIRY)
    if expires:
        facts.append(Fact("expiration_date", max(expires).isoformat(), SOURCE))

    name_servers = {
        server
        for item in _strings(entry.get("name_servers"))
        if item.split() and (server := valid_host(item.split()[0]))
    }
    facts.extend(Fact("name_server", server, SOURCE) for server in sorted(name_servers))

    statuses = {code for item in _strings(entry.get("status")) if (code := _status_code(item))}
    facts.extend(Fact("status", code, SOURCE) for code in sorted(statuses))
    return facts


def _strings(value: object) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _first_value(values: Iterable[str], redactable: bool) -> str | None:
    for value in values:
        cleaned = " ".join(value.split())
        if cleaned and not (redactable and _REDACTED.search(cleaned)):
            return cleaned
    return None


def _first_text(entry: Mapping[str, object], keys: tuple[str, ...], redactable: bool) -> str | None:
    for key in keys:
        value = _first_value(_strings(entry.get(key)), redactable)
        if value is not None:
            return value
    return None


def _dates(value: object, latest: date = LATEST) -> list[date]:
    items = value if isinstance(value, list | tuple) else [value]
    found: list[date] = []
    for item in items:
        if isinstance(item, datetime):
            aware = item if item.tzinfo is not None else item.replace(tzinfo=UTC)
            found.append(aware.astimezone(UTC).date())
        elif isinstance(item, date):
            found.append(item)
    return [day for day in found if EARLIEST <= day <= latest]


def redacted(value: str) -> bool:
    """Is `value` a placeholder for a withheld one ("REDACTED FOR PRIVACY", "Data Protected")?"""
    return _REDACTED.search(value) is not None


def status_code(text: str) -> str | None:
    """A status as Watchpost stores it: an EPP code in its EPP spelling, else the text."""
    return _status_code(text)


def _status_code(text: str) -> str | None:
    """ "clientTransferProhibited https://icann.org/epp#..." -> "clientTransferProhibited"."""
    text = re.split(r"\(|https?://|\s-\s", text, maxsplit=1)[0].strip(" \t.,;")
    text = re.sub(r"^(?:domain\s+)?status\s*:\s*", "", text, flags=re.IGNORECASE)
    if not text:
        return None
    words = text.split()
    first = words[0].lower()
    if first in _EPP_CODES:
        return _EPP_CODES[first]
    joined = "".join(words).lower()
    if joined in _EPP_CODES:  # "client transfer prohibited"
        return _EPP_CODES[joined]
    return " ".join(words)


def _referral(pattern: re.Pattern[str], text: str, domain: str) -> str | None:
    """The server a reply refers to: a bare host name, never the monitored domain itself."""
    for match in pattern.finditer(text):
        host = re.sub(r"^[a-z]+://", "", match.group(1).strip().lower()).split("/")[0].split(":")[0]
        host = host.rstrip(".")
        if not _HOSTNAME.fullmatch(host):
            continue
        if host == domain or host.endswith("." + domain):
            continue  # never contact the monitored domain's own infrastructure
        return host
    return None


def _is_not_registered(facts: list[Fact]) -> bool:
    return Fact("status", NOT_REGISTERED) in facts


def _field_count(facts: list[Fact]) -> int:
    return len({fact.field for fact in facts})


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
