"""Indicators: parse, refang, validate and normalise domains, IPs and URLs (pure, no I/O).

An analyst pastes what they have (`98.126.38[.]107`, `hxxps://evil[.]com/x`,
`[2001:db8::1]:443`, `münchen.de`); `parse_indicators` turns it into canonical
`Indicator` values or raises one `IndicatorError` that names every bad token and why.

Rules worth knowing:

- Never a wrong host. Each token is read as written, with the sure refanging notations
  undone and with the guessed ones undone too (bot/core/refanging.py); the last reading
  that gives an indicator wins, unless an earlier one gave a different indicator that
  could be meant as written (an IP, or a name under a known public suffix whose
  registered label has no underscore): then the token is refused as ambiguous, and the
  message shows both readings. `http:` must be followed by a slash to be a scheme.
- URLs (http, https, ftp), `host:port` and `host/path` are reduced to their host.
- IPs are canonical (`ipaddress`' str, IPv6 compressed); IPv4-mapped IPv6 is the IPv4
  address; `/32` and `/128` are the single address, other CIDR ranges are refused.
- Only public internet addresses are accepted: private, loopback, link-local,
  multicast, shared, documentation, reserved and unspecified ranges are refused, as
  are octets with leading zeros (some tools read them as octal).
- Domains are lower-case punycode (UTS #46 mapping, then IDNA 2008 via `idna`) with no
  trailing dot; underscores are allowed in ASCII labels (`_dmarc`); special-use names
  (RFC 6761/6762/7686/9476, `.internal`, `.arpa`) and single labels are refused.
- Error messages are safe to show in Slack as they are: every token is cut to 100
  characters, defanged, mrkdwn-escaped and put in backticks.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass

import idna
from publicsuffixlist import PublicSuffixList

from bot.core.errors import IndicatorError
from bot.core.observations import IndicatorKind
from bot.core.refanging import Reading, join_spaced_notation, readings, refang
from bot.core.scripts import domain_to_unicode

__all__ = [
    "MAX_INDICATORS_PER_COMMAND",
    "Indicator",
    "escape_in_code",
    "internet_refusal",
    "parse_indicator",
    "parse_indicators",
    "parse_written_indicator",
    "refang",
]

MAX_INDICATORS_PER_COMMAND = 50

# A URL can be long, but nothing we accept is longer than this; longer tokens are
# refused without being echoed.
_MAX_TOKEN_CHARS = 2000
_SHOWN_CHARS = 100
# A combined error lists at most this many bad tokens, so one paste of junk cannot
# produce a message Slack refuses to show.
_MAX_LISTED_PROBLEMS = 20

_EMPTY_MESSAGE = "Give at least one domain or IP address, e.g. `/monitor example.com`"
_NOT_INTERNET = "Watchpost watches internet infrastructure"

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Indicator:
    """One monitorable domain or IP address, in canonical form."""

    value: str
    kind: IndicatorKind

    @property
    def display(self) -> str:
        """Human form: an IDN shows its Unicode and punycode forms, anything else its value."""
        if self.kind == IndicatorKind.DOMAIN:
            unicode = domain_to_unicode(self.value)
            if unicode != self.value:
                return f"{unicode} ({self.value})"
        return self.value

    @property
    def defanged(self) -> str:
        """Form for messages that no client turns into a link: `evil[.]com`, `98.126.38[.]107`."""
        if self.kind == IndicatorKind.DOMAIN:
            return self.value.replace(".", "[.]")
        head, dot, tail = self.value.rpartition(".")
        return f"{head}[.]{tail}" if dot else self.value


# --- parsing ---------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s,;]+")
# Quotes and backticks around a token (analysts wrap indicators in backticks so Slack
# does not link them) and zero-width characters picked up by copying from web pages.
_EDGES = re.compile(r"^[\s`'\"\u200b\u2060\ufeff]+|[\s`'\"\u200b\u2060\ufeff]+$")
# Slack's own link markup, sent when the app escapes links: <http://evil.com|evil.com>
_SLACK_LINK = re.compile(r"<((?:https?|ftp|mailto):[^<>|]*)(?:\|[^<>]*)?>", re.IGNORECASE)
_KNOWN_SCHEME = re.compile(r"(?:https?|ftp):[/\\]+", re.IGNORECASE)
_ANY_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_MAILTO = re.compile(r"mailto:", re.IGNORECASE)
_AUTHORITY_END = re.compile(r"[/?#\\]")
_PORT = re.compile(r"[0-9]{1,5}")
_PREFIX_LENGTH = re.compile(r"[0-9]{1,3}")
_IPV4_LIKE = re.compile(r"(?=.*[0-9])[0-9.]+")
_ASCII_LABEL_CHAR = re.compile(r"[a-z0-9_-]")
_CODEPOINT_IN_IDNA_ERROR = re.compile(r"U\+([0-9A-F]{4,6})")
# Zero-width joiners are valid inside some scripts' labels; IDNA 2008 decides on those.
_ALLOWED_FORMAT_CHARS = frozenset("\u200c\u200d")


# One mailbox name (with a letter or digit in it) at one host name: what is called an
# email address in a refusal; anything else with an @ is just not an indicator.
_EMAIL_SHAPE = re.compile(r"(?=[^@]*\w)[\w.!#$%&'*+/=?^`{|}~-]+@[\w.-]*\w[\w.-]*")


class _Rejected(Exception):
    """Why a token (or the host inside it) cannot be monitored; internal to this module."""

    def __init__(
        self, reason: str, *, subject: str | None = None, refanged: bool = True, email: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.subject = subject
        # False: the message quotes the token as written, not as refanged.
        self.refanged = refanged
        # An email address is a meaning too: a reading that gives one competes with others.
        self.email = email


def parse_indicator(token: str) -> Indicator:
    """Parse one token (domain, IP, URL, possibly defanged) into an `Indicator`."""
    text = _EDGES.sub("", token)
    if not token.strip():
        raise IndicatorError(_EMPTY_MESSAGE)
    if len(text) <= _MAX_TOKEN_CHARS:
        text = join_spaced_notation(text)
    if len(text) > _MAX_TOKEN_CHARS:
        raise IndicatorError(
            f"A token of {len(text):,} characters is too long to be a domain, IP address or URL "
            f"(at most {_MAX_TOKEN_CHARS:,})"
        )
    if not text:
        raise IndicatorError(f"{_shown(token.strip())} is not a domain, IP address or URL")
    try:
        return _parse(text)
    except _Rejected as rejected:
        shown = _shown(text, refanged=rejected.refanged)
        if rejected.subject is None:
            raise IndicatorError(f"{shown} {rejected.reason}") from None
        raise IndicatorError(f"{shown}: {_shown(rejected.subject)} {rejected.reason}") from None


def parse_indicators(text: str, *, limit: int = MAX_INDICATORS_PER_COMMAND) -> list[Indicator]:
    """Parse tokens separated by spaces, commas, semicolons or newlines, all or nothing.

    Duplicates (after normalisation) are collapsed, keeping the first occurrence's order.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    tokens = [token for token in _SEPARATORS.split(join_spaced_notation(text)) if token]
    if not tokens:
        raise IndicatorError(_EMPTY_MESSAGE)
    distinct = len(set(tokens))
    if distinct > limit * 4:  # refused before parsing: a huge paste costs no parsing time
        raise IndicatorError(
            f"Too many indicators: at most {limit} indicators per command, and {distinct:,} were given. "
            "Split them over several commands; nothing was changed."
        )
    found: dict[Indicator, None] = {}
    problems: dict[str, str] = {}
    for token in tokens:
        if token in problems:
            continue
        try:
            found.setdefault(parse_indicator(token), None)
        except IndicatorError as error:
            problems[token] = str(error)
    too_many = f"at most {limit} indicators per command, and {len(found)} were given"
    if problems:
        if len(problems) == 1 and not found:
            raise IndicatorError(next(iter(problems.values())))
        lines = [f"{len(problems)} of the indicators given cannot be used, so nothing was changed:"]
        lines += [f"• {message}" for message in list(problems.values())[:_MAX_LISTED_PROBLEMS]]
        if len(problems) > _MAX_LISTED_PROBLEMS:
            lines.append(f"…and {len(problems) - _MAX_LISTED_PROBLEMS} more")
        if len(found) > limit:
            lines.append(f"Also: {too_many}.")
        raise IndicatorError("\n".join(lines))
    if len(found) > limit:
        raise IndicatorError(f"Too many indicators: {too_many}. Split them over several commands.")
    return list(found)


