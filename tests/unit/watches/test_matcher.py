"""The lookalike/keyword matcher, table-driven: which names match which watch, and why."""

from __future__ import annotations

from datetime import UTC, datetime

import dnstwist
import idna
import pytest

from bot.watches.folding import decode_name, fold_unicode, skeleton
from bot.watches.matcher import Matcher, keyword_form
from bot.watches.model import Watch, WatchKind
from bot.watches.permutations import BRAND_TLD_RULE, permutations, registrable_domain

AT = datetime(2026, 12, 1, tzinfo=UTC)
INTERFAX = Watch(1, "T1", "C1", WatchKind.LOOKALIKE, "interfax.ru", AT)
BBC = Watch(2, "T1", "C1", WatchKind.LOOKALIKE, "bbc.co.uk", AT)
SBERBANK = Watch(3, "T1", "C2", WatchKind.KEYWORD, "sberbank", AT)
KOMMERSANT = Watch(4, "T1", "C2", WatchKind.LOOKALIKE, "kommersant.ru", AT)
WATCHES = [INTERFAX, BBC, SBERBANK, KOMMERSANT]
CYRILLIC_I = idna.encode("іnterfax").decode()  # Cyrillic і (U+0456)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(WATCHES)


@pytest.mark.parametrize(
    ("name", "registrable", "expected"),
    [
        # The seed's typosquat: brand+TLD concatenation, from a subdomain of it.
        ("www.interfaxru.com", "interfaxru.com", {1: ("permutation", "various")}),
        ("interfaxru.net", "interfaxru.net", {1: ("permutation", BRAND_TLD_RULE)}),
        ("interfax-ru.org", "interfax-ru.org", {1: ("permutation", BRAND_TLD_RULE)}),
        (f"{CYRILLIC_I}.ru", f"{CYRILLIC_I}.ru", {1: ("homoglyph", "interfax")}),
        ("lnterfax.ru", "lnterfax.ru", {1: ("homoglyph", "interfax")}),
        ("1nterfax.ru", "1nterfax.ru", {1: ("homoglyph", "interfax")}),
        ("interfax.com", "interfax.com", {1: ("permutation", "tld-swap")}),
        ("interfax.ws", "interfax.ws", {1: ("tld-swap", "interfax")}),  # a TLD not in the list
        ("inetrfax.ru", "inetrfax.ru", {1: ("permutation", "transposition")}),
        ("intrfax.ru", "intrfax.ru", {1: ("permutation", "omission")}),
        ("intefrax.de", "intefrax.de", {1: ("edit", "interfax")}),
        ("*.interfx.org", "interfx.org", {1: ("edit", "interfax")}),
        ("hinterfax.ru", "hinterfax.ru", {1: ("edit", "interfax")}),
        ("interfax-news.net", "interfax-news.net", {1: ("contains", "interfax")}),
        ("interfax.ru.login-check.example", "login-check.example", {1: ("contains", "interfax")}),
        ("bbc-news.com", "bbc-news.com", {2: ("contains", "bbc")}),
        ("bbc.com", "bbc.com", {2: ("permutation", "tld-swap")}),
        ("sberbank-online.ru", "sberbank-online.ru", {3: ("keyword", "sberbank")}),
        (idna.encode("sbеrbank-pay").decode() + ".com", None, {3: ("keyword", "sberbank")}),
        (
            "kommersant.ru.interfax.ru.phish.example",
            "phish.example",
            {1: ("contains", "interfax"), 4: ("contains", "kommersant")},
        ),
    ],
)
def test_matcher_names_matching(
    matcher: Matcher, name: str, registrable: str | None, expected: dict[int, tuple[str, str]]
) -> None:
    found = matcher.match_name(name)
    assert found is not None, name
    if registrable is not None:
        assert found.registrable == registrable
    assert {r.watch_id: (r.rule, r.detail) for r in found.reasons} == expected


@pytest.mark.parametrize(
    "name",
    [
        "interfax.ru",  # the brand itself
        "www.interfax.ru",
        "*.mail.interfax.ru",
        "bbc.co.uk",
        "news.bbc.co.uk",
        "example.com",
        "interfacs.ru",  # two edits away
        "bbcnews.com",  # a three-letter brand matches as a whole word only
        "bbd.com",  # nor one letter off
        "co.uk",  # a public suffix is nobody's domain
        "",
        "sber-bank.ru",  # a keyword is a substring, not a fuzzy match
    ],
)
def test_matcher_names_not_matching(matcher: Matcher, name: str) -> None:
    assert matcher.match_name(name) is None


def test_matcher_brands_subdomains_never_match_their_own_watch_but_do_others() -> None:
    matcher = Matcher([INTERFAX, Watch(9, "T1", "C9", WatchKind.KEYWORD, "interfax", AT)])
    found = matcher.match_name("secure.interfax.ru")
    assert found is not None and [(r.watch_id, r.rule) for r in found.reasons] == [(9, "keyword")]


def test_matcher_one_match_per_registrable_domain_of_a_certificate(matcher: Matcher) -> None:
    found = matcher.match_names(["interfaxru.com", "www.interfaxru.com", "*.interfaxru.com", "example.org"])
    assert [(m.registrable, [r.watch_id for r in m.reasons]) for m in found] == [("interfaxru.com", [1])]


def test_matcher_finds_every_dnstwist_homoglyph_of_the_brand() -> None:
    """dnstwist's homoglyph fuzzer is not listed (thousands per brand): skeleton matching
    must find what it generates anyway."""
    matcher = Matcher([INTERFAX])
    fuzzer = dnstwist.Fuzzer("interfax.ru")
    fuzzer.subdomain, fuzzer.domain, fuzzer.tld = "", "interfax", "ru"
    fuzzer.generate(fuzzers=["homoglyph"])
    generated = sorted(str(p["domain"]) for p in fuzzer.domains if p["domain"] != "interfax.ru")
    assert len(generated) > 1000
    missed = [d for d in generated if matcher.match_name(d) is None]
    # Two ASCII look-alikes at once (n->m and e->c: `imtcrfax.ru`) are two edits: left out.
    assert missed == ["imtcrfax.ru", "irtcrfax.ru"]


def test_permutations_exclude_the_brand_and_keep_registrable_domains_only() -> None:
    found = permutations("interfax.ru")
    domains = {p.domain for p in found}
    assert "interfax.ru" not in domains
    assert {"interfaxru.com", "interfax.com", "intefax.ru", "interfaxru.net"} <= domains
    assert "interfaxru.co.uk" in domains
    assert all(registrable_domain(d) == d for d in domains)  # no subdomain fuzzer output
    assert {p.rule for p in found} >= {"bitsquatting", "omission", "tld-swap", BRAND_TLD_RULE}


@pytest.mark.parametrize(
    ("text", "folded", "shape"),
    [
        ("іnterfax", "interfax", "lnterfax"),
        ("ΙΝΤΕRFAX", "ivterfax", "lvterfax"),  # Greek capitals, lower-cased then folded
        ("ínterfäx", "interfax", "lnterfax"),
        ("modern", "modern", "modem"),
        ("g00gle", "g00gle", "googl" + "e"),
    ],
)
def test_folding(text: str, folded: str, shape: str | None) -> None:
    assert fold_unicode(text) == folded
    if shape is not None:
        assert skeleton(text) == shape


def test_decode_name_and_keyword_form() -> None:
    assert decode_name(f"www.{CYRILLIC_I}.RU") == "www.іnterfax.ru"
    assert decode_name("xn--zz.com") == "xn--zz.com"  # not punycode: kept
    assert keyword_form(" Іnterfax ") == "interfax"
