"""The order people expect lists in (pure): numbers inside names compared as numbers, so
h1, h2, h10 and 9.9.9.9 before 10.0.0.1; letter case ignored, ties broken by the text."""

from __future__ import annotations

import re

_CHUNKS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """A sort key: digit runs by value, everything else case-folded."""
    parts = tuple(
        (0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk.casefold())
        for chunk in _CHUNKS.split(text)
        if chunk
    )
    return parts, text
