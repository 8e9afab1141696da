"""The CT reader and the real lookalike matcher together, as `watchpost serve` runs them:
bench/ct_reader.py's loopback log of real certificates (its `serve`, in a process of its
own) read by `CtFollower`, each batch through `hits_for_entries` of a `Matcher` of
`--watches` watches (nine lookalike watches `<word>.com` for every keyword watch; about one
name in a hundred holds a watched word). Storage is left out: it is written only for
matches. Prints JSON: entries/s per core of the reading process (reader + matcher CPU
time), the matcher's build time, RSS along the way.

    .venv/bin/python -m bench.lookalike_pipeline [--entries 1000000] [--api static] [--watches 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench.ct_reader import rss_mb, serve, watch_words
from bot.watches.ct.entries import CtEntry
from bot.watches.ct.follower import CtFollower
from bot.watches.ct.http import ct_http_client
from bot.watches.ct.positions import MemoryPositions
from bot.watches.matcher import Matcher
from bot.watches.model import Watch, WatchKind
from bot.watches.service import hits_for_entries

CREATED = datetime(2020, 1, 1, tzinfo=UTC)  # before every logged entry: all of them count


def watches_of(words: Sequence[str]) -> list[Watch]:
    return [
        Watch(i + 1, "T1", f"C{i % 50}", WatchKind.KEYWORD, word, CREATED)
        if i % 10 == 9
        else Watch(i + 1, "T1", f"C{i % 50}", WatchKind.LOOKALIKE, f"{word}.com", CREATED)
        for i, word in enumerate(words)
    ]


async def read(list_url: str, entries: int, matcher: Matcher) -> dict[str, Any]:
    positions = MemoryPositions()
    http = ct_http_client(list_url, timeout=120.0)
    reader = CtFollower(http, positions, log_list_url=list_url, batch_size=1024, max_catch_up=entries)

    async def ignore(batch: Sequence[CtEntry]) -> None:
        return None

    await reader.poll_once(ignore)  # a new log starts at its tree size: rewind it to 0
    (identity,) = positions.positions
    await positions.save(identity, 0, 0, datetime.now(UTC))
    hits = 0
    samples = [(0, rss_mb())]
    done = 0

    async def sink(batch: Sequence[CtEntry]) -> None:
        nonlocal hits, done
        hits += len(hits_for_entries(matcher, batch))
        before, done = done, done + len(batch)
        if done // max(1, entries // 10) != before // max(1, entries // 10):
            samples.append((done, rss_mb()))

    cpu, wall = time.process_time(), time.perf_counter()
    report = await reader.poll_once(sink)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await http.close()
    (log_report,) = report.logs
    if log_report.error:
        raise SystemExit(f"the reader stopped: {log_report.error}")
    return {
        "entries_read": log_report.entries_read,
        "channel_hits": hits,
        "entries_per_cpu_second": round(log_report.entries_read / cpu),
        "entries_per_wall_second": round(log_report.entries_read / wall),
        "rss_samples_mb": [(n, round(mb)) for n, mb in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--api", default="static")
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--watches", type=int, default=1000)
    args = parser.parse_args()
    words = watch_words(args.watches)
    started = time.perf_counter()
    matcher = Matcher(watches_of(words))
    results: dict[str, Any] = {
        "watches": args.watches,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(args.api, args.entries, args.pool, words, child), daemon=True
    )
    server.start()
    list_url = parent.recv()
    try:
        results[args.api] = asyncio.run(read(list_url, args.entries, matcher))
    finally:
        parent.send("stop")
        parent.recv()
        server.join(10)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