def parse_written_indicator(token: str) -> Indicator:
    """One value from a structured source (a MISP attribute, a STIX pattern), read exactly
    as written: such sources hold values as they are, so one written defanged is refused,
    saying what it would read as, and so is anything `parse_indicator` refuses."""
    text = token.strip()
    if not text:
        raise IndicatorError(_EMPTY_MESSAGE)
    if len(text) > _MAX_TOKEN_CHARS:
        raise IndicatorError(
            f"A value of {len(text):,} characters is too long to be a domain, IP address or URL"
        )
    try:
        return _parse_reading(text)
    except _Rejected as rejected:
        as_written = rejected
    try:
        meant: Indicator | None = parse_indicator(text)
    except IndicatorError:
        meant = None
    shown = _shown_as_written(text)
    if meant is not None:
        how = ", ".join(readings(text)[-1].notations)
        raise IndicatorError(
            f"{shown} is written defanged ({how}): it would read as `{meant.defanged}`, but a structured "
            "source must give the value as it is"
        )
    if as_written.subject is None:
        raise IndicatorError(f"{shown} {as_written.reason}")
    raise IndicatorError(f"{shown}: {_shown(as_written.subject, refanged=False)} {as_written.reason}")


def internet_refusal(host: str) -> str | None:
    """Why a host as written (an IP address, or a name) is not on the public internet: "a
    private address (10.0.0.0/8)", "a special-use name (…)"; None when it may be, or is no
    host at all (the parser says why then)."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        label = text.rstrip(".").rpartition(".")[2].lower()
        reason = _SPECIAL_USE_TLDS.get(label)
        return f"a special-use name: {reason}" if reason else None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    try:
        _classify_ip(address)
    except _Rejected as rejected:
        return rejected.reason.removeprefix("is ").removesuffix(f": {_NOT_INTERNET}")
    return None


def _shown_as_written(token: str) -> str:
    """A value quoted as written (already defanged, maybe): cut, linkable schemes and bare
    dots defanged, escaped, in backticks."""
    cut = token[:_SHOWN_CHARS]
    defanged = _LINKABLE_SCHEME.sub(lambda m: _DEFANGED_SCHEMES[m.group(1).lower()], cut)
    defanged = re.sub(r"(?<!\[)\.(?!\])", "[.]", defanged)
    ellipsis = "…" if len(token) > _SHOWN_CHARS else ""
    return f"`{escape_in_code(defanged)}{ellipsis}`"


def _parse(text: str) -> Indicator:
    """Read the token as written, refanged for sure, and refanged by guess; keep the last
    reading that gives an indicator, unless an earlier one already gave a different,
    plausible one: then the token is ambiguous and refused, showing both."""
    chosen: tuple[Reading, Indicator] | None = None
    last_error: _Rejected | None = None
    for reading in readings(text):
        try:
            indicator = _parse_reading(reading.text)
        except _Rejected as rejected:
            if rejected.email and chosen is not None and _is_plausible(chosen[1]):
                raise _Rejected(_ambiguity(chosen, reading, "an email address"), refanged=False) from None
            last_error = rejected
            continue
        if chosen is not None and chosen[1] != indicator and _is_plausible(chosen[1]):
            raise _Rejected(_ambiguity(chosen, reading, f"`{indicator.defanged}`"), refanged=False)
        chosen = (reading, indicator)
    if chosen is not None:
        return chosen[1]
    assert last_error is not None  # every token has at least one reading
    raise last_error


def _ambiguity(first: tuple[Reading, Indicator], second: Reading, second_is: str) -> str:
    def how(reading: Reading) -> str:
        return "as written" if not reading.notations else "reading " + " and ".join(reading.notations)

    return (
        f"is ambiguous: {how(first[0])} it is `{first[1].defanged}`, {how(second)} it is {second_is}. "
        "Nothing was guessed: write the host with plain dots or `[.]` and a plain `http://`"
    )


def _is_plausible(indicator: Indicator) -> bool:
    """Could this be meant as written? An IP, or a domain under a known public suffix whose
    registered label has no underscore (registries refuse underscores)."""
    if indicator.kind != IndicatorKind.DOMAIN:
        return True
    registered = _icann_suffixes().privatesuffix(indicator.value, accept_unknown=False)
    return registered is not None and "_" not in registered.split(".")[0]


def _parse_reading(text: str) -> Indicator:
    link = _SLACK_LINK.fullmatch(text)
    if link:
        text = link.group(1)
    for char in text:
        if char.isspace():
            raise _Rejected("contains a space: give one domain or IP address per token")
        category = unicodedata.category(char)
        if category == "Cc":
            raise _Rejected(f"contains a control character ({_codepoint(char)})")
        if category == "Cf" and char not in _ALLOWED_FORMAT_CHARS:
            raise _Rejected(f"contains an invisible formatting character ({_codepoint(char)})")

    scheme = _KNOWN_SCHEME.match(text)
    if scheme:
        return _from_authority(text, text[scheme.end() :], url=True)
    if _ANY_SCHEME.match(text):
        raise _Rejected("is a URL with an unsupported scheme: only http, https and ftp URLs are understood")
    if text.startswith("//"):
        return _from_authority(text, text[2:], url=True)
    if _MAILTO.match(text):
        raise _Rejected(_email_reason(text[len("mailto:") :]), email=True)
    return _from_authority(text, _without_single_address_prefix(text), url=False)


def _without_single_address_prefix(text: str) -> str:
    """Refuse CIDR ranges; `/32` and `/128` are one address, so return it without the prefix."""
    left, slash, right = text.partition("/")
    if not slash or not _PREFIX_LENGTH.fullmatch(right):
        return text
    candidate = left[1:-1] if left.startswith("[") and left.endswith("]") else left
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return text
    if int(right) == address.max_prefixlen:
        return left
    raise _Rejected(
        "is a CIDR range, and CIDR ranges are not supported yet: monitor the addresses one by one"
    )


def _from_authority(text: str, rest: str, *, url: bool) -> Indicator:
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    if "@" in authority:
        if not url:
            if not _EMAIL_SHAPE.fullmatch(authority):
                # `!!!@@@###` has an @, not an address: no mailbox, no domain.
                raise _Rejected("is not a domain, IP address or URL")
            raise _Rejected(_email_reason(authority), email=True)
        authority = authority.rpartition("@")[2]
    host, bracketed = _split_port(authority, url=url)
    if not host:
        raise _Rejected("has no host name")
    try:
        return _classify_host(host, bracketed=bracketed)
    except _Rejected as rejected:
        if host in (text, f"[{host}]") or rejected.subject is not None:
            raise
        raise _Rejected(rejected.reason, subject=host) from None


def _split_port(authority: str, *, url: bool) -> tuple[str, bool]:
    """Split `host:port` or `[v6]:port`; return the host and whether it was in brackets."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _Rejected("has a `[` with no matching `]`")
        after = authority[end + 1 :]
        if after and not after.startswith(":"):
            raise _Rejected("has text after the `]` that closes the IPv6 address")
        if after:
            _check_port(after[1:], authority[1:end])
        return authority[1:end], True
    colons = authority.count(":")
    if colons == 0:
        return authority, False
    if colons == 1:
        host, _, port = authority.partition(":")
        _check_port(port, host)
        return host, False
    if url:
        raise _Rejected(
            "has an IPv6 address without brackets: in a URL it is written `http://[2001:db8::1]/`"
        )
    return authority, False


