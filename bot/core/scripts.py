"""Writing systems in domain names (pure): which scripts a label mixes, the typosquatter's
tool (`pаypal.com` with a Cyrillic `а`).

A label *mixes scripts* when its letters come from more than one script, other than the
combinations a language really writes in one word (Japanese Han + Hiragana + Katakana,
Chinese Han + Bopomofo, Korean Han + Hangul, each possibly with Latin), as in the
"highly restrictive" level of Unicode's UTS #39. Digits, hyphens and combining marks
belong to no script. A name whose labels each use one script (`пример.com`) does not mix.
The script of a letter is read from its Unicode name (`CYRILLIC SMALL LETTER A`).
"""

from __future__ import annotations

import functools
import unicodedata

import idna

__all__ = ["domain_to_unicode", "label_scripts", "mixed_scripts"]

_LATIN = "Latin"
# Scripts a language writes together in one word (UTS #39, highly restrictive), plus Latin.
_TOGETHER = (
    frozenset({_LATIN, "Han", "Hiragana", "Katakana"}),
    frozenset({_LATIN, "Han", "Bopomofo"}),
    frozenset({_LATIN, "Han", "Hangul"}),
)
# First words of Unicode character names that are not the script's name.
_NAME_TO_SCRIPT = {"CJK": "Han", "FULLWIDTH": _LATIN, "HALFWIDTH": "Katakana"}
_NO_SCRIPT = frozenset({"MODIFIER", "KATAKANA-HIRAGANA", "COMBINING"})


@functools.lru_cache(maxsize=4096)
def _script(char: str) -> str | None:
    if not unicodedata.category(char).startswith("L"):
        return None  # digits, hyphens, marks: shared by every script
    first = unicodedata.name(char, "").split(" ", 1)[0]
    if not first or first in _NO_SCRIPT:
        return None
    return _NAME_TO_SCRIPT.get(first, first.capitalize())


def label_scripts(label: str) -> list[str]:
    """The scripts of a label's letters, Latin first, then in order of appearance."""
    found = dict.fromkeys(script for char in label if (script := _script(char)) is not None)
    return sorted(found, key=lambda script: script != _LATIN)


def mixed_scripts(domain: str) -> list[str]:
    """The scripts mixed within one label of `domain` (A-labels are decoded first), e.g.
    `["Latin", "Cyrillic"]` for `xn--pypal-4ve.com` (`pаypal.com`); [] when no label mixes."""
    mixed: dict[str, None] = {}
    for label in domain_to_unicode(domain).split("."):
        scripts = label_scripts(label)
        if len(scripts) > 1 and not any(set(scripts) <= together for together in _TOGETHER):
            mixed.update(dict.fromkeys(scripts))
    return sorted(mixed, key=lambda script: script != _LATIN)


def domain_to_unicode(domain: str) -> str:
    """`xn--e1afmkfd.xn--p1ai` -> `пример.рф`; a label that is not valid punycode stays as it is."""
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = idna.ulabel(label)
            except idna.IDNAError:
                pass
        labels.append(label)
    return ".".join(labels)
