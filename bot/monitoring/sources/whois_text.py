"""Reading WHOIS text the way registries actually write it (pure; no I/O).

python-whois has one regular expression per field per registry; what it lacks is kept
here, for every registry at once:

- `scan_whois`: a generic key-value reader. It knows `key: value`, `key....: value`,
  `[key]  value`, tab-separated keys, and blocks: a header line (`Name servers:`,
  `Nameservers`, `[Nservers]`, `Registrar:` with nothing after it) followed by indented
  or plain lines up to the next blank line, each a value of the block (`ns1.example`)
  or a sub-key (`Name: MarkMonitor Inc.`). So every name server listed on continuation
  lines is kept (.eu, .it, .hk, .tw, .nl, .ch, .uk, .kr).
  Keys are read in any accent and in the bilingual form `Nome de domínio / Domain Name`
  (the English half counts), space-separated (`Valid-date      2026-07-02`, .sk) and dotted
  (`Complete Domain Name....:`, .ai).
- `read_date`: dates as registries write them, day first where they do (`10.03.2008`
  is 10 March; `d.m.y` and `d-m-y` are always day first, `d/m/y` on the registries that
  write it so), with the time zone honoured (`(UTC+8)`, `+03:00`, `(JST)`, `CLST`, `EAT`),
  in a sane range (1985 to 2150; an expiry up to 2999-12-31, "never expires").
- `valid_host`, `valid_email`: a value is only a name server if it is a host name (not
  `creation` or `updated`), only an e-mail address if it has the syntax of one.
- `says_not_registered`: the "no such domain" phrasing of the registries (well over 60
  ccTLDs and the gTLD back-ends).
- `refusal_notice`: the line of a reply that refuses the query instead of answering it
  (throttled, over quota, access denied, try later), in the languages registries use.
- `own_record`: of a reply holding several records (the queried domain and look-alikes),
  the queried domain's.
"""

from __future__ import annotations

import re
import unicodedata
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
# Registries write a domain that never expires (a government's, a registry's own) as
# expiring on 2999-12-31; 9999-12-31 stays junk.
LATEST_EXPIRY = date(2999, 12, 31)


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
    " uk ie lu im sm bo py je gg mt cy gi ke ug tz ng gh za".split()
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
    "eat": 180, "cat": 120, "wat": 60, "sast": 120, "pkt": 300, "npt": 345, "wib": 420, "wita": 480,
    "wit": 540, "pht": 480, "myt": 480, "irst": 210, "uyt": -180, "pet": -300, "cot": -300, "vet": -240,
    "bot": -240, "mst": -420, "mdt": -360, "hst": -600, "akst": -540, "akdt": -480,
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


def read_date(text: str, tld: str = "", *, latest: date = LATEST) -> date | None:
    """The UTC day a registry's date text names, or None when it names none in range
    (`latest`: LATEST_EXPIRY for an expiry date)."""
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
    return day if EARLIEST <= day <= latest else None


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
            r"\bno object found\b",  # .tn "Details....: NO OBJECT FOUND!"
            r"\bobject_not_found\b",  # .mx "No_Se_Encontro_El_Objeto/Object_Not_Found"
            r"\bdomain name not found\b",
            # Spanish, Catalan, Portuguese, French, German, Russian, Chinese, Korean
            r"\bno existe\b|\bno se encuentra registrado\b|\bno est[aá] registrado\b|\bno trobat\b",
            r"\bn[aã]o (?:existe|encontrad[oa]|registrad[oa])\b",
            r"\bn'existe pas\b|\baucun (?:objet|r[ée]sultat|enregistrement) (?:trouv|correspond)",
            r"\bnicht (?:gefunden|registriert|vergeben)\b",
            r"не найден|не зарегистрирован",
            r"未注册|未被注册|没有找到|無符合|查无|查無",
            r"등록되어 있지 않습니다|등록되지 않은 도메인",
        ]
    ),
    re.IGNORECASE | re.MULTILINE,
)


def says_not_registered(text: str) -> bool:
    """Does the reply say, in some registry's phrasing, that nobody holds the domain?"""
    return _NOT_REGISTERED.search(text) is not None


# -- refusals ---------------------------------------------------------------------------------