def _check_port(port: str, host: str) -> None:
    if port == "" or (_PORT.fullmatch(port) and int(port) <= 65535):
        return
    if "." not in host and ":" not in host:
        raise _Rejected("is not a domain, IP address or URL")
    raise _Rejected("has an invalid port: a port is a number from 0 to 65535")


def _email_reason(address: str) -> str:
    domain = address.rpartition("@")[2]
    try:
        indicator = _classify_host(domain, bracketed=False)
    except _Rejected:
        return "looks like an email address, and email addresses are not something Watchpost monitors"
    return f"looks like an email address: monitor the domain `{indicator.defanged}` instead"


def _classify_host(host: str, *, bracketed: bool) -> Indicator:
    if bracketed or ":" in host:
        return _classify_ip(_parse_ipv6(host))
    if not host.isascii():
        host = _uts46(host)
    if _IPV4_LIKE.fullmatch(host):
        return _classify_ip(_parse_ipv4(host))
    return _parse_domain(host)


# --- IP addresses ----------------------------------------------------------------------


def _parse_ipv4(host: str) -> ipaddress.IPv4Address:
    parts = host.split(".")
    if len(parts) != 4 or "" in parts:
        raise _Rejected("is not a valid IPv4 address: it needs four numbers separated by dots")
    if any(len(part) > 1 and part.startswith("0") for part in parts):
        raise _Rejected(
            "is ambiguous: a number with a leading zero is read as octal by some tools; "
            "write the address without leading zeros"
        )
    if any(len(part) > 3 or int(part) > 255 for part in parts):
        raise _Rejected("is not a valid IPv4 address: each number must be from 0 to 255")
    return ipaddress.IPv4Address(host)


