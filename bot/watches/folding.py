"""Homoglyph folding (pure): names as the eye reads them.

`fold_unicode` maps every non-ASCII letter that imitates an ASCII one (Cyrillic `і`,
Greek `ο`, Latin `é`, dnstwist's own glyph tables) to that letter and leaves ASCII alone:
what keyword watches match on. `skeleton` also merges the ASCII characters that pass
for one another (`0`/`o`, `1`/`l`/`i`, `rn`/`m`, `vv`/`w`): what lookalike watches compare,
after folding both sides the same way.
"""

from __future__ import annotations

import functools
import unicodedata

import dnstwist  # type: ignore[import-untyped]

# Look-alikes dnstwist's tables do not name (Greek and a few more Cyrillic letters).
_EXTRA_GLYPHS = {
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w", "ѡ": "w", "в": "b", "н": "h", "п": "n", "г": "r", "ԝ": "w",
    "ӏ": "l", "ɩ": "i", "ı": "i", "ʟ": "l",
}  # fmt: skip
_ASCII_CLASSES = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "!": "l"})
_ASCII_SEQUENCES = (("rn", "m"), ("vv", "w"))


@functools.cache
def _unicode_table() -> dict[int, str]:
    table: dict[int, str] = {}
    # Accented Latin letters fold to their base letter (é -> e).
    for code in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFKD", chr(code))[:1].lower()
        if base.isascii() and base.isalnum():
            table[code] = base
    glyph_tables = [dnstwist.Fuzzer.glyphs_unicode, *dnstwist.Fuzzer.glyphs_idn_by_tld.values()]
    for glyphs in glyph_tables:
        for letter, looks in glyphs.items():
            for look in looks:
                if len(look) == 1 and not look.isascii():
                    table.setdefault(ord(look), letter)
    for letter, look in dnstwist.Fuzzer.latin_to_cyrillic.items():
        table[ord(look)] = letter
    for look, letter in _EXTRA_GLYPHS.items():
        table[ord(look)] = letter
    return table


def decode_name(name: str) -> str:
    """A name's Unicode form (`xn--` labels decoded), lower-case; labels that do not
    decode are kept as they are."""
    labels = []
    for label in name.lower().split("."):
        if label.startswith("xn--"):
            # Punycode itself, not IDNA's checks: a label a registry would refuse still
            # shows its letters to whoever reads the certificate.
            try:
                label = label[4:].encode("ascii").decode("punycode").lower()
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


def fold_unicode(text: str) -> str:
    """Non-ASCII look-alikes to the ASCII letter they imitate; ASCII unchanged."""
    text = text.lower()
    if text.isascii():
        return text
    return text.translate(_unicode_table())


def skeleton(text: str) -> str:
    """What a reader sees: fold_unicode, then ASCII characters that pass for each other
    merged. Only for comparing two skeletons, never shown."""
    folded = fold_unicode(text).translate(_ASCII_CLASSES)
    for sequence, letter in _ASCII_SEQUENCES:
        folded = folded.replace(sequence, letter)
    return folded
