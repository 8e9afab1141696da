"""Reading WHOIS text the way registries actually write it (pure; no I/O).

python-whois has one regular expression per field per registry; what it lacks is kept
here, for every registry at once:

- `scan_whois`: a generic key-value reader. It knows `key: value`, `key....: value`,
  `[key]  value`, tab-separated keys, and blocks: a header line (`Name servers:`,
  `Nameservers`, `[Nservers]`, `Registrar:` with nothing after it) followed by indented
  or plain lines up to the next blank line, each a value of the block (`ns1.example`)
  or a sub-key (`Name: MarkMonitor Inc.`). So every name server listed on continuation
  lines is kept (.eu, .it, .hk, .tw, .nl, .ch, .uk, .kr).
- `read_date`: dates as registries write them, day first where they do (`10.03.2008`
  is 10 March; `d.m.y` and `d-m-y` are always day first, `d/m/y` on the registries that
  write it so), with the time zone honoured (`(UTC+8)`, `+03:00`, `(JST)`, `CLST`), in a
  sane range (1985 to 2150).
- `valid_host`, `valid_email`: a value is only a name server if it is a host name (not
  `creation` or `updated`), only an e-mail address if it has the syntax of one.
- `says_not_registered`: the "no such domain" phrasing of the registries (well over 60
  ccTLDs and the gTLD back-ends).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

# -- validation ------------------------------------------------------------------------------

_HOST = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
EARLIEST = date(1985, 1, 1)  # the first domain was registered in March 1985
LATEST = date(2150, 12, 31)


def valid_host(text: str) -> str | None:
    """`text` as a lower-case host name without trailing dot, or None if it is not one."""
    host = text.strip().strip("\"'()<>,;").rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    return host if _HOST.fullmatch(host) else None


def valid_email(text: str) -> str | None:
    email = text.strip().strip("<>\"'").lower()
    return email if _EMAIL.fullmatch(email) else None


# -- dates -----------------------------------------------------------------------------------

# Registries whose d/m/y dates (slashes) put the day first; d.m.y and d-m-y always do.
DAY_FIRST_SLASH_TLDS = frozenset(
    "pt br fr tk ml ga cf gq be es it ar cl pe uy ve co ec tr gr ro ru ua by kz il nz au in sg my id vn th"
    " uk ie".split()
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january", "janv"),
            ("feb", "february", "fev", "févr"),
            ("mar", "march", "mars"),
            ("apr", "april", "avr"),
            ("may", "mai"),
            ("jun", "june", "juin"),
            ("jul", "july", "juil"),
            ("aug", "august", "aout", "août"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december", "déc"),
        ],
        start=1,
    )
    for name in names
}
_ZONE_ABBREVIATIONS = {
    "utc": 0, "gmt": 0, "z": 0, "ut": 0, "wet": 0, "bst": 60, "cet": 60, "cest": 120, "met": 60,
    "eet": 120, "eest": 180, "msk": 180, "ist": 330, "jst": 540, "kst": 540, "hkt": 480, "awst": 480,
    "sgt": 480, "aest": 600, "aedt": 660, "nzst": 720, "nzdt": 780, "clt": -240, "clst": -180,
    "brt": -180, "art": -180, "est": -300, "edt": -240, "pst": -480, "pdt": -420, "ict": 420,
}  # fmt: skip
_OFFSET = re.compile(r"(?:\(|\b)(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?\)?\s*$", re.IGNORECASE)
_ZONE_WORD = re.compile(r"\(?\b([a-z]{1,5})\)?\s*$", re.IGNORECASE)
_ISO = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t\s]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?", re.IGNORECASE
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\b|$)")
_YMD_SLASH = re.compile(r"(\d{4})[/.]\s?(\d{1,2})[/.]\s?(\d{1,2})")
_DMY = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})(?:[t\s]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_TEXT_MONTH = re.compile(
    r"(?:(\d{1,2})[\s-]+([a-zéû]{3,9})\.?[\s-]+(\d{4})|([a-zéû]{3,9})\.?\s+(\d{1,2}),?\s+(?:\d{1,2}:\d{2}:\d{2}\s+)?(\d{4})"
    r"|(\d{4})[\s-]+([a-zéû]{3,9})\.?[\s-]+(\d{1,2}))",
    re.IGNORECASE,
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def read_date(text: str, tld: str = "") -> date | None:
    """The UTC day a registry's date text names, or None when it names none in range."""
    text = " ".join(text.replace("(YYYY-MM-DD)", "").split()).strip(" .")
    if not text or len(text) > 80:
        return None
    found = _read_datetime(text, tld)
    if found is None:
        return None
    moment, has_time = found
    offset = _offset(text) if has_time else None
    if offset is not None:
        moment = (moment.replace(tzinfo=timezone(offset))).astimezone(UTC).replace(tzinfo=None)
    day = moment.date()
    return day if EARLIEST <= day <= LATEST else None