def _parse_ipv6(host: str) -> _IPAddress:
    if "%" in host:
        raise _Rejected(
            "has a zone id (the part after `%`), which only means something on one machine: "
            "give the address without it"
        )
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        if _IPV4_LIKE.fullmatch(host):
            raise _Rejected("puts an IPv4 address in brackets: brackets are only for IPv6") from None
        raise _Rejected("is not a valid IPv6 address") from None
    mapped = address.ipv4_mapped
    return address if mapped is None else mapped


def _networks(
    *pairs: tuple[str, str],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(network), what) for network, what in pairs)


# IANA special-purpose registries; the first match names the reason, so specific first.
_IPV4_GLOBAL_EXCEPTIONS = _networks(("192.0.0.9/32", ""), ("192.0.0.10/32", ""))
_IPV4_REFUSED = _networks(
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", 'a reserved address ("this network", 0.0.0.0/8)'),
    ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
    ("100.64.0.0/10", "a shared address (carrier-grade NAT, 100.64.0.0/10)"),
    ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
    ("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
    ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
    ("192.0.0.0/24", "a reserved address (IETF protocol assignments, 192.0.0.0/24)"),
    ("192.0.2.0/24", "a documentation address (192.0.2.0/24)"),
    ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
    ("198.18.0.0/15", "a reserved address (benchmarking, 198.18.0.0/15)"),
    ("198.51.100.0/24", "a documentation address (198.51.100.0/24)"),
    ("203.0.113.0/24", "a documentation address (203.0.113.0/24)"),
    ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
)
_IPV6_GLOBAL_EXCEPTIONS = _networks(
    ("2001:1::1/128", ""),
    ("2001:1::2/128", ""),
    ("2001:3::/32", ""),
    ("2001:4:112::/48", ""),
    ("2001:20::/28", ""),
    ("2001:30::/28", ""),
)
_IPV6_REFUSED = _networks(
    ("::/128", "the unspecified address"),
    ("::1/128", "the loopback address"),
    ("64:ff9b:1::/48", "a private address (local-use NAT64, 64:ff9b:1::/48)"),
    ("100::/64", "a reserved address (discard-only, 100::/64)"),
    ("2001::/23", "a reserved address (IETF protocol assignments, 2001::/23)"),
    ("2001:db8::/32", "a documentation address (2001:db8::/32)"),
    ("3fff::/20", "a documentation address (3fff::/20)"),
    ("fc00::/7", "a private address (unique local, fc00::/7)"),
    ("fe80::/10", "a link-local address (fe80::/10)"),
    ("fec0::/10", "a reserved address (deprecated site-local, fec0::/10)"),
    ("ff00::/8", "a multicast address (ff00::/8)"),
)
_IPV6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def _classify_ip(address: _IPAddress) -> Indicator:
    if isinstance(address, ipaddress.IPv4Address):
        exceptions, refused = _IPV4_GLOBAL_EXCEPTIONS, _IPV4_REFUSED
    else:
        exceptions, refused = _IPV6_GLOBAL_EXCEPTIONS, _IPV6_REFUSED
        if address in _IPV6_NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            raise _Rejected(f"is a NAT64 address: monitor the IPv4 address `{embedded}` instead")
    if not any(address in network for network, _ in exceptions):
        for network, what in refused:
            if address in network:
                raise _Rejected(f"is {what}: {_NOT_INTERNET}")
    if isinstance(address, ipaddress.IPv6Address) and address not in _IPV6_GLOBAL_UNICAST:
        raise _Rejected(f"is a reserved address (outside the global unicast range 2000::/3): {_NOT_INTERNET}")
    return Indicator(str(address), IndicatorKind.IP)


# --- domains ---------------------------------------------------------------------------

_SPECIAL_USE_TLDS = {
    "localhost": "it always means the machine itself (RFC 6761)",
    "local": "it only exists on a local network (multicast DNS, RFC 6762)",
    "test": "it is reserved for testing and never exists on the internet (RFC 6761)",
    "invalid": "it is reserved as a name that never exists (RFC 6761)",
    "example": "it is reserved for documentation (RFC 6761)",
    "onion": "Tor onion services are not in the DNS, so there is nothing to watch (RFC 7686)",
    "internal": "it is reserved for private networks",
    "alt": "it is reserved for name systems other than the DNS (RFC 9476)",
    "arpa": "it belongs to the DNS infrastructure (reverse DNS, home.arpa): monitor the IP address "
    "or domain itself",
}


_LABEL_TOO_LONG = "has a label longer than 63 characters, the most a DNS label can have"


def _uts46(host: str) -> str:
    """Apply the UTS #46 mapping browsers use: case folding, full-width forms, `。` as a dot."""
    try:
        return idna.uts46_remap(host, std3_rules=False, transitional=False)
    except idna.IDNAError as error:
        raise _Rejected(_idna_reason(error)) from None


def _parse_domain(host: str) -> Indicator:
    name = host.lower()
    if "*" in name:
        raise _Rejected(_wildcard_reason(name))
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise _Rejected("is not a domain, IP address or URL")
    labels = name.split(".")
    if labels[0] == "":
        raise _Rejected("starts with a dot: give the domain without it")
    if "" in labels:
        raise _Rejected("has an empty label (two dots in a row)")
    ascii_labels = [_ascii_label(label) for label in labels]
    value = ".".join(ascii_labels)
    if len(value) > 253:
        raise _Rejected("is longer than 253 characters, the most a domain name can have")
    tld = ascii_labels[-1]
    if tld in _SPECIAL_USE_TLDS:
        raise _Rejected(f"is a special-use name (.{tld}): {_SPECIAL_USE_TLDS[tld]}")
    if len(ascii_labels) == 1:
        raise _Rejected(
            "is a top-level domain or a bare host name, not something to monitor: "
            "give a full domain name, with at least one dot"
        )
    if tld.isdigit():
        raise _Rejected(
            "has an all-numeric top-level domain, so it is neither a domain name nor an IP address"
        )
    if "_" in tld:
        raise _Rejected("has an underscore in its top-level domain, which no top-level domain has")
    return Indicator(value, IndicatorKind.DOMAIN)


def _wildcard_reason(name: str) -> str:
    reason = "is a wildcard, and wildcards are not supported"
    if name.startswith("*."):
        try:
            parent = _parse_domain(name[2:])
        except _Rejected:
            return reason
        return (
            f"{reason}: monitor `{parent.defanged}` instead; new subdomains show up in its subdomains dataset"
        )
    return reason


def _ascii_label(label: str) -> str:
    """Return the label's ASCII (A-label) form, or refuse it."""
    if label.isascii():
        for char in label:
            if not _ASCII_LABEL_CHAR.fullmatch(char):
                shown = escape_in_code(char)
                raise _Rejected(f"contains `{shown}`, which is not allowed in domain names")
        if label.startswith("-") or label.endswith("-"):
            raise _Rejected("has a label that starts or ends with a hyphen")
        if len(label) > 63:
            raise _Rejected(_LABEL_TOO_LONG)
        if label.startswith("xn--"):
            try:
                idna.ulabel(label)
            except idna.IDNAError:
                raise _Rejected(
                    f"has a label that is not valid punycode ({_shown(label)}), so it is not a valid "
                    "internationalised domain name"
                ) from None
        ascii_label = label
    else:
        try:
            ascii_label = idna.alabel(label).decode("ascii")
        except idna.IDNAError as error:
            if "too long" in str(error).lower():
                raise _Rejected(_LABEL_TOO_LONG) from None
            raise _Rejected(_idna_reason(error)) from None
    if len(ascii_label) > 63:
        raise _Rejected(_LABEL_TOO_LONG)
    return ascii_label


def _idna_reason(error: idna.IDNAError) -> str:
    reason = "is not a valid internationalised domain name (IDNA 2008)"
    if isinstance(error, idna.IDNABidiError):
        return f"{reason}: it mixes left-to-right and right-to-left text in a way that is not allowed"
    codepoint = _CODEPOINT_IN_IDNA_ERROR.search(str(error))
    if codepoint:
        number = int(codepoint.group(1), 16)
        name = unicodedata.name(chr(number), "") if number <= 0x10FFFF else ""
        named = f" {name.lower()}" if name else ""
        return f"{reason}: U+{number:04X}{named} is not allowed in domain names"
    return reason


# --- showing tokens in messages --------------------------------------------------------

_LINKABLE_SCHEME = re.compile(r"(?<![a-z0-9+.-])(https|http|ftp)(?=:)", re.IGNORECASE)
_DEFANGED_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp"}
_MRKDWN_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "'"}