# What registries say instead of answering: throttled, over a quota, access refused, busy or
# under maintenance, "try later". Each phrase states the refusal; boilerplate that only
# mentions limits ("exceeding query rate or volume limits", "high volume, automated") does
# not match. Gaps are [ \t] or bounded, so no pattern backtracks across lines.
_REFUSAL = re.compile(
    "|".join(
        [
            # English
            r"\btoo many (?:requests|queries|connections|lookups|attempts|sessions)\b",
            r"\b(?:limit|quota)s?\b[ \t]*(?:(?:has|have)[ \t]+been[ \t]+|is[ \t]+|was[ \t]+)?"
            r"(?:exceeded|reached)\b",
            r"\bexceeded[ \t]+(?:the[ \t]+|your[ \t]+|its[ \t]+)?(?:[a-z-]+[ \t]+){0,2}(?:limit|quota)",
            r"\b440 request denied\b",
            r"\b(?:please[ \t]+)?(?:try|retry|query)[ \t]+(?:again[ \t]+)?later\b",
            r"\btry again in \d+",
            r"\bslow down\b",
            r"\bserver (?:is )?too busy\b",
            r"\b(?:service|server|whois)[ \t]+(?:is[ \t]+)?(?:temporarily[ \t]+)?"
            r"(?:unavailable|overloaded)\b",
            r"\b(?:under|in)[ \t]+(?:scheduled[ \t]+)?maintenance\b",
            r"\b(?:access|connection|query|request)s?[ \t]+(?:is[ \t]+|was[ \t]+|has[ \t]+been[ \t]+)?"
            r"(?:temporarily[ \t]+)?(?:denied|refused|blocked|throttled)\b",
            r"\b(?:your[ \t]+)?ip(?:[ \t]+address)?[ \t]+(?:is[ \t]+|has[ \t]+been[ \t]+)?"
            r"(?:not[ \t]+allowed|blocked|banned|blacklisted)\b",
            r"\b(?:you|your client)[ \t]+(?:have|has|are)[ \t]+(?:been[ \t]+)?"
            r"(?:rate[ -]?limited|throttled)\b",
            # French
            r"\btrop de (?:requ[eê]tes|connexions|demandes|interrogations)\b",
            r"\b(?:limite|quota)\b[^\n]{0,30}?\b(?:atteinte?|d[ée]pass[ée]e?)\b",
            r"\b(?:r[ée]essayez|r[ée]essayer|ressayez)\b[^\n]{0,20}?\bplus tard\b",
            # German
            r"\bzu viele (?:anfragen|abfragen|verbindungen)\b",
            r"limit\w*[ \t]+(?:wurde[ \t]+)?(?:[üu]berschritten|erreicht)\b",  # "Abfragelimit überschritten"
            r"\bsp[äa]ter (?:erneut|noch einmal|nochmal)\b",
            r"\bvor[üu]bergehend nicht (?:verf[üu]gbar|erreichbar)\b",
            # Spanish
            r"\bdemasiadas (?:consultas|solicitudes|peticiones|conexiones)\b",
            r"\bl[ií]mite\b[^\n]{0,30}?\b(?:excedido|superado|alcanzado)\b",
            r"\b(?:int[ée]ntelo|intente(?:lo)?|vuelva a intentarlo)\b[^\n]{0,20}?\bm[aá]s tarde\b",
            r"\bservicio (?:temporalmente )?no disponible\b",
            # Italian
            r"\btroppe (?:richieste|interrogazioni|connessioni|query)\b",
            r"\blimite\b[^\n]{0,30}?\b(?:superato|raggiunto)\b",
            r"\briprova(?:re)? pi[uù] tardi\b",
            # Portuguese
            r"\b(?:muitas|demasiadas) (?:requisi[cç][õo]es|consultas|solicita[cç][õo]es|conex[õo]es)\b",
            r"\blimite\b[^\n]{0,30}?\b(?:excedido|atingido|ultrapassado)\b",
            r"\btente novamente mais tarde\b",
            # Czech, Slovak
            r"\bp[řr][ií]li[šs] (?:mnoho|vel[ae]) (?:dotaz|po[žz]adav|spojen|pripojen|p[řr]ipojen)",
            r"\bp[řr]ekro[čc]en\w* (?:limit|po[čc]et)|\blimit\w* (?:byl )?p[řr]ekro[čc]en",
            r"\b(?:zkuste|sk[úu]ste) to (?:pros[ií]m )?(?:pozd[ěe]ji|nesk[ôo]r)\b",
            # Polish
            r"\b(?:zbyt|za) (?:wiele|du[żz]o) (?:zapyta[ńn]|po[łl][ąa]cze[ńn])",
            r"\bprzekroczon\w* (?:limit|dozwolon)|\blimit\w* (?:zosta[łl] )?przekroczon",
            r"\bspr[óo]buj(?:cie)? (?:ponownie )?p[óo][źz]niej\b",
            # Russian
            r"превышен\w* (?:лимит|количеств|числ|ограничени)|лимит\w* (?:запросов )?(?:исчерпан|превышен)",
            r"слишком много (?:запросов|соединений|подключений)",
            r"(?:повторите|попробуйте)[^\n]{0,20}?позже",
            # Japanese, Chinese, Korean
            r"(?:アクセス|接続|問い合わせ|クエリ|照会)[^\n]{0,12}?(?:制限|上限)|しばらく(?:時間を置いて|してから|たってから)"
            r"|後ほど(?:再度|もう一度)",
            r"(?:查询|查詢|访问|訪問|请求|請求|连接|連線)[^\n]{0,6}?(?:过于|過於|太)?[频頻]繁"
            r"|超(?:过|過|出)[^\n]{0,6}?(?:限制|上限|次数|次數|配额)|请稍后|請稍後",
            r"(?:조회|질의|접속|요청)[^\n]{0,12}?(?:한도|제한)[^\n]{0,8}?(?:초과|넘)"
            r"|잠시 후 다시|너무 많은 (?:요청|조회|접속)",
        ]
    ),
    re.IGNORECASE,
)