def _read_datetime(text: str, tld: str) -> tuple[datetime, bool] | None:
    try:
        if match := _ISO.search(text):
            y, m, d, hh, mm, ss = match.groups()
            return _moment(int(y), int(m), int(d), hh, mm, ss), hh is not None
        if match := _YMD_SLASH.search(text):
            y, m, d = match.groups()
            return datetime(int(y), int(m), int(d)), _TIME.search(text[match.end() :]) is not None
        if match := _DMY.search(text):
            first, separator, second, year, hh, mm, ss = match.groups()
            a, b = int(first), int(second)
            day_first = separator != "/" or tld in DAY_FIRST_SLASH_TLDS
            if a > 12 or (day_first and b <= 12):
                return _moment(int(year), b, a, hh, mm, ss), hh is not None
            return _moment(int(year), a, b, hh, mm, ss), hh is not None
        if match := _TEXT_MONTH.search(text):
            g = match.groups()
            day, month, year = (
                (g[0], g[1], g[2]) if g[0] else (g[4], g[3], g[5]) if g[3] else (g[8], g[7], g[6])
            )
            number = _MONTHS.get(month.lower()[:3]) or _MONTHS.get(month.lower())
            if number is None:
                return None
            clock = _TIME.search(text)
            moment = datetime(int(year), number, int(day))
            if clock:
                moment = moment.replace(hour=int(clock.group(1)), minute=int(clock.group(2)))
            return moment, clock is not None
        if match := _COMPACT.search(text):
            y, m, d = match.groups()
            return datetime(int(y), int(m), int(d)), False
    except ValueError:
        return None
    return None


def _moment(year: int, month: int, day: int, hh: str | None, mm: str | None, ss: str | None) -> datetime:
    return datetime(year, month, day, int(hh or 0), int(mm or 0), int(ss or 0))


def _offset(text: str) -> timedelta | None:
    """The time zone a date text states, or None (UTC) when it states none."""
    tail = text[-16:]
    if match := _OFFSET.search(tail):
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return -delta if sign == "-" else delta
    if match := _ZONE_WORD.search(tail):
        minutes_east = _ZONE_ABBREVIATIONS.get(match.group(1).lower())
        if minutes_east is not None:
            return timedelta(minutes=minutes_east)
    return None


# -- not registered --------------------------------------------------------------------------

# Spaces here are [ \t], never \s: with MULTILINE, a \s* after ^ runs on across blank
# lines, and a reply of blank lines would cost quadratic time.

