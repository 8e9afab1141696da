"""The lookalike matcher alone, on one core: `--watches` watches (nine lookalike watches
for every keyword watch, brands of 5 to 12 letters) against `--entries` CT entries of 1 to
4 names each, realistic host names of unrelated domains with one entry in 200 a lookalike
of a watched brand (several matching rules). Measures the matcher's build time, entries/s
and names/s through `hits_for_entries` (what the CT sink runs per batch, storage aside),
and peak RSS. Prints JSON.

    .venv/bin/python -m bench.lookalike_matcher [--watches 1000] [--entries 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from datetime import UTC, datetime, timedelta

from bot.watches.ct.entries import CtEntry
from bot.watches.matcher import Matcher
from bot.watches.model import Watch, WatchKind
from bot.watches.service import hits_for_entries

SYLLABLES = (
    "ka",
    "ro",
    "mi",
    "te",
    "vo",
    "lan",
    "sar",
    "bel",
    "dex",
    "qua",
    "zor",
    "fin",
    "tra",
    "nor",
    "gal",
)
TLDS = ("com", "net", "org", "ru", "de", "io", "co.uk", "info", "xyz", "app")
HOSTS = ("www", "mail", "api", "cdn", "shop", "login", "m", "static", "vpn", "portal")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def word(rng: random.Random, low: int, high: int) -> str:
    text = ""
    while len(text) < low:
        text += rng.choice(SYLLABLES)
    return text[:high]


def watches(count: int, rng: random.Random) -> list[Watch]:
    made: dict[tuple[WatchKind, str], Watch] = {}
    while len(made) < count:
        kind = WatchKind.KEYWORD if len(made) % 10 == 9 else WatchKind.LOOKALIKE
        term = word(rng, 6, 12) if kind is WatchKind.KEYWORD else f"{word(rng, 5, 12)}.{rng.choice(TLDS)}"
        made.setdefault((kind, term), Watch(len(made) + 1, "T1", f"C{len(made) % 50}", kind, term, CREATED))
    return list(made.values())


def lookalike_of(brand: str, rng: random.Random) -> str:
    label, _, suffix = brand.partition(".")
    options = (
        f"{label}{suffix.replace('.', '')}.com",  # brand+TLD
        f"{label}-login.{rng.choice(TLDS)}",  # contains the brand
        f"{label[:2]}{label[3:]}.{suffix}",  # omission
        f"{label}.{rng.choice(TLDS)}",  # TLD swap
    )
    return rng.choice(options)


def entries(count: int, brands: list[str], rng: random.Random) -> list[CtEntry]:
    made = []
    at = CREATED + timedelta(days=1)
    for index in range(count):
        letters = "".join(rng.choices(LETTERS, k=rng.randrange(4, 15)))
        domain = f"{letters}{rng.randrange(100)}.{rng.choice(TLDS)}"
        if index % 200 == 0:
            domain = lookalike_of(rng.choice(brands), rng)
        names = [domain, *(f"{h}.{domain}" for h in rng.sample(HOSTS, rng.randrange(0, 4)))]
        made.append(CtEntry("bench-log", index, tuple(names), index % 2 == 0, "Bench CA", at, f"{index:x}"))
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--watches", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    rng = random.Random(14)
    watched = watches(args.watches, rng)
    brands = [w.term for w in watched if w.kind is WatchKind.LOOKALIKE]
    feed = entries(args.entries, brands, rng)
    started = time.perf_counter()
    matcher = Matcher(watched)
    built = time.perf_counter() - started
    names = sum(len(e.names) for e in feed)
    hits = 0
    started = time.process_time()
    for start in range(0, len(feed), args.batch):
        hits += len(hits_for_entries(matcher, feed[start : start + args.batch]))
    cpu = time.process_time() - started
    print(
        json.dumps(
            {
                "watches": len(watched),
                "entries": len(feed),
                "names": names,
                "build_seconds": round(built, 2),
                "entries_per_second_per_core": round(len(feed) / cpu),
                "names_per_second_per_core": round(names / cpu),
                "channel_hits": hits,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