# A throttled registry that still answers, with fields left out (registro.br).
_WITHHOLDING = re.compile(r"\breduced information\b|\bpartial (?:information|data|reply)\b", re.IGNORECASE)


def withholds_fields(text: str) -> bool:
    """Does the reply say it leaves fields out because the query was throttled?"""
    return _WITHHOLDING.search(text) is not None


def refusal_notice(text: str) -> str | None:
    """The line of a reply that refuses the query instead of answering it, or None."""
    match = _REFUSAL.search(text) or _WITHHOLDING.search(text)
    if match is None:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return " ".join(text[start : end if end >= 0 else len(text)].strip(" \t%#*").split())[:200]


# -- several records in one reply ----------------------------------------------------------------

# A line that opens a record: "Domain Name: X", "Server Name: X" (Verisign's look-alikes).
_RECORD_HEAD = re.compile(
    r"^[ \t]*(?:domain(?:[ \t]+name)?|server[ \t]+name|domain-name)[ \t]*:[ \t]*(\S+)[ \t\r]*$",
    re.IGNORECASE | re.MULTILINE,
)


def own_record(text: str, domain: str) -> str:
    """Of a reply holding several records (a query matching look-alikes too), the text
    before the first record and the queried domain's record; any other reply as it is."""
    heads = [
        (match.start(), name) for match in _RECORD_HEAD.finditer(text) if (name := valid_host(match.group(1)))
    ]
    if len({name for _, name in heads}) < 2:
        return text
    for index, (start, name) in enumerate(heads):
        if name == domain:
            end = next((s for s, other in heads[index + 1 :] if other != domain), len(text))
            return text[: heads[0][0]] + text[start:end]
    return text


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
# "Valid-date      2026-07-02", "dns_name      ns1.example.sk", "Admin-org.-ID    36123456" (.sk)
_SPACED = re.compile(r"^(?P<key>[A-Za-z][\w.-]*(?: [A-Za-z-]+){0,3}?)\s{2,}(?P<value>\S.*)$")
_NO_COLON_DATE = re.compile(
    r"^(?P<key>record (?:created|expires|last updated|will expire) on)\s+(?P<value>.+)$", re.I
)
_COMMENT = re.compile(r"^\s*(?:%|#|>>>|--|\*{3}|\[?(?:querying|whois server|redirected))", re.IGNORECASE)


def _normal_key(key: str) -> str:
    key = re.sub(r"\(.*?\)", "", key.lower())  # "Company English Name (It should be ...)"
    key = key.rsplit(" / ", 1)[-1]  # "Nome de domínio / Domain Name" (.pt): the English half
    # "Fecha de creación" -> "fecha de creacion": accents are never what tells keys apart
    key = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
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
        if pattern is _SPACED and (":" in line or valid_host(line.split()[0])):
            continue  # "NS1.EXAMPLE.SG    NS2.EXAMPLE.SG" is two values, not a key and a value
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
    r"|name server hostname|nameserver hostname|dns name|server hostname)$"
)
_NS_BLOCKS = re.compile(r"name ?servers?|nservers?|dns|domain servers|server|servidores")
_CREATED = re.compile(
    r"^(?:creat(?:ed|ion)(?: date| on| time)?|domain (?:created|registered|record activated)"
    r"|registered(?: on| date)?"
    r"|registration (?:date|time)|first registration date|record created on|domain name commencement date"
    r"|commencement date|activated|registration|fecha de (?:creacion|registro|alta)|data de registo)$"
)
_EXPIRES = re.compile(
    r"^(?:expir\w*(?: date| on| time)?|registry expiry date|registrar registration expiration date"
    r"|expiration(?: date| time)?|paid till|valid until|validity|renewal date|record expires on|expires on"
    r"|record will expire on|domain expires|expire date|exp date|valid date"
    r"|fecha de (?:expiracion|vencimiento|caducidad)|data de expiracao)$"
)
_REGISTRAR = re.compile(
    r"^(?:registrar|registrar name|sponsoring registrar|registration service provider|current regist?rar"
    r"|authorized agency|registrar organi[sz]ation|registrar of record|sponsoring registrar name"
    r"|sponsoring registrar organi[sz]ation|agente registrador)$"
)
_ORG = re.compile(
    r"^(?:registrant(?: contact)? organi[sz]ation|registrant org|org|organisation|owner|owner name|holder org"
    r"|registrant|company english name|descr|domain holder|holder|domain holder organi[sz]ation"
    r"|organization loc|titular|org name)$"
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
            record.name_server.extend(host for host in hosts_in(value) if host != domain)
        elif _EXPIRES.match(label) and not block.startswith(("registrar", "admin", "tech", "contact")):
            if (day := read_date(value, tld, latest=LATEST_EXPIRY)) is not None:
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


def hosts_in(value: str) -> list[str]:
    """Every host name a name-server line lists: .sg writes four on one line, .pt
    `example.pt NS ns1.example.net.`, others `ns1.example.net (192.0.2.1)`."""
    return [host for token in re.split(r"[\s,;|]+", value) if token and (host := valid_host(token))]


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