_NOT_REGISTERED = re.compile(
    "|".join(
        [
            # phrases that start a line (after %, *, #, quotes or spaces)
            r"^[ \t%*#>\"']*(?:no match|not found|no data found|no entries found|nothing found"
            r"|no object found"
            r"|object[_ ]not[_ ]found|domain not found|no matching record|no such domain|not registered"
            r"|domain unknown|no records? (?:found|matching)|no information (?:available|found)"
            r"|the domain has not been registered|this domain name has not been registered"
            r"|no found|available[ \t]*$|free[ \t]*$)",
            # "<status key>: <a status that means nobody holds it>"
            r"^[ \t%*]*(?:domain[ \t]+)?(?:status|state|registration status|query_status)[ \t]*[:.]*[ \t]*"
            r"(?:free|available|avail|not registered|no object found|220 available|unregistered|not found)\b",
            # phrases distinctive anywhere in a line
            r"\bthe queried object does not exist",
            r"\bthe requested domain was not found",
            r"\bwe do not have an entry in our database matching your query",
            r"\bdomain name not known in dot [a-z]+ domain registry",
            r"\bno data was found to match the request criteria",
            r"\bobject does not exist",
            r"\bdomain is not registered",
            r"\bno match (?:found )?for\b",
            r"[ \t]-[ \t]+no match[ \t]*$",
            r"\bnot found in (?:the )?database",
            r"\bis (?:free|available for registration)[ \t]*\.?[ \t]*$",
            r"^[ \t]*220 available",
            r"%error:10[13]",
            r"\bno entries found\b",
            r"\bnothing found for this query",
            r"^not found:[ \t]",
            r"\bdomain name is available\b",
            r"\bthis query returned 0 objects",
        ]
    ),
    re.IGNORECASE | re.MULTILINE,
)


def says_not_registered(text: str) -> bool:
    """Does the reply say, in some registry's phrasing, that nobody holds the domain?"""
    return _NOT_REGISTERED.search(text) is not None


# -- the generic key-value reader ------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One value of a reply: its block header (or ""), its key, the value as written."""

    block: str
    key: str
    value: str
    position: int = 0  # the how-manieth plain line of its block (0: the first)


@dataclass
class ScannedRecord:
    """What the generic reader found, per field, in the order the reply gives it."""

    registrar: list[str] = field(default_factory=list)
    registrant_org: list[str] = field(default_factory=list)
    registrant_email: list[str] = field(default_factory=list)
    creation_date: list[date] = field(default_factory=list)
    expiration_date: list[date] = field(default_factory=list)
    name_server: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(vars(self).values())


_KEY_VALUE = re.compile(r"^(?P<key>[^:\[\]]{1,60}?)\s*(?:\.{2,}\s*:?|:)\s*(?P<value>.*)$")
_BRACKETED = re.compile(r"^\[(?P<key>[^\]]{1,40})\]\s*(?P<value>.*)$")
_TABBED = re.compile(r"^(?P<key>[A-Za-z][A-Za-z -]{1,40}?)\t+(?P<value>.+)$")
_PAREN_KEY = re.compile(r"^(?P<key>[^:()]{1,60}\([^)]{0,200}\))\s*:\s*(?P<value>.*)$")
_SPACED = re.compile(r"^(?P<key>[A-Za-z][A-Za-z-]*(?: [A-Za-z-]+){0,3}?)\s{2,}(?P<value>\S.*)$")
_NO_COLON_DATE = re.compile(
    r"^(?P<key>record (?:created|expires|last updated|will expire) on)\s+(?P<value>.+)$", re.I
)
_COMMENT = re.compile(r"^\s*(?:%|#|>>>|--|\*{3}|\[?(?:querying|whois server|redirected))", re.IGNORECASE)


