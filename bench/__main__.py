"""Every benchmark, one command, one table: `make bench` (or `.venv/bin/python -m bench`).

Starts Knot DNS on 127.0.0.1:5353 with a generated zone, measures the raw DNS yardsticks
(c-ares through aiodns, dnspython's stock async resolver, Watchpost's multiplexed client)
and then, on SQLite and on PostgreSQL, the end-to-end check cycles at each size, the
database after 1 and 100 no-change cycles, slash-command acks during a cycle of the real
`watchpost serve`, the digest of a 10,000-change day, and the slowest WHOIS parse over the
reply table and hostile replies. Each measurement runs in a
process of its own, so its peak RSS is its own. Nothing leaves the machine.

    .venv/bin/python -m bench [--sizes 1000,10000,100000] [--databases sqlite,postgresql]
                              [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.knot import KnotServer, knot_missing, name_of
from bench.seed import seed_monitors
from bench.vacuum import AutovacuumStandIn
from bot.storage.engine import normalise_database_url

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # bench.checks's clock starts here
# The docs' Scale page includes this file: its figures are what the last full run printed.
FIGURES = REPO / "docs" / "figures" / "bench.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/watchpost_bench")
    parser.add_argument("--dns-port", type=int, default=5353)
    parser.add_argument("--growth-monitors", type=int, default=1000)
    parser.add_argument("--growth-cycles", type=int, default=100)
    parser.add_argument("--ack-monitors", type=int, default=100_000)
    parser.add_argument("--digest-changes", type=int, default=10_000)
    parser.add_argument("--quota-monitors", type=int, default=5000)
    parser.add_argument("--quota-per-minute", type=int, default=100)
    parser.add_argument("--quota-minutes", type=float, default=60.0, help="(scaled) minutes of the quota run")
    parser.add_argument("--quota-scale", type=float, default=10.0, help="how much faster than real time")
    parser.add_argument("--detection-monitors", type=int, default=200)
    parser.add_argument("--detection-changes", type=int, default=40)
    parser.add_argument("--detection-interval", type=int, default=20, help="check interval, seconds")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the bench itself")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--figures",
        type=Path,
        default=FIGURES,
        help="the table the docs include (a --quick run writes none: its sizes are a smoke test)",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.growth_monitors, args.growth_cycles = "500,2000", 100, 5
        args.ack_monitors, args.digest_changes = 2000, 2000
        args.quota_monitors, args.quota_minutes, args.quota_scale = 500, 10.0, 30.0
        args.detection_monitors, args.detection_changes, args.detection_interval = 50, 5, 10
    sizes = [int(size) for size in args.sizes.split(",")]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]

    missing = prerequisites(databases, args.postgres_url)
    if missing:
        print("The benchmarks cannot run yet:", file=sys.stderr)
        for problem in missing:
            print(f"  - {problem}", file=sys.stderr)
        print("`make bench` installs all of it.", file=sys.stderr)
        return 2

    results: dict[str, Any] = {
        "machine": machine(),
        "sizes": sizes,
        "databases": databases,
        "ack_monitors": args.ack_monitors,
    }
    zone_names = max(*sizes, args.ack_monitors) + 3 * 10_000
    progress(f"starting Knot with {zone_names:,} names")
    with KnotServer(zone_names, port=args.dns_port) as knot:
        ns = knot.nameserver
        raw_names = 10_000 if not args.quick else 2_000
        base = max(sizes)  # the yardsticks ask names no monitor uses
        results["raw_before"] = raw_rates(ns, base, raw_names)
        for database in databases:
            results[database] = {}
            for size in sizes:
                progress(f"{database}: check cycles at {size:,} monitors")
                with fresh_database(database, args.postgres_url) as url:
                    seed_monitors(url, [name_of(i) for i in range(size)], now=START)
                    with AutovacuumStandIn(url) as vacuum:
                        results[database][f"checks_{size}"] = child(
                            "bench.checks",
                            "--nameserver",
                            ns,
                            "--database-url",
                            url,
                            "--monitors",
                            str(size),
                        )
                    results[database][f"checks_{size}"]["vacuums"] = vacuum.runs
            progress(
                f"{database}: {args.growth_cycles} no-change cycles of {args.growth_monitors:,} monitors"
            )
            with fresh_database(database, args.postgres_url) as url:
                seed_monitors(url, [name_of(i) for i in range(args.growth_monitors)], now=START)
                results[database]["growth"] = child(
                    "bench.growth",
                    "--nameserver",
                    ns,
                    "--database-url",
                    url,
                    "--monitors",
                    str(args.growth_monitors),
                    "--cycles",
                    str(args.growth_cycles),
                )
            progress(f"{database}: slash-command acks during a {args.ack_monitors:,}-monitor cycle")
            with fresh_database(database, args.postgres_url) as url:
                seed_monitors(
                    url, [name_of(i) for i in range(args.ack_monitors)], now=datetime.now(UTC), channels=20
                )
                with AutovacuumStandIn(url):
                    results[database]["ack"] = child(
                        "bench.ack_latency",
                        "--nameserver",
                        ns,
                        "--database-url",
                        url,
                        "--monitors",
                        str(args.ack_monitors),
                    )
            progress(
                f"{database}: {args.quota_monitors:,} new monitors against a source allowing "
                f"{args.quota_per_minute}/minute, {args.quota_minutes:g} minutes scaled {args.quota_scale:g}×"
            )
            with fresh_database(database, args.postgres_url) as url:
                results[database]["quota"] = child(
                    "bench.quota",
                    "--monitors",
                    str(args.quota_monitors),
                    "--quota",
                    str(args.quota_per_minute),
                    "--minutes",
                    str(args.quota_minutes),
                    "--scale",
                    str(args.quota_scale),
                    "--database-url",
                    url,
                )
            progress(f"{database}: digest of {args.digest_changes:,} changes")
            with fresh_database(database, args.postgres_url) as url:
                results[database]["digest"] = child(
                    "bench.digest", "--database-url", url, "--changes", str(args.digest_changes)
                )
        results["raw_after"] = raw_rates(ns, base + 2 * raw_names // 1, raw_names)
    progress(f"detection latency: {args.detection_changes} changes, a {args.detection_interval} s interval")
    results["detection"] = child(
        "bench.detection",
        "--monitors",
        str(args.detection_monitors),
        "--changes",
        str(args.detection_changes),
        "--interval",
        str(args.detection_interval),
    )
    progress("WHOIS parse time: the reply table and hostile replies")
    results["whois_parse"] = child("bench.whois_parse")
    results["machine"]["load_after"] = os.getloadavg()
    table = render(results)
    print(table)
    if not args.quick:
        args.figures.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


# -- what the run needs ------------------------------------------------------------------


def prerequisites(databases: list[str], postgres_url: str) -> list[str]:
    missing = []
    problem = knot_missing()
    if problem:
        missing.append(problem)
    try:
        import aiodns  # noqa: F401
    except ImportError:
        missing.append("aiodns (the c-ares yardstick): .venv/bin/pip install -e '.[bench]'")
    if "postgresql" in databases:
        try:
            with admin_engine(postgres_url).connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            missing.append(
                f"PostgreSQL at {postgres_url} ({exc.__class__.__name__}): scripts/ensure-postgres.sh, "
                "or --databases sqlite"
            )
    return missing


def admin_engine(postgres_url: str):  # type: ignore[no-untyped-def]
    url = make_url(normalise_database_url(postgres_url)).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_database(database: str, postgres_url: str) -> Iterator[str]:
    if database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="watchpost-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = make_url(normalise_database_url(postgres_url)).database
    admin = admin_engine(postgres_url)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def child(module: str, *arguments: str) -> dict[str, Any]:
    """Run one measurement in its own process; its JSON result."""
    started = time.monotonic()
    done = subprocess.run(
        [PYTHON, "-m", module, *arguments],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{module} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.monotonic() - started
    return result


def raw_rates(nameserver: str, first: int, names: int) -> dict[str, Any]:
    progress("raw DNS rates: aiodns (c-ares), Watchpost's multiplexed client, dnspython's stock resolver")
    return {
        "aiodns": child(
            "bench.dns_rates",
            "--client",
            "aiodns",
            "--nameserver",
            nameserver,
            "--first",
            str(first),
            "--names",
            str(names),
        ),
        "mux": child(
            "bench.dns_rates",
            "--client",
            "mux",
            "--nameserver",
            nameserver,
            "--first",
            str(first + names),
            "--names",
            str(names),
        ),
        "stock": child(
            "bench.dns_rates",
            "--client",
            "stock",
            "--nameserver",
            nameserver,
            "--first",
            str(first),
            "--names",
            str(max(names // 5, 500)),
        ),
    }


def machine() -> dict[str, Any]:
    memory = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "0",
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the table ---------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    databases: list[str] = results["databases"]
    sizes: list[int] = results["sizes"]
    ack_monitors: int = results["ack_monitors"]
    raw = {
        client: (results["raw_before"][client]["rate"] + results["raw_after"][client]["rate"]) / 2
        for client in ("aiodns", "mux", "stock")
    }
    rows: list[tuple[str, Callable[[dict[str, Any]], str], str]] = []
    for size in sizes:
        rows.append(
            (
                f"end-to-end DNS queries/s, no-change cycle, {size:,} monitors (7 per check)",
                lambda r, s=size: f"{_rate(_steady(r, s)):,.0f}",
                "",
            )
        )
        rows.append(
            (
                f"… ÷ raw MultiplexedDnsClient queries/s, the pipeline's own cost ({size:,})",
                lambda r, s=size: f"{_rate(_steady(r, s)) / raw['mux']:.2f}×",
                "≥ 0.85×",
            )
        )
        rows.append(
            (
                f"… ÷ raw aiodns queries/s ({size:,})",
                lambda r, s=size: f"{_rate(_steady(r, s)) / raw['aiodns']:.2f}×",
                "≥ 1.0×",
            )
        )
    rows.append(
        (
            f"baseline cycle (first check of each) at {sizes[-1]:,} monitors, checks/s",
            lambda r: f"{_rate(_cycle(r, sizes[-1], 'baseline')) / 7:,.0f}",
            "",
        )
    )
    if len(sizes) >= 2:
        small, large = sizes[-2], sizes[-1]
        rows.append(
            (
                f"cycle time {large:,} ÷ {small:,} monitors (linear: {large / small:g})",
                lambda r: _linearity(_steady(r, small), _steady(r, large), large / small),
                "within 10 % of linear",
            )
        )
    rows += [
        (
            f"`/monitor` ack p50 / p99, 50 at once, during a {ack_monitors:,}-monitor cycle",
            lambda r: (
                f"{r['ack']['p50_ms']:.0f} / {r['ack']['p99_ms']:.0f} ms ({r['ack']['commands']:,} acks)"
            ),
            "p99 < 50 ms",
        ),
        (
            "… the same on the idle bot after it",
            lambda r: (
                f"{r['ack']['idle_p50_ms']:.0f} / {r['ack']['idle_p99_ms']:.0f} ms "
                f"({r['ack']['idle_commands']:,} acks)"
            ),
            "",
        ),
        (
            "… a bare aiohttp app answering 200, the same client and rounds (the floor)",
            lambda r: f"{r['ack']['floor_p50_ms']:.0f} / {r['ack']['floor_p99_ms']:.0f} ms",
            "",
        ),
        (
            "… p99 during the cycle ÷ p99 idle",
            lambda r: f"{r['ack']['p99_ms'] / r['ack']['idle_p99_ms']:.2f}×",
            "≤ 1.5×",
        ),
        (
            "… the cycle they ran during (checks in a worker process)",
            lambda r: f"{r['ack']['cycle_checks']:,} checks in {r['ack']['cycle_seconds']:.1f} s",
            "",
        ),
        (
            "… those commands' replies (run by the worker, among the cycle's checks): p50 / p99",
            lambda r: (
                f"{r['ack']['reply_p50_s']:.2f} / {r['ack']['reply_p99_s']:.2f} s "
                f"({r['ack']['replied']:,} of {r['ack']['commands']:,} replied)"
                if r["ack"]["replied"]
                else f"none of {r['ack']['commands']:,} replied"
            ),
            "every one replied",
        ),
        (
            "database rows after 1 → 100 no-change cycles",
            lambda r: f"{r['growth']['after_first']['rows']:,} → {r['growth']['after_last']['rows']:,}",
            "equal",
        ),
        (
            "database bytes after 1 → 100 no-change cycles, compacted (the data)",
            lambda r: (
                f"{r['growth']['after_first']['compacted_bytes']:,} → "
                f"{r['growth']['after_last']['compacted_bytes']:,}"
            ),
            "equal",
        ),
        (
            "digest of 10,000 changes: load, build, CSVs, messages",
            lambda r: f"{r['digest']['seconds']:.2f} s ({r['digest']['csv_rows']:,} CSV rows)",
            "< 2 s",
        ),
        (
            f"peak RSS, {sizes[-1]:,} monitors, baseline + no-change cycle",
            lambda r: f"{r[f'checks_{sizes[-1]}']['peak_rss_mb']:.0f} MB",
            "< 300 MB",
        ),
    ]
    rows += [
        (
            "quota: {quota_monitors:,} new monitors, a source allowing {quota:,}/minute, "
            "{minutes:g} minutes: peak requests in any minute".format(**_quota_labels(results)),
            lambda r: f"{r['quota']['peak_requests_in_any_minute']:,}",
            "≤ {quota:,}".format(**_quota_labels(results)),
        ),
        (
            "… requests the source refused for quota / checks failed for a source",
            lambda r: (
                f"{r['quota']['refused_for_quota_by_source']:,} / "
                f"{r['quota']['checks_failed_for_a_source']:,}"
            ),
            "0 / 0",
        ),
        (
            "… monitors whose promised turn passed unserved / never checked",
            lambda r: (
                f"{r['quota']['monitors_whose_turn_never_came']:,} / {r['quota']['monitors_never_checked']:,}"
            ),
            "0 / 0",
        ),
        (
            "… all served after (scaled minutes), quota used while they waited",
            lambda r: (
                f"{_minutes(r['quota']['minutes_until_all_served'])}, "
                f"{r['quota']['share_of_quota_used_while_waiting']:.0%}"
            ),
            "",
        ),
    ]
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    lines = [
        "| figure | " + " | ".join(names.get(d, d) for d in databases) + " | target |",
        "|---|" + "---|" * len(databases) + "---|",
    ]
    for label, cell, target in rows:
        lines.append(
            f"| {label} | " + " | ".join(_safe(cell, results[d]) for d in databases) + f" | {target} |"
        )
    machine = results["machine"]
    lines += [
        "",
        "| raw DNS queries/s, same Knot, same run (before / after) | rate |",
        "|---|---|",
    ]
    labels = {
        "aiodns": "aiodns 4.0 (c-ares; caches answers, so never used by the bot)",
        "mux": "Watchpost MultiplexedDnsClient alone",
        "stock": "dnspython stock `dns.asyncresolver`",
    }
    for client in ("aiodns", "mux", "stock"):
        before, after = results["raw_before"][client]["rate"], results["raw_after"][client]["rate"]
        lines.append(f"| {labels[client]} | {before:,.0f} / {after:,.0f} |")
    detection = results.get("detection")
    if detection:
        lines += [
            "",
            "Detection latency (SQLite, `watchpost serve` and its worker, "
            f"{detection['monitors']:,} monitors, "
            f"a {detection['interval_s']} s interval, {detection['changes']} changes at random moments): "
            f"p50 {detection['p50_s']} s, p99 {detection['p99_s']} s, max {detection['max_s']} s, "
            f"{detection['alerted']} of {detection['changes']} alerted (target ≤ {detection['target_s']} s).",
        ]
    whois = results.get("whois_parse")
    if whois:
        lines += [
            "",
            f"WHOIS parse ({whois['replies']} replies of tests/data/whois/): median {whois['median_ms']} ms, "
            f"slowest {whois['slowest_s']} s ({whois['slowest_reply']}; target < {whois['target_s']:g} s). "
            f"{whois['hostile']} hostile replies: slowest {whois['slowest_hostile_s']} s "
            f"({whois['slowest_hostile_reply']}); python-whois killed at its {whois['deadline_s']:g} s "
            f"deadline {whois['killed']} times.",
        ]
    lines += [
        "",
        f"Machine: {machine['cpus']} CPUs ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, {machine['when']}; load average before "
        f"{machine['load_before'][0]:.2f}, after {machine['load_after'][0]:.2f}.",
    ]
    return "\n".join(lines)


def _quota_labels(results: dict[str, Any]) -> dict[str, Any]:
    first = next((results[d]["quota"] for d in results["databases"] if "quota" in results.get(d, {})), {})
    return {
        "quota_monitors": first.get("monitors", 0),
        "quota": first.get("quota_per_minute", 0),
        "minutes": first.get("minutes", 0),
    }


def _minutes(value: float | None) -> str:
    return "not all" if value is None else f"{value:g} min"


def _cycle(result: dict[str, Any], size: int, label: str) -> dict[str, Any]:
    return next(c for c in result[f"checks_{size}"]["cycles"] if c["cycle"] == label)


def _steady(result: dict[str, Any], size: int) -> dict[str, Any]:
    return _cycle(result, size, "no change 1")


def _rate(cycle: dict[str, Any]) -> float:
    """DNS queries per second over a whole cycle (query, parse, diff, store)."""
    return float(cycle["queries"]) / float(cycle["seconds"])


def _linearity(small: dict[str, Any], large: dict[str, Any], factor: float) -> str:
    ratio = float(large["seconds"]) / float(small["seconds"])
    return f"{ratio:.2f} ({ratio / factor:.2f} of {factor:g}×)"


def _safe(cell: Callable[[dict[str, Any]], str], result: dict[str, Any]) -> str:
    try:
        return cell(result)
    except (KeyError, TypeError, ZeroDivisionError, StopIteration) as exc:
        return f"n/a ({exc.__class__.__name__})"


if __name__ == "__main__":
    raise SystemExit(main())
