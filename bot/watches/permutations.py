"""Permutations of a brand domain (pure): dnstwist's fuzzers used as a library (no
network: only `Fuzzer.generate`), plus brand+TLD concatenations (`interfaxru.com` for
`interfax.ru`) over a list of common TLDs.

dnstwist's `homoglyph` fuzzer is left out of the set: its thousands of two-glyph mixes
per brand are what skeleton matching (`folding.skeleton`) finds without listing them.
Only permutations that are registrable domains themselves are kept: a lookalike is
something someone registered.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dnstwist  # type: ignore[import-untyped]
import idna
from publicsuffixlist import PublicSuffixList

# TLDs where lookalikes are registered most (cheap, open, or the brand's market's).
COMMON_TLDS = (
    "com", "net", "org", "info", "biz", "co", "io", "me", "cc", "tv", "us", "eu", "uk", "co.uk",
    "de", "fr", "ru", "su", "ua", "by", "kz", "cn", "in", "xyz", "top", "online", "site", "shop",
    "store", "app", "dev", "live", "club", "icu", "vip", "cloud", "tech", "news", "media", "press",
    "group", "ltd", "pro", "link", "click", "support", "email", "digital", "network", "world",
)  # fmt: skip
LABEL_FUZZERS = (
    "addition", "bitsquatting", "cyrillic", "hyphenation", "insertion", "omission", "plural",
    "repetition", "replacement", "transposition", "vowel-swap",
)  # fmt: skip
BRAND_TLD_RULE = "brand+TLD"


@dataclass(frozen=True, order=True)
class Permutation:
    domain: str  # ASCII (xn-- for IDN), a registrable domain
    rule: str  # dnstwist's fuzzer name, or BRAND_TLD_RULE


@functools.cache
def suffix_list() -> PublicSuffixList:
    """ICANN and private suffixes: `x.blogspot.com` is registered by whoever holds x."""
    return PublicSuffixList()


def registrable_domain(name: str) -> str | None:
    """The registrable domain of a name (`www.interfaxru.com` -> `interfaxru.com`), None
    for a public suffix or no domain at all."""
    return suffix_list().privatesuffix(name.strip(".").lower())


def brand_parts(domain: str) -> tuple[str, str]:
    """(label, suffix) of a registrable domain: `interfax.ru` -> (`interfax`, `ru`)."""
    suffix = suffix_list().publicsuffix(domain) or domain.rpartition(".")[2]
    label = domain[: -len(suffix) - 1].rpartition(".")[2]
    return label, suffix


@functools.lru_cache(maxsize=4096)
def permutations(domain: str, tlds: tuple[str, ...] = COMMON_TLDS) -> tuple[Permutation, ...]:
    """Every permutation of the registrable domain `domain`, sorted, without `domain`."""
    label, suffix = brand_parts(domain)
    fuzzer = dnstwist.Fuzzer(domain, tld_dictionary=list(tlds))
    # dnstwist guesses the suffix without the public suffix list: tell it.
    fuzzer.subdomain, fuzzer.domain, fuzzer.tld = "", label, suffix
    found: dict[str, str] = {}
    # Each label fuzzer is called as `Fuzzer.generate` calls it (dnstwist is pinned), but
    # only non-ASCII results are IDNA-encoded: encoding all of them (generate's way)
    # takes most of a brand's time.
    for name in LABEL_FUZZERS:
        for label_variant in getattr(fuzzer, "_" + name.replace("-", "_"))():
            candidate = _ascii(f"{label_variant}.{suffix}")
            if candidate is not None:
                found.setdefault(candidate, name)
    for tld in tlds:
        if tld != suffix:
            found.setdefault(f"{label}.{tld}", "tld-swap")
    fuzzer.generate(fuzzers=["various"])
    for item in fuzzer.domains:
        found.setdefault(str(item["domain"]).lower(), str(item["fuzzer"]))
    glued = suffix.replace(".", "")
    for tld in tlds:
        for name in (f"{label}{glued}.{tld}", f"{label}-{suffix.replace('.', '-')}.{tld}"):
            found.setdefault(name, BRAND_TLD_RULE)
    kept = [
        Permutation(name, rule)
        for name, rule in found.items()
        if name != domain and _registrable(name, suffix)
    ]
    return tuple(sorted(kept, key=lambda p: p.domain))


def _ascii(name: str) -> str | None:
    """The name as DNS carries it (`xn--` for IDN), lower-case; None if it is no valid name."""
    name = name.lower()
    if not name.isascii():
        try:
            name = idna.encode(name).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            return None
    return name if dnstwist.VALID_FQDN_REGEX.match(name) else None


def _registrable(name: str, suffix: str) -> bool:
    """Is `name` a registrable domain? One new label under the brand's own suffix is taken
    to be, without asking the suffix list (most permutations: asking 400 times a brand is
    slow); other names (other TLDs) are asked."""
    head, dot, tail = name.partition(".")
    if dot and tail == suffix:
        return bool(head)
    return registrable_domain(name) == name