def _normal_key(key: str) -> str:
    key = re.sub(r"\(.*?\)", "", key.lower())  # "Company English Name (It should be ...)"
    return " ".join(re.sub(r"[^a-z0-9 -]", " ", key).replace("-", " ").split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def entries(text: str) -> Iterator[Entry]:
    """Every (block, key, value) of a WHOIS reply, blocks and continuation lines included."""
    block = ""
    block_indent = -1
    block_has_values = False
    plain = 0
    last_key, last_indent = "", 0
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip().lstrip("*").strip()
        if not stripped:
            last_key = ""
            if block and block_has_values:
                block, block_indent = "", -1
            continue
        if _COMMENT.match(line) and not block:
            continue
        indent = _indent(line)
        parsed = _split(stripped)
        if parsed is not None:
            key, value = parsed
            if block and value and (indent > block_indent or key in _SUB_KEYS):
                # Under a header, up to the blank line: "Registrar:" / "  Name: Example Ltd"
                block_has_values = True
                yield Entry(block, key, value)
                continue
            if not value:
                block, block_indent, block_has_values, plain = key, indent, False, 0  # "Name servers:"
                last_key = ""
                continue
            block, block_indent = "", -1  # "Registrant Name: x" after "Reseller:": not a block
            last_key, last_indent = key, indent
            yield Entry("", key, value)
            continue
        if not block and last_key and indent > last_indent:
            yield Entry("", last_key, stripped)  # a value continued on the next line (.kz, .pl)
            continue
        if block:
            block_has_values = True
            yield Entry(block, "", stripped, plain)
            plain += 1
            continue
        if len(stripped) <= 60:
            block, block_indent, block_has_values, plain = _normal_key(stripped), indent, False, 0


# Keys that, unindented right under a header, are still the header's: `Registrant` /
# `Name: Example ApS` (.dk), `Registrar:` / `name: Zone Media` (.ee).
_SUB_KEYS = frozenset(
    "name,organization,organisation,org,email,e mail,address,phone,fax,country,city,website,url,web,"
    "language,handle,hostname,host name,nserver,type,dns,contact,id,organization name,regnr,visit,"
    "nic handle".split(",")
)


def _split(line: str) -> tuple[str, str] | None:
    for pattern in (_BRACKETED, _NO_COLON_DATE, _PAREN_KEY, _KEY_VALUE, _TABBED, _SPACED):
        if pattern is _SPACED and ":" in line:
            continue
        match = pattern.match(line)
        if match:
            key = _normal_key(match.group("key"))
            if pattern is _KEY_VALUE and ("://" in line[: match.end("key") + 3] or not key):
                continue
            return key, match.group("value").strip()
    return None


# Keys, normalised: what each field is called somewhere.
_NS_KEYS = re.compile(
    r"^(?:domain )?(?:name ?servers?|nservers?|ns|dns|dns servers?|domain servers?.*"
    r"|name servers? information"
    r"|primary server|secondary server|server|host ?name|nameserver \d+|name server \d+|dns \d+|ns \d+"
    r"|name server hostname|nameserver hostname)$"
)
_NS_BLOCKS = re.compile(r"name ?servers?|nservers?|dns|domain servers|server")
_CREATED = re.compile(
    r"^(?:creat(?:ed|ion)(?: date| on| time)?|domain (?:created|registered|record activated)"
    r"|registered(?: on| date)?"
    r"|registration (?:date|time)|first registration date|record created on|domain name commencement date"
    r"|commencement date|activated|registration)$"
)
_EXPIRES = re.compile(
    r"^(?:expir\w*(?: date| on| time)?|registry expiry date|registrar registration expiration date"
    r"|expiration(?: date| time)?|paid till|valid until|validity|renewal date|record expires on|expires on"
    r"|record will expire on|domain expires|expire date|exp date)$"
)
_REGISTRAR = re.compile(
    r"^(?:registrar|registrar name|sponsoring registrar|registration service provider|current regist?rar"
    r"|authorized agency|registrar organi[sz]ation|registrar of record|sponsoring registrar name)$"
)
_ORG = re.compile(
    r"^(?:registrant(?: contact)? organi[sz]ation|registrant org|org|organisation|owner|owner name|holder org"
    r"|registrant|company english name|descr|domain holder|holder|domain holder organi[sz]ation"
    r"|organization loc)$"
)
_REGISTRANT_BLOCKS = re.compile(r"registrant|holder|owner|organization using domain name|^organi[sz]ation$")
_EMAIL_KEYS = re.compile(r"^(?:registrant(?: contact)? e ?mail|owner e ?mail|e ?mail|email address)$")
_STATUS = re.compile(r"^(?:domain )?(?:status|state|registration status|epp status|status code)$")
_HANDLE = re.compile(r"[A-Z0-9]+(?:[-_][A-Z0-9]+)*", re.IGNORECASE)


def scan_whois(text: str, tld: str = "", domain: str = "") -> ScannedRecord:
    """The fields of a reply, found by key (and block) names alone; `tld` says how its
    registry writes dates, `domain` is never its own name server."""
    record = ScannedRecord()
    for entry in entries(text):
        key, block, value = entry.key, entry.block, entry.value
        label = key or block
        first_plain = not key and entry.position == 0
        if _is_name_server(key, block):
            host = valid_host(value.split()[0].split("|")[0]) if value.split() else None
            if host is not None and host != domain:
                record.name_server.append(host)
        elif _EXPIRES.match(label) and not block.startswith(("registrar", "admin", "tech", "contact")):
            if (day := read_date(value, tld)) is not None:
                record.expiration_date.append(day)
        elif _CREATED.match(label) and not block.startswith(("registrar", "admin", "tech", "contact")):
            if (day := read_date(value, tld)) is not None:
                record.creation_date.append(day)
        elif _REGISTRAR.match(key) or (
            block == "registrar" and (key in _REGISTRAR_BLOCK_KEYS or (not key and first_plain))
        ):
            if not value.lower().startswith(("http", "www.")):
                record.registrar.append(value)
        elif _REGISTRANT_BLOCKS.search(block) and not key and first_plain:
            record.registrant_org.append(value)
        elif _REGISTRANT_BLOCKS.search(block) and not key and valid_email(value):
            record.registrant_email.append(value)
        elif _EMAIL_KEYS.match(key) and (
            key.startswith(("registrant", "owner")) or _REGISTRANT_BLOCKS.search(block)
        ):
            record.registrant_email.append(value)
        elif key and _ORG.match(key) and (not block or _REGISTRANT_BLOCKS.search(block)):
            record.registrant_org.append(value)
        elif _REGISTRANT_BLOCKS.search(block) and key in ("organization", "organisation", "org", "name"):
            record.registrant_org.append(value)
        elif _STATUS.match(key) and (not block or not key.startswith("state")):
            record.status.extend(part for part in _status_parts(value))
        elif _is_status_block(block) and not key:
            record.status.extend(part for part in _status_parts(value))
        elif block.startswith("registration status") and not key and first_plain:
            record.status.append(value)
        elif key == "remarks" and value.lower().startswith("(domain holder)"):
            record.registrant_org.append(value.split(")", 1)[1].strip())
    return record


def _is_status_block(block: str) -> bool:
    """`Flags:` (.be) and `Domain status:` blocks list statuses one a line."""
    return (bool(_STATUS.match(block)) or block == "flags") and not block.startswith("registration status")


_REGISTRAR_BLOCK_KEYS = frozenset({"name", "organization", "organisation", "organization name"})


def _status_parts(value: str) -> list[str]:
    """ "clientUpdateProhibited,clientTransferProhibited" is two statuses."""
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > 1 and all(re.fullmatch(r"[a-z]+[A-Z][A-Za-z]+|ok|active|inactive", p) for p in parts):
        return parts
    return [value]


def _is_name_server(key: str, block: str) -> bool:
    if key and _NS_KEYS.match(key) and key not in ("server", "host name", "hostname"):
        return True
    return (
        bool(block)
        and bool(_NS_BLOCKS.search(block))
        and (not key or key in ("host name", "hostname", "nserver", "name", "dns", "server", "ns"))
    )


def is_handle(value: str) -> bool:
    """A registry handle (`GOO123-RIPE`, `G830057`) standing where a name would: no name."""
    return (
        " " not in value and bool(_HANDLE.fullmatch(value)) and any(c.isdigit() or c in "-_" for c in value)
    )