def _shown(token: str, *, refanged: bool = True) -> str:
    """The token as it may appear in a message: refanged, cut short, defanged, escaped, in backticks."""
    text = refang(token) if refanged else token
    cut = text[:_SHOWN_CHARS]
    defanged = _LINKABLE_SCHEME.sub(lambda m: _DEFANGED_SCHEMES[m.group(1).lower()], cut)
    defanged = defanged.replace(".", "[.]")
    ellipsis = "…" if len(text) > _SHOWN_CHARS else ""
    return f"`{escape_in_code(defanged)}{ellipsis}`"


def escape_in_code(text: str) -> str:
    """Untrusted text for inside backticks in Slack mrkdwn: `&`, `<`, `>` escaped, a
    backtick made a quote, and non-printable characters written out (`\\u202e`)."""
    return "".join(
        _MRKDWN_ESCAPES.get(char)
        or (char if char.isprintable() else char.encode("unicode_escape").decode("ascii"))
        for char in text
    )


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


@functools.cache
def _icann_suffixes() -> PublicSuffixList:
    # ICANN section only: WHOIS of foo.blogspot.com is blogspot.com's registration.
    return PublicSuffixList(only_icann=True)


def registered_domain(domain: str) -> str:
    """The name a registrar registered: `login.evil.co.uk` -> `evil.co.uk` (the public
    suffix list shipped with the package; no network). A suffix alone is returned as is."""
    return _icann_suffixes().privatesuffix(domain) or domain
