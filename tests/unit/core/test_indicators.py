"""Tests for bot.core.indicators: tables for every rule, properties for what must always hold."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import IndicatorError, UserInputError
from bot.core.indicators import (
    MAX_INDICATORS_PER_COMMAND,
    Indicator,
    parse_indicator,
    parse_indicators,
    refang,
    registered_domain,
)
from bot.core.observations import IndicatorKind

IP = IndicatorKind.IP
DOMAIN = IndicatorKind.DOMAIN
NOT_INTERNET = "Watchpost watches internet infrastructure"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

fast = settings(max_examples=200, deadline=None)


# --- tables ----------------------------------------------------------------------------

VALID = [
    # IPv4
    ("98.126.38.107", "98.126.38.107", IP),
    ("98.126.38[.]107", "98.126.38.107", IP),
    ("8.8.8.8/32", "8.8.8.8", IP),
    ("1.1.1.1:53", "1.1.1.1", IP),
    ("192.0.0.9", "192.0.0.9", IP),
    ("１.２.３.４", "1.2.3.4", IP),
    # IPv6
    ("2001:4860:4860:0000:0000:0000:0000:8888", "2001:4860:4860::8888", IP),
    ("2606:4700:4700::1111", "2606:4700:4700::1111", IP),
    ("2606:4700:4700::1111/128", "2606:4700:4700::1111", IP),
    ("[2606:4700:4700::1111]", "2606:4700:4700::1111", IP),
    ("[2606:4700:4700::1111]:443", "2606:4700:4700::1111", IP),
    ("2A00:1450::1", "2a00:1450::1", IP),
    ("::ffff:8.8.8.8", "8.8.8.8", IP),
    ("::ffff:808:808", "8.8.8.8", IP),
    ("2001:3::1", "2001:3::1", IP),
    # domains
    ("evil.com", "evil.com", DOMAIN),
    ("EVIL.Com", "evil.com", DOMAIN),
    ("evil.com.", "evil.com", DOMAIN),
    ("evil[.]com", "evil.com", DOMAIN),
    ("evil(.)com", "evil.com", DOMAIN),
    ("evil{.}com", "evil.com", DOMAIN),
    ("evil[dot]com", "evil.com", DOMAIN),
    ("evil(DOT)com", "evil.com", DOMAIN),
    ("evil{dot}com", "evil.com", DOMAIN),
    ("_dmarc.evil.com", "_dmarc.evil.com", DOMAIN),
    ("a-b.evil.com", "a-b.evil.com", DOMAIN),
    ("1.2.3.com", "1.2.3.com", DOMAIN),
    ("münchen.de", "xn--mnchen-3ya.de", DOMAIN),
    ("MÜNCHEN.DE", "xn--mnchen-3ya.de", DOMAIN),
    ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de", DOMAIN),
    ("XN--MNCHEN-3YA.DE", "xn--mnchen-3ya.de", DOMAIN),
    ("straße.de", "xn--strae-oqa.de", DOMAIN),
    ("пример.рф", "xn--e1afmkfd.xn--p1ai", DOMAIN),
    ("ЕVIL。com", "xn--vil-qdd.com", DOMAIN),  # Cyrillic Е: a homograph is still a valid IDN
    ("ＥＶＩＬ．ｃｏｍ", "evil.com", DOMAIN),
    ("example.com", "example.com", DOMAIN),
    ("a" * 63 + ".com", "a" * 63 + ".com", DOMAIN),
    (".".join(["a" * 61] * 4), ".".join(["a" * 61] * 4), DOMAIN),  # 247 characters
    # URLs and host:port
    ("http://evil.com", "evil.com", DOMAIN),
    ("https://evil.com/x", "evil.com", DOMAIN),
    ("ftp://evil.com/pub", "evil.com", DOMAIN),
    ("HTTPS://Evil.COM:8443/a/b?c=d#e", "evil.com", DOMAIN),
    ("https://user:secret@evil.com:8080/path?q=1#frag", "evil.com", DOMAIN),
    ("https://user[at]evil[.]com/", "evil.com", DOMAIN),
    ("https://user[@]evil[.]com/", "evil.com", DOMAIN),
    ("hxxp://evil[.]com", "evil.com", DOMAIN),
    ("hxxps://evil[.]com/x", "evil.com", DOMAIN),
    ("hXXps://evil[.]com/x", "evil.com", DOMAIN),
    ("HXXPS://evil[.]com", "evil.com", DOMAIN),
    ("fxp://evil[.]com", "evil.com", DOMAIN),
    ("hxxps[:]//evil[.]com", "evil.com", DOMAIN),
    ("hxxps[://]evil[.]com", "evil.com", DOMAIN),
    ("http://98.126.38.107:8080/x", "98.126.38.107", IP),
    ("http://[2606:4700:4700::1111]:80/x", "2606:4700:4700::1111", IP),
    ("http://evil.com\\@good.com/", "evil.com", DOMAIN),
    ("//evil.com/x", "evil.com", DOMAIN),
    ("evil.com/path", "evil.com", DOMAIN),
    ("evil.com?q=1", "evil.com", DOMAIN),
    ("evil.com:443", "evil.com", DOMAIN),
    ("evil.com:443/x", "evil.com", DOMAIN),
    ("evil.com.:443", "evil.com", DOMAIN),
    # wrappers analysts and Slack put around tokens
    ("`evil.com`", "evil.com", DOMAIN),
    ('"evil.com"', "evil.com", DOMAIN),
    ("  evil.com\u200b ", "evil.com", DOMAIN),
    ("<http://evil.com|evil.com>", "evil.com", DOMAIN),
    ("<https://evil.com/x>", "evil.com", DOMAIN),
]


@pytest.mark.parametrize(("token", "value", "kind"), VALID)
def test_parse_indicator_accepts(token: str, value: str, kind: IndicatorKind) -> None:
    assert parse_indicator(token) == Indicator(value, kind)


INVALID = [
    # IP ranges that are not internet infrastructure
    ("10.0.0.1", "`10[.]0[.]0[.]1` is a private address (10.0.0.0/8): " + NOT_INTERNET),
    ("172.16.5.4", "is a private address (172.16.0.0/12)"),
    ("192.168.1.1", "is a private address (192.168.0.0/16)"),
    ("127.0.0.1", "is a loopback address"),
    ("169.254.169.254", "is a link-local address"),
    ("224.0.0.251", "is a multicast address"),
    ("240.0.0.1", "is a reserved address"),
    ("255.255.255.255", "is the broadcast address"),
    ("0.0.0.0", "is the unspecified address"),
    ("0.1.2.3", "is a reserved address"),
    ("100.64.0.1", "is a shared address (carrier-grade NAT, 100.64.0.0/10)"),
    ("192.0.2.1", "is a documentation address (192.0.2.0/24)"),
    ("198.51.100.7", "is a documentation address (198.51.100.0/24)"),
    ("203.0.113.9", "is a documentation address (203.0.113.0/24)"),
    ("198.18.0.1", "is a reserved address (benchmarking"),
    ("192.0.0.1", "is a reserved address"),
    ("::", "is the unspecified address"),
    ("::1", "is the loopback address"),
    ("[::1]", "`[::1]`: `::1` is the loopback address"),
    ("fe80::1", "is a link-local address"),
    ("fd00::1", "is a private address (unique local"),
    ("ff02::1", "is a multicast address"),
    ("2001:db8::1", "is a documentation address (2001:db8::/32)"),
    ("3fff::1", "is a documentation address (3fff::/20)"),
    ("2001::1", "is a reserved address"),
    ("4000::1", "is a reserved address (outside the global unicast range"),
    ("::ffff:10.0.0.1", "is a private address"),
    ("::ffff:127.0.0.1", "is a loopback address"),
    ("64:ff9b::808:808", "is a NAT64 address: monitor the IPv4 address `8.8.8.8` instead"),
    ("http://10.0.0.1/admin", "`hxxp://10[.]0[.]0[.]1/admin`: `10[.]0[.]0[.]1` is a private address"),
    ("hxxp://192.168.0[.]1:8080", "`192[.]168[.]0[.]1` is a private address"),
    # malformed IPs
    ("010.1.1.1", "is ambiguous: a number with a leading zero is read as octal"),
    ("1.1.1.01", "is ambiguous"),
    ("256.1.1.1", "is not a valid IPv4 address: each number must be from 0 to 255"),
    ("1.2.3", "is not a valid IPv4 address: it needs four numbers"),
    ("1.2.3.4.5", "is not a valid IPv4 address"),
    ("1..2.3", "is not a valid IPv4 address"),
    ("3232235777", "is not a valid IPv4 address"),
    ("2001:db8:::1", "is not a valid IPv6 address"),
    ("fe80::1%eth0", "has a zone id"),
    ("[fe80::1%25eth0]:80", "has a zone id"),
    ("[1.2.3.4]", "brackets are only for IPv6"),
    ("[2606:4700::1", "has a `[` with no matching `]`"),
    ("[2606:4700::1]x", "has text after the `]`"),
    ("http://2606:4700::1/", "has an IPv6 address without brackets"),
    # CIDR ranges
    (
        "1.2.3.0/24",
        "is a CIDR range, and CIDR ranges are not supported yet: monitor the addresses one by one",
    ),
    ("8.8.8.8/31", "CIDR ranges are not supported yet"),
    ("2001:db8::/48", "CIDR ranges are not supported yet"),
    ("[2606:4700::]/32", "CIDR ranges are not supported yet"),
    ("10.0.0.0/8", "CIDR ranges are not supported yet"),
    # domains
    ("com", "`com` is a top-level domain or a bare host name, not something to monitor"),
    ("evil", "is a top-level domain or a bare host name"),
    ("evil.123", "has an all-numeric top-level domain"),
    ("evil._tld", "has an underscore in its top-level domain"),
    ("-evil.com", "has a label that starts or ends with a hyphen"),
    ("evil-.com", "has a label that starts or ends with a hyphen"),
    ("evil..com", "has an empty label (two dots in a row)"),
    ("evil.com..", "has an empty label"),
    (".evil.com", "starts with a dot"),
    ("a" * 64 + ".com", "has a label longer than 63 characters"),
    ("ü" * 60 + ".com", "has a label longer than 63 characters"),
    (".".join(["a" * 63] * 4), "is longer than 253 characters"),
    ("xn--zz.com", "is not valid punycode"),
    ("i❤.ws", "is not a valid internationalised domain name (IDNA 2008): U+2764 heavy black heart"),
    ("a\u200db.com", "is not a valid internationalised domain name"),
    ("ü_x.com", "U+005F low line is not allowed"),
    ("evil%2ecom", "contains `%`, which is not allowed in domain names"),
    ("*.evil.com", "is a wildcard, and wildcards are not supported: monitor `evil[.]com` instead"),
    ("*.evil.com", "subdomains dataset"),
    ("evil.*.com", "wildcards are not supported"),
    ("*", "wildcards are not supported"),
    # special-use names
    ("localhost", "is a special-use name (.localhost)"),
    ("foo.localhost", "is a special-use name (.localhost)"),
    ("printer.local", "is a special-use name (.local)"),
    ("evil.test", "is a special-use name (.test)"),
    ("evil.invalid", "is a special-use name (.invalid)"),
    ("evil.example", "is a special-use name (.example)"),
    ("duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", "(.onion)"),
    ("db.internal", "is a special-use name (.internal)"),
    ("evil.alt", "is a special-use name (.alt)"),
    ("router.home.arpa", "is a special-use name (.arpa)"),
    ("1.0.0.10.in-addr.arpa", "is a special-use name (.arpa)"),
    ("onion", "is a special-use name (.onion)"),
    # email addresses
    (
        "user@evil.com",
        "`user@evil[.]com` looks like an email address: monitor the domain `evil[.]com` instead",
    ),
    ("user[at]evil[.]com", "monitor the domain `evil[.]com` instead"),
    ("user(at)evil.com", "monitor the domain `evil[.]com` instead"),
    ("mailto:user@evil.com", "monitor the domain `evil[.]com` instead"),
    ("<mailto:user@evil.com|user@evil.com>", "monitor the domain `evil[.]com` instead"),
    ("b@c", "looks like an email address, and email addresses are not something Watchpost monitors"),
    # garbage
    ("!!!", "`!!!` contains `!`, which is not allowed in domain names"),
    ("<script>", "`&lt;script&gt;` contains `&lt;`, which is not allowed"),
    ("a b@c", "contains a space"),
    ("evil\x00.com", "contains a control character (U+0000)"),
    ("evil\u202e.com", "contains an invisible formatting character (U+202E)"),
    ("javascript:alert(1)", "is not a domain, IP address or URL"),
    ("file:///etc/passwd", "is a URL with an unsupported scheme"),
    ("ssh://evil.com", "only http, https and ftp URLs are understood"),
    ("evil.com:99999", "has an invalid port"),
    ("evil.com:http", "has an invalid port"),
    ("http://", "has no host name"),
    ("https://user@/x", "has no host name"),
    ("``", "is not a domain, IP address or URL"),
    (".", "is not a domain, IP address or URL"),
]


@pytest.mark.parametrize(("token", "message"), INVALID)
def test_parse_indicator_rejects_with_reason(token: str, message: str) -> None:
    with pytest.raises(IndicatorError) as caught:
        parse_indicator(token)
    text = str(caught.value)
    assert message in text
    assert text.startswith("`")
    assert "\n" not in text


def test_indicator_error_is_user_input_error() -> None:
    with pytest.raises(UserInputError):
        parse_indicator("10.0.0.1")


@pytest.mark.parametrize("token", ["", "   ", "\n\t"])
def test_parse_indicator_empty(token: str) -> None:
    with pytest.raises(IndicatorError, match=r"^Give at least one domain or IP address"):
        parse_indicator(token)


def test_parse_indicator_too_long_token_is_not_echoed() -> None:
    token = "evil" * 600 + ".com"
    with pytest.raises(IndicatorError) as caught:
        parse_indicator(token)
    assert str(caught.value) == (
        "A token of 2,404 characters is too long to be a domain, IP address or URL (at most 2,000)"
    )


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("x" * 150 + "!", "`" + "x" * 100 + "…`"),  # cut to 100 characters
        ("<!channel>", "`&lt;!channel&gt;`"),  # cannot mention anyone
        ("a&b", "`a&amp;b`"),
        ("a`b", "`a'b`"),  # cannot close the code span
        ("http://evil.test/<x>", "`hxxp://evil[.]test/&lt;x&gt;`"),
        ("evil.com\x07", "`evil[.]com\\x07`"),
        ("evil\u202e.com", "`evil\\u202e[.]com`"),
    ],
)
def test_parse_indicator_shows_tokens_safely(token: str, shown: str) -> None:
    message = str(_raised(lambda: parse_indicator(token)))
    assert message.startswith(shown), message


@pytest.mark.parametrize(
    ("value", "kind", "display", "defanged"),
    [
        ("98.126.38.107", IP, "98.126.38.107", "98.126.38[.]107"),
        ("2606:4700::1111", IP, "2606:4700::1111", "2606:4700::1111"),
        ("evil.com", DOMAIN, "evil.com", "evil[.]com"),
        ("login.evil.co.uk", DOMAIN, "login.evil.co.uk", "login[.]evil[.]co[.]uk"),
        ("xn--mnchen-3ya.de", DOMAIN, "münchen.de (xn--mnchen-3ya.de)", "xn--mnchen-3ya[.]de"),
        ("xn--e1afmkfd.xn--p1ai", DOMAIN, "пример.рф (xn--e1afmkfd.xn--p1ai)", "xn--e1afmkfd[.]xn--p1ai"),
        ("_dmarc.evil.com", DOMAIN, "_dmarc.evil.com", "_dmarc[.]evil[.]com"),
    ],
)
def test_indicator_display_and_defanged(value: str, kind: IndicatorKind, display: str, defanged: str) -> None:
    indicator = Indicator(value, kind)
    assert indicator.display == display
    assert indicator.defanged == defanged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evil[.]com", "evil.com"),
        ("evil[ . ]com", "evil.com"),
        ("evil(.)com{.}net", "evil.com.net"),
        ("evil[DOT]com(Dot)net{dot}org", "evil.com.net.org"),
        ("hxxp://a", "http://a"),
        ("hxxps://a", "https://a"),
        ("hXXps://a", "https://a"),
        ("HXXP://a", "http://a"),
        ("fxp://a", "ftp://a"),
        ("hxxps[:]//a", "https://a"),
        ("hxxps[://]a", "https://a"),
        ("user[@]a user[at]a user[AT]a", "user@a user@a user@a"),
        ("hxxp.com", "hxxp.com"),  # only a scheme is refanged, not a name that looks like one
        ("see hxxp://a and ahxxp://b", "see http://a and ahxxp://b"),
        ("98.126.38.107", "98.126.38.107"),
    ],
)
def test_refang(text: str, expected: str) -> None:
    assert refang(text) == expected


# --- parse_indicators ------------------------------------------------------------------


def test_parse_indicators_splits_and_collapses_duplicates() -> None:
    text = "evil.com EVIL.com.,98.126.38[.]107;\nhxxps://evil[.]com/x\t2606:4700::1111 ::ffff:98.126.38.107"
    assert parse_indicators(text) == [
        Indicator("evil.com", DOMAIN),
        Indicator("98.126.38.107", IP),
        Indicator("2606:4700::1111", IP),
    ]


@pytest.mark.parametrize("text", ["", " ", " , ; \n\t "])
def test_parse_indicators_empty(text: str) -> None:
    with pytest.raises(IndicatorError) as caught:
        parse_indicators(text)
    assert str(caught.value) == "Give at least one domain or IP address, e.g. `/monitor example.com`"


def test_parse_indicators_one_bad_token_is_its_own_message() -> None:
    with pytest.raises(IndicatorError) as caught:
        parse_indicators("10.0.0.1 10.0.0.1")
    assert str(caught.value) == "`10[.]0[.]0[.]1` is a private address (10.0.0.0/8): " + NOT_INTERNET


def test_parse_indicators_lists_every_bad_token_and_applies_nothing() -> None:
    with pytest.raises(IndicatorError) as caught:
        parse_indicators("evil.com 10.0.0.1, com; user@evil.com 10.0.0.1")
    lines = str(caught.value).splitlines()
    assert lines[0] == "3 of the indicators given cannot be used, so nothing was changed:"
    assert lines[1].startswith("• `10[.]0[.]0[.]1` is a private address")
    assert lines[2].startswith("• `com` is a top-level domain")
    assert lines[3].startswith("• `user@evil[.]com` looks like an email address")
    assert len(lines) == 4


def test_parse_indicators_caps_the_listed_problems() -> None:
    text = " ".join(f"bad{i}" for i in range(30))
    lines = str(_raised(lambda: parse_indicators(text))).splitlines()
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "…and 10 more"


def test_parse_indicators_over_limit() -> None:
    text = " ".join(f"host{i}.evil.com" for i in range(MAX_INDICATORS_PER_COMMAND + 1))
    with pytest.raises(IndicatorError) as caught:
        parse_indicators(text)
    assert str(caught.value) == (
        "Too many indicators: at most 50 indicators per command, and 51 were given. "
        "Split them over several commands."
    )


def test_parse_indicators_limit_counts_distinct_indicators() -> None:
    text = "evil.com EVIL.com evil[.]com http://evil.com/ 8.8.8.8 8.8.8[.]8"
    assert len(parse_indicators(text, limit=2)) == 2


def test_parse_indicators_over_limit_and_bad_tokens_reports_both() -> None:
    message = str(_raised(lambda: parse_indicators("a.com b.com c.com 10.0.0.1", limit=2)))
    assert "`10[.]0[.]0[.]1` is a private address" in message
    assert message.splitlines()[-1] == "Also: at most 2 indicators per command, and 3 were given."


def test_parse_indicators_rejects_a_nonsense_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        parse_indicators("evil.com", limit=0)


def _raised(call: Callable[[], object]) -> IndicatorError:
    with pytest.raises(IndicatorError) as caught:
        call()
    return caught.value


# --- properties ------------------------------------------------------------------------

_SPECIAL_TLDS = {"localhost", "local", "test", "invalid", "example", "onion", "internal", "alt", "arpa"}

ascii_labels = st.from_regex(r"[a-z0-9_]([a-z0-9_-]{0,20}[a-z0-9_])?", fullmatch=True).filter(
    lambda label: not label.startswith("xn--")
)
unicode_labels = st.sampled_from(["münchen", "пример", "例え", "bücher", "straße", "παράδειγμα", "ėvil"])
tlds = st.one_of(
    st.sampled_from(["com", "net", "org", "ru", "io", "de", "co", "xn--p1ai", "рф", "中国"]),
    st.from_regex(r"[a-z]{2,12}", fullmatch=True).filter(lambda tld: tld not in _SPECIAL_TLDS),
)
domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(st.one_of(ascii_labels, unicode_labels), min_size=1, max_size=4),
    tlds,
)
# Public ranges of real networks (Google, Cloudflare, RIPE and ARIN space).
_PUBLIC_NETWORKS = [
    "1.0.0.0/8",
    "8.0.0.0/7",
    "98.126.0.0/16",
    "185.0.0.0/8",
    "2001:4860::/32",
    "2606:4700::/32",
    "2a00::/12",
]
public_ips = st.sampled_from(_PUBLIC_NETWORKS).flatmap(lambda network: st.ip_addresses(network=network))
tokenish = st.text(alphabet="0123456789abcdefxX.:[]()/@%-_*hpst,;` \u00fc", max_size=40)
anything = st.one_of(
    st.text(),
    tokenish,
    domains,
    domains.map(str.upper),
    public_ips.map(str),
    st.ip_addresses().map(str),
    st.builds(lambda host, path: f"hxxps://{host}/{path}", domains, st.text(max_size=10)),
)


@fast
@given(st.one_of(st.text(), tokenish))
def test_parse_indicator_raises_only_indicator_error(text: str) -> None:
    try:
        parse_indicator(text)
    except IndicatorError as error:
        message = str(error)
        assert message
        assert "<" not in message and ">" not in message
    # any other exception fails the test


@fast
@given(st.one_of(st.text(), st.lists(st.one_of(tokenish, st.text(max_size=10))).map(" ".join)))
def test_parse_indicators_raises_only_indicator_error(text: str) -> None:
    try:
        parse_indicators(text)
    except IndicatorError as error:
        assert "<" not in str(error) and ">" not in str(error)


@fast
@given(anything)
def test_parse_indicator_is_idempotent(text: str) -> None:
    try:
        indicator = parse_indicator(text)
    except IndicatorError:
        return
    assert parse_indicator(indicator.value) == indicator
    assert parse_indicator(indicator.defanged) == indicator
    assert refang(indicator.value) == indicator.value


@fast
@given(anything)
def test_parse_indicator_domain_values_are_normalised(text: str) -> None:
    try:
        indicator = parse_indicator(text)
    except IndicatorError:
        return
    if indicator.kind == DOMAIN:
        assert indicator.value.isascii()
        assert indicator.value == indicator.value.lower()
        assert len(indicator.value) <= 253
        assert not indicator.value.endswith(".")
        assert all(1 <= len(label) <= 63 for label in indicator.value.split("."))


@fast
@given(domains)
def test_generated_domains_round_trip_through_defanging(domain: str) -> None:
    indicator = parse_indicator(domain)
    assert indicator.kind == DOMAIN
    assert "." not in indicator.defanged.replace("[.]", "")
    assert refang(indicator.defanged) == indicator.value
    assert parse_indicator(indicator.defanged) == indicator
    assert parse_indicator(f"hxxps://{indicator.defanged}/x") == indicator


@fast
@given(public_ips)
def test_public_ips_round_trip_through_defanging(address: Address) -> None:
    indicator = parse_indicator(str(address))
    assert indicator == Indicator(str(address), IP)
    assert refang(indicator.defanged) == indicator.value
    assert parse_indicator(indicator.defanged) == indicator


_IANA_GLOBAL_IN_2001_23 = [
    ipaddress.ip_network(n)
    for n in (
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
    )
]


@fast
@given(st.ip_addresses())
def test_parse_indicator_accepts_only_global_addresses(address: Address) -> None:
    try:
        indicator = parse_indicator(str(address))
    except IndicatorError as error:
        assert NOT_INTERNET in str(error) or "NAT64" in str(error)
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    assert indicator.value == str(address)
    assert not address.is_multicast
    assert address.is_global or any(address in network for network in _IANA_GLOBAL_IN_2001_23)


@fast
@given(
    st.lists(st.one_of(domains, public_ips.map(str)), min_size=1, max_size=12),
    st.lists(st.sampled_from([" ", ",", ";", "\n", "\t", ", ", " ;\n"]), min_size=12, max_size=12),
    st.integers(min_value=1, max_value=12),
)
def test_parse_indicators_respects_limit_and_dedupes(
    tokens: list[str], separators: list[str], limit: int
) -> None:
    text = "".join(token + separator for token, separator in zip(tokens, separators, strict=False))
    expected = list(dict.fromkeys(parse_indicator(token) for token in tokens))
    try:
        result = parse_indicators(text, limit=limit)
    except IndicatorError as error:
        assert len(expected) > limit
        assert f"at most {limit} indicators" in str(error)
        return
    assert result == expected
    assert len(result) <= limit
    assert len(set(result)) == len(result)


@pytest.mark.parametrize(
    ("name", "registered"),
    [
        ("login.evil.com", "evil.com"),
        ("evil.com", "evil.com"),
        ("a.b.evil.co.uk", "evil.co.uk"),
        ("foo.blogspot.com", "blogspot.com"),  # private suffixes do not count for WHOIS
        ("com", "com"),
    ],
)
def test_registered_domain_uses_the_icann_suffixes(name: str, registered: str) -> None:
    assert registered_domain(name) == registered


@pytest.mark.parametrize("token", ["!!!@@@###", "x@@evil.com", "@evil.com"])
def test_parse_indicator_calls_an_at_sign_without_a_mailbox_no_email_address(token: str) -> None:
    with pytest.raises(IndicatorError) as raised:
        parse_indicator(token)
    assert "email" not in str(raised.value)
    assert "is not a domain, IP address or URL" in str(raised.value)


def test_parse_indicator_still_names_a_real_email_address() -> None:
    with pytest.raises(IndicatorError, match="looks like an email address"):
        parse_indicator("analyst@evil.com")
