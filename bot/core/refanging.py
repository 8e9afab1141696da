"""Refanging: undo the notations analysts and feeds use to stop indicators being links (pure).

Two kinds of rule, because the one thing that must never happen is a wrong host:

- *Sure* rules undo notations that never occur in a real domain, IP or URL: brackets,
  parentheses or braces around a dot, comma, colon, slash, hyphen or `@` (`[.]`, `( . )`,
  `{.}`, `[,]`, `[:]`, `[://]`, `[/]`, `(/)`, `[-]`, `[@]`, `[at]`, `(arroba)`, `[dot]`,
  `(punkt)`, `(punto)`), brackets on one side of a dot (`foo].[com`, `www[.[example`),
  `[www]`, parentheses around the whole token, backslash-escaped dots (`example\\.com`)
  and scheme stand-ins (`hxxp`, `hXXps`, `h**p`, `fxp`, `xxxx`, `[http]`, `http[s]`,
  `http!`, `http//`); before a paste is split, spaces inside or around bracketed notation
  and around a scheme's `://`, and dots written as words between parts (`evil dot com`).
- *Guesses* undo notations that can also be part of a real name: `-dot-`, a bare upper-case
  `DOT` (`fooDOTcom`) or `AT` (`fooATbar.com`), and `__` standing for `//` after a scheme
  (`http__example.com/x`).

`readings(token)` gives the token as written, after the sure rules and after the guesses, so
the parser can take the one that makes sense and refuse when two different hosts both do.
Scheme stand-ins are refanged only in scheme position (`hxxp.com` stays `hxxp.com`).

The library ioc-fanger was evaluated and not used: it is written for prose and rewrites
inside labels, so it turns valid names into other valid names (`shOPping.com` ->
`shttping.com`, `MY-DOTCOM.COM` -> `MY.COM.COM`, `treff-punkt-berlin.de` ->
`treff.berlin.de`), and it misses `[/]`, `(/)`, `h**p`, `fxp`, `http__` and `http:__`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Reading", "join_spaced_notation", "readings", "refang"]

_OPEN = r"[\[\(\{]"
_CLOSE = r"[\]\)\}]"
_BRACKET = r"[\[\](){}]"

# (pattern, replacement, what an explanation calls it)
_SURE_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # First, or its closing bracket would be read as half of a bracketed dot.
    (
        re.compile(rf"(?<![\w.-]){_OPEN}(www){_CLOSE}(?=\.|{_OPEN}\s*(?:\.|dot))", re.IGNORECASE),
        r"\1",
        "`[www]`",
    ),
    (re.compile(rf"{_OPEN}\s*(?:\.|,|dot|punkt|punto)\s*{_CLOSE}", re.IGNORECASE), ".", "a bracketed dot"),
    # A bracket on one side of a dot, or mismatched ones: `foo].[com`, `www[.[example`.
    (re.compile(rf"(?<!{_BRACKET}){_BRACKET}+\.{_BRACKET}*|\.{_BRACKET}+"), ".", "a bracketed dot"),
    (re.compile(rf"{_OPEN}\s*(:?//|://|:|/)\s*{_CLOSE}"), r"\1", "a bracketed colon or slash"),
    (re.compile(rf"{_OPEN}\s*(?:@|at|et|arroba)\s*{_CLOSE}", re.IGNORECASE), "@", "a bracketed `@`"),
    (re.compile(rf"{_OPEN}-{_CLOSE}"), "-", "a bracketed hyphen"),
    (re.compile(r"\\\."), ".", "an escaped dot"),
)

# Scheme stand-ins, only where a scheme can start: `h` + two of x, t, * or _ + `p`
# (hxxp, hXXp, h**p, htxp), x or * four times (xxxx), fxp; optionally in brackets.
_SCHEME_WORD = (
    r"(?<![\w+.\-*])(?:[\[\(\{]\s*)?"
    r"(?P<word>h[xt*_]{2}p|[x*]{4}|x{5}|f[xt]p)(?P<secure>s|\[s\])?"
    # A stray mark some tools put after the scheme (`http!://`, `https&://`).
    r"[!@&]?(?:\s*[\]\)\}])?"
)
_SCHEME = re.compile(_SCHEME_WORD + r"(?P<sep>:(?=[/\\])|//)", re.IGNORECASE)
# `http__example.com/x`, `http:__example.com/x`: a guess, `http__x.example.com` is a valid name.
_SCHEME_UNDERSCORES = re.compile(_SCHEME_WORD + r"(?P<sep>:?__)(?=[^_])", re.IGNORECASE)

_GUESSES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"(?<!-)-+dot-+", re.IGNORECASE), ".", "`-dot-` as a dot"),
    (re.compile(r"(?<![A-Z])DOT(?![A-Z])"), ".", "`DOT` as a dot"),
    (re.compile(r"(?<=[a-z0-9])AT(?=[a-z0-9])"), "@", "`AT` as `@`"),
)

# Spaces analysts leave around or inside bracketed notation (`example [ . ] com`), and
# dots written as words between the parts (`example dot com`), joined before a paste is
# split into tokens. Neither piece alone is ever an indicator, so joining changes no
# reading that could have been used as it was.
# Each pattern starts matching only at the start of a run of spaces or of a word, so a
# paste of any size costs time in proportion to its length (no backtracking blow-up).
_SPACED_BRACKETED = re.compile(
    rf"(?<![ \t])[ \t]*({_OPEN})[ \t]*(\.|,|dot|punkt|punto|:?//|://|:|/)[ \t]*({_CLOSE})[ \t]*",
    re.IGNORECASE,
)
# `http :// example.com`, `http:// example.com`: spaces around a scheme's separator.
_SPACED_SCHEME = re.compile(
    r"(?<![^\s,;])((?:h[xt*_]{2}p|[x*]{4,5}|f[xt]p)s?)(?:[ \t]+(:/+|//+)[ \t]*|(:/+|//+)[ \t]+)(?=[^\s,;])",
    re.IGNORECASE,
)
# `@` only inside its brackets: `at` between words is prose (`evil.com (at) 10:00`).
_SPACED_BRACKETED_AT = re.compile(rf"({_OPEN})[ \t]*(@|at)[ \t]*({_CLOSE})", re.IGNORECASE)
_SPACED_WORD_DOT = re.compile(r"(?<![^\s,;])([^\s,;.]+)[ \t]+(?:dot|punkt)[ \t]+(?=[^\s,;])", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """One way to read a token: the text, and the notations undone to get it."""

    text: str
    notations: tuple[str, ...] = ()


def join_spaced_notation(text: str) -> str:
    """`example [ . ] com` -> `example[.]com`; `example dot com` -> `example[.]com`."""
    if any(char in text for char in "[({"):
        # A bracketed comma is a dot (`5[,]6[,]7[,]8`), and must not split the paste.
        text = _SPACED_BRACKETED.sub(lambda m: m.group(1) + m.group(2).replace(",", ".") + m.group(3), text)
        text = _SPACED_BRACKETED_AT.sub(r"\1\2\3", text)
    if "//" in text or ":/" in text:
        text = _SPACED_SCHEME.sub(lambda m: m.group(1) + (m.group(2) or m.group(3)), text)
    lowered = text.lower()
    if "dot" in lowered or "punkt" in lowered:
        text = _SPACED_WORD_DOT.sub(r"\1[.]", text)
    return text


def refang(text: str) -> str:
    """Undo every notation, sure and guessed (for showing what a token was read as)."""
    return readings(text)[-1].text


def readings(token: str) -> list[Reading]:
    """The token as written, then after the sure rules, then after the guesses; a reading
    that changes nothing is left out, so the list has one to three entries."""
    found = [Reading(token)]
    sure = token
    sure_notations: tuple[str, ...] = ()
    for _ in range(3):  # `((evil.com))`; a few levels, so a token of parentheses costs little
        sure = _without_enclosing_parentheses(sure)
    if sure != token:
        sure_notations = ("the parentheses around it",)
    sure, rule_notations = _apply(_SURE_RULES, sure)
    sure_notations += rule_notations
    sure, scheme_notations = _refang_schemes(_SCHEME, sure)
    sure_notations += scheme_notations
    if sure != token:
        found.append(Reading(sure, sure_notations))
    guessed, guessed_notations = _apply(_GUESSES, sure)
    guessed, scheme_notations = _refang_schemes(_SCHEME_UNDERSCORES, guessed)
    guessed_notations += scheme_notations
    if guessed != sure:
        found.append(Reading(guessed, sure_notations + guessed_notations))
    return found


def _without_enclosing_parentheses(token: str) -> str:
    """`(evil.com)` -> `evil.com`, as prose writes it; `(www).example.com` is left alone."""
    if not (token.startswith("(") and token.endswith(")")):
        return token
    depth = 0
    for index, char in enumerate(token):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(token) - 1:
            return token  # the first parenthesis closes before the end
    return token[1:-1]


def _apply(rules: tuple[tuple[re.Pattern[str], str, str], ...], text: str) -> tuple[str, tuple[str, ...]]:
    notations: list[str] = []
    for pattern, replacement, notation in rules:
        text, count = pattern.subn(replacement, text)
        if count and notation not in notations:
            notations.append(notation)
    return text, tuple(notations)


def _refang_schemes(pattern: re.Pattern[str], text: str) -> tuple[str, tuple[str, ...]]:
    notations: list[str] = []

    def replace(match: re.Match[str]) -> str:
        word = match.group("word").lower()
        scheme = "ftp" if word.startswith("f") else "http"
        if match.group("secure") or word == "xxxxx":
            scheme += "s"
        written, sep = match.group(0), match.group("sep")
        if written.lower() == f"{scheme}:":
            return written  # a plain scheme: nothing to undo
        stand_in = written[: len(written) - len(sep)]
        if stand_in.lower() != scheme:
            notations.append(f"`{stand_in}` as {scheme}")
        if sep == "//":
            notations.append("a missing `:` after the scheme")
        elif sep.endswith("__"):
            notations.append("`__` as `//`")
        return scheme + (":" if sep == ":" else "://")

    text = pattern.sub(replace, text)
    return text, tuple(dict.fromkeys(notations))
