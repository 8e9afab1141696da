"""The Certificate Transparency reader at speed: a loopback log of real certificates fed
through `CtFollower` (HTTP, JSON or tiles, leaf parsing, X.509 names, positions) and a
trivial substring matcher over `--watch-words` words. Prints entries per second per core
(the reader process's own CPU time; the log runs in a process of its own), bytes read per
entry, RSS along the way (flat memory or not), and what reading every usable log would
cost in bandwidth a day.

    .venv/bin/python -m bench.ct_reader [--entries 10000000] [--api rfc6962,static]
                                        [--pool 2000] [--watch-words 1000] [--json out.json]

The log serves `--entries` entries cycled from `--pool` real certificates and
precertificates (each its own P-256 key, issued by an RSA 2048 CA whose chain with its
root is logged alongside, 1 to 4 names each); its tree heads are really signed and
verified, but sign a stand-in for the Merkle root (see tests/fakes/ct_log.py,
RepeatingCtLog). Its replies: get-entries JSON as is (1,024 entries at most a reply,
uncompressed), data tiles gzip-compressed (level 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import string
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.watches.ct.entries import CtEntry
from bot.watches.ct.follower import CtFollower
from bot.watches.ct.http import ct_http_client
from bot.watches.ct.positions import MemoryPositions

# The assumption behind the bandwidth figure (override with --ecosystem-entries-per-day):
# roughly 10 million certificates issued a day, each logged as a precertificate to 2-3 logs,
# some final certificates logged too: about 30 million entries a day over all usable logs.
ECOSYSTEM_ENTRIES_PER_DAY = 30_000_000
RSS_SAMPLES = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--api", default="rfc6962,static")
    parser.add_argument("--pool", type=int, default=2000, help="distinct real certificates cycled through")
    parser.add_argument("--watch-words", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1024, help="entries asked per get-entries")
    parser.add_argument("--ecosystem-entries-per-day", type=int, default=ECOSYSTEM_ENTRIES_PER_DAY)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    words = watch_words(args.watch_words)
    results: dict[str, Any] = {
        "entries": args.entries,
        "pool": args.pool,
        "watch_words": len(words),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_before": os.getloadavg()[0],
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "ecosystem_entries_per_day": args.ecosystem_entries_per_day,
    }
    for api in [a.strip() for a in args.api.split(",") if a.strip()]:
        progress(f"{api}: {args.entries:,} entries from a pool of {args.pool:,} real certificates")
        results[api] = run(api, args.entries, args.pool, words, args.batch_size)
    results["load_after"] = os.getloadavg()[0]
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


# -- the log, in a process of its own ------------------------------------------------------


def serve(api: str, entries: int, pool_size: int, words: list[str], pipe: Connection) -> None:
    from tests.fakes.ct_log import CertificateAuthority, CtLogServer, FakeCtLog, RepeatingCtLog

    authority = CertificateAuthority("Bench Trust Services", "Bench Issuing CA R1", key="rsa")
    pool = FakeCtLog("pool", authority=authority)
    rng = random.Random(14)
    for i in range(pool_size):
        names = [random_name(rng, words) for _ in range(rng.randint(1, 4))]
        if i % 2:
            pool.add_certificate(
                authority.certificate_for(names, fresh_key=True), timestamp_ms=1_764_547_200_000 + i
            )
        else:
            pool.add_precertificate(
                authority.precertificate_for(names, fresh_key=True), timestamp_ms=1_764_547_200_000 + i
            )

    async def run_server() -> None:
        server = CtLogServer()
        server.add(RepeatingCtLog("bench", pool, size=entries, api=api))
        await server.start()
        pipe.send(server.list_url)
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop"
        pipe.send(
            {
                "requests": len(server.requests),
                "wire_bytes": sum(size for path, _, size in server.requests if "bench/" in path),
            }
        )
        await server.stop()

    asyncio.run(run_server())


def random_name(rng: random.Random, words: list[str]) -> str:
    label = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(5, 14)))
    if rng.random() < 0.01:  # about one name in a hundred holds a watched word
        label = f"{label[:3]}{rng.choice(words)}"
    sub = rng.choice(["", "www.", "mail.", "*.", "api.", "cdn-01."])
    return f"{sub}{label}.{rng.choice(['com', 'net', 'org', 'de', 'co.uk', 'io', 'ru'])}"


# -- the reader ------------------------------------------------------------------------------


class SubstringMatcher:
    """The trivial matcher: does a name contain any watched word (all at least 4 long)?
    Words are indexed by their first four letters, so a name costs one dict lookup per
    position instead of one `in` per word."""

    def __init__(self, words: Sequence[str]) -> None:
        self.index: dict[str, list[str]] = {}
        for word in words:
            self.index.setdefault(word[:4], []).append(word)
        self.matches = 0

    def match(self, name: str) -> bool:
        index = self.index
        for position in range(len(name) - 3):
            candidates = index.get(name[position : position + 4])
            if candidates and any(name.startswith(word, position) for word in candidates):
                return True
        return False

    async def __call__(self, entries: Sequence[CtEntry]) -> None:
        for entry in entries:
            for name in entry.names:
                if self.match(name):
                    self.matches += 1
                    break


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def run(api: str, entries: int, pool: int, words: list[str], batch_size: int) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(api, entries, pool, words, child), daemon=True
    )
    server.start()
    list_url = parent.recv()
    try:
        result = asyncio.run(read(list_url, entries, words, batch_size))
    finally:
        parent.send("stop")
        served = parent.recv()
        server.join(10)
    result.update(served)
    result["wire_bytes_per_entry"] = served["wire_bytes"] / max(1, result["entries_read"])
    return result


async def read(list_url: str, entries: int, words: list[str], batch_size: int) -> dict[str, Any]:
    matcher = SubstringMatcher(words)
    positions = MemoryPositions()
    http = ct_http_client(list_url, timeout=120.0)
    reader = CtFollower(http, positions, log_list_url=list_url, batch_size=batch_size, max_catch_up=entries)
    await reader.poll_once(matcher)  # a new log: starts at its tree size; rewind it to 0
    (identity,) = positions.positions
    await positions.save(identity, 0, 0, datetime.now(UTC))
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    every = max(1, entries // RSS_SAMPLES)
    read_so_far = 0

    async def sink(batch: Sequence[CtEntry]) -> None:
        nonlocal read_so_far
        await matcher(batch)
        before = read_so_far
        read_so_far += len(batch)
        if read_so_far // every != before // every:
            samples.append((read_so_far, rss_mb()))
            rate = read_so_far / max(1e-9, time.process_time() - cpu)
            progress(f"{read_so_far:,} entries, {rate:,.0f}/s per core so far, RSS {samples[-1][1]:.0f} MB")

    cpu, wall = time.process_time(), time.perf_counter()
    report = await reader.poll_once(sink)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await http.close()
    (log_report,) = report.logs
    if log_report.error:
        raise SystemExit(f"the reader stopped: {log_report.error}")
    settled = samples[min(2, len(samples) - 1)][1]  # after the first tenth: pools and caches warm
    return {
        "entries_read": log_report.entries_read,
        "unreadable": log_report.unreadable,
        "matches": matcher.matches,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "entries_per_cpu_second": log_report.entries_read / cpu,
        "entries_per_wall_second": log_report.entries_read / wall,
        "bytes_per_entry": log_report.bytes_read / max(1, log_report.entries_read),
        "rss_samples_mb": samples,
        "rss_settled_mb": settled,
        "rss_end_mb": samples[-1][1],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def watch_words(count: int) -> list[str]:
    rng = random.Random(1000)
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10))))
    return sorted(words)


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def render(results: dict[str, Any]) -> str:
    apis = [api for api in ("rfc6962", "static") if api in results]
    per_day = results["ecosystem_entries_per_day"]
    names = {"rfc6962": "RFC 6962 get-entries", "static": "Static CT data tiles"}
    rows = [
        ("entries read", lambda r: f"{r['entries_read']:,}", ""),
        ("entries/s per core (reader CPU time)", lambda r: f"{r['entries_per_cpu_second']:,.0f}", "≥ 5,000"),
        ("entries/s wall clock", lambda r: f"{r['entries_per_wall_second']:,.0f}", ""),
        ("bytes read per entry (decoded body)", lambda r: f"{r['bytes_per_entry']:,.0f}", ""),
        ("bytes on the wire per entry (as served)", lambda r: f"{r['wire_bytes_per_entry']:,.0f}", ""),
        (
            "RSS after the first tenth → at the end (peak)",
            lambda r: f"{r['rss_settled_mb']:.0f} → {r['rss_end_mb']:.0f} MB ({r['peak_rss_mb']:.0f})",
            "flat",
        ),
        ("watched-word matches (1 % of names hold one)", lambda r: f"{r['matches']:,}", ""),
        (
            f"bandwidth a day for every usable log ({per_day / 1e6:g} M entries/day)",
            lambda r: f"{per_day * r['wire_bytes_per_entry'] / 1e9:,.1f} GB",
            "",
        ),
    ]
    lines = [
        "| figure | " + " | ".join(names[a] for a in apis) + " | target |",
        "|---|" + "---|" * len(apis) + "---|",
    ]
    for label, cell, target in rows:
        lines.append(f"| {label} | " + " | ".join(cell(results[a]) for a in apis) + f" | {target} |")
    lines.append(
        f"\n{results['entries']:,} entries per API, pool of {results['pool']:,} real certificates, "
        f"{results['watch_words']:,} watch words; {results['cpus']} CPUs, Python {results['python']}, "
        f"{results['when']}; load average {results['load_before']:.2f} before, "
        f"{results['load_after']:.2f} after."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
