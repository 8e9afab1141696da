"""Slash-command ack latency of the real `watchpost serve` (and its worker), idle and while
it runs a check cycle: rounds of `--commands` concurrent, correctly signed `/monitor`
commands (each adds a monitor) go to /slack/events, one round a second, and each one's
time until Slack's HTTP request is answered is recorded (Slack gives up after 3 s).
First `--idle-rounds` on the idle bot (the database's `--monitors` monitors are held
back); then all of them become due at once, and once the worker's cycle is under way the
rounds go on for `--seconds` (or until the cycle ends). Prints JSON.

    .venv/bin/python -m bench.ack_latency --nameserver 127.0.0.1:5353 \\
        --database-url sqlite:////tmp/bench.db --monitors 10000 [--commands 50]

Everything is local: the fake Slack Web API in this process (the bot's replies), Slack's
requests from bench.ack_client in a process of its own, the DNS server given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from bench.loopback_whois import loopback_whois
from bot.storage.engine import create_database_engine
from bot.storage.models import Subject
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.slack_api import FakeSlackApi

REPO = Path(__file__).resolve().parents[1]

CYCLE_DONE = re.compile(r"checked (\d+) subjects in ([\d.]+) s")


# The resolver check's canary: a name of the benchmark's zone (any name under it is NXDOMAIN).
CANARY = "host0.bench-watchpost.net"


@dataclass(frozen=True)
class Nameserver:
    """What serve_env needs of a DNS server: its address, and a canary it answers."""

    nameserver: str

    def set(self, name: str, rtype: str, values: list[str]) -> None:
        """The zone is fixed when the server starts: the canary is one of its names instead."""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def client(
    events_url: str,
    slack_api: FakeSlackApi,
    label: str,
    *args: str,
    stop_when: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run bench.ack_client (Slack's side, its own process) against the bot until it ends;
    with `stop_when`, tell it to stop once that holds. Meanwhile this process's event loop
    serves the fake Slack Web API the bot replies to."""
    with tempfile.TemporaryDirectory() as tmp:
        stop = Path(tmp) / "stop"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ack_client",
            "--events-url",
            events_url,
            "--response-root",
            slack_api.root,
            "--label",
            label,
            "--stop-file",
            str(stop),
            *args,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        output = asyncio.create_task(process.communicate())
        while stop_when is not None and not output.done():
            if stop_when():
                stop.touch()
                break
            await asyncio.sleep(0.5)
        out, _ = await output
    if process.returncode != 0:
        raise SystemExit(f"bench.ack_client exited with {process.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


async def floor(slack_api: FakeSlackApi, rounds: int, *per_round: str) -> list[float]:
    """The same rounds against a bare aiohttp app answering 200 (bench.ack_client
    --serve-floor): the answer times of this machine and client alone."""
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ack_client", "--serve-floor", stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    try:
        assert server.stdout is not None
        port = int((await server.stdout.readline()).decode())
        await asyncio.sleep(1)  # listening
        url = f"http://127.0.0.1:{port}/slack/events"
        acks: list[float] = (await client(url, slack_api, "floor", *per_round, "--rounds", str(rounds)))[
            "acks"
        ]
        return acks
    finally:
        server.terminate()
        await server.wait()


def reply_delays(slack_api: FakeSlackApi, sent: dict[str, float]) -> list[float]:
    """Seconds from sending each command to its first reply at the fake (the commands'
    work: in the worker, which runs the cycle meanwhile)."""
    first: dict[str, float] = {}
    for response in slack_api.responses:
        if response.key in sent and response.key not in first:
            first[response.key] = response.at - sent[response.key]
    return list(first.values())


def hold_the_cycle(database_url: str, until: datetime | None) -> None:
    """Make every monitor due at `until` (None: far ahead). The bench acts as the clock:
    the idle yardstick first, then the whole cycle due at once."""
    engine = create_database_engine(database_url)
    due = until if until is not None else datetime.now(UTC) + timedelta(days=1)
    with engine.begin() as connection:
        connection.execute(update(Subject).values(next_check_at=due))
    engine.dispose()


def checked_since(database_url: str, since: datetime) -> int:
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(Subject).where(Subject.last_checked_at >= since)
        ).scalar_one()
    engine.dispose()
    return int(count)


async def run(
    nameserver: str,
    database_url: str,
    monitors: int,
    commands: int,
    pause: float = 1.0,
    *,
    idle_rounds: int = 10,
    workers: int = 1,
    concurrency: int = 50,
    seconds: float = 150.0,
) -> dict[str, object]:
    slack_api = FakeSlackApi()
    await slack_api.start()
    hold_the_cycle(database_url, None)
    with tempfile.TemporaryDirectory() as tmp, loopback_whois() as whois:
        env = serve_env(
            Nameserver(nameserver),  # type: ignore[arg-type]
            slack_api,
            database_url,
            free_port(),
            WATCHPOST_CHECK_INTERVAL="3600",
            WATCHPOST_DNS_CANARY=CANARY,
            WATCHPOST_DNS_TIMEOUT="5",
            WATCHPOST_LOG_LEVEL="INFO",
            # 1 (the default): the checks run in a worker process, not the one answering Slack.
            WATCHPOST_WORKERS=str(workers),
            WATCHPOST_CHECK_CONCURRENCY=str(concurrency),
            # Every domain registered, the same reply each time: quiet after the baseline.
            WATCHPOST_WHOIS_SERVER=whois,
        )
        bot = ServeProcess(env, Path(tmp) / "serve.log")
        await bot.start(timeout=120)
        idle: list[float] = []
        floor_acks: list[float] = []
        cycle: dict[str, Any] = {"acks": [], "round_max_ms": [], "sent": {}, "rounds": 0, "seconds": 0.0}
        per_round = ("--commands", str(commands), "--pause", str(pause))
        try:
            await asyncio.sleep(5)  # the worker's start
            # First-use costs (imports, pools): not counted.
            await client(bot.events_url, slack_api, "warm-up", *per_round, "--rounds", "1")
            # The yardstick: the same bursts on the idle bot (each adds monitors, whose
            # baselines the worker takes: the cost of the command, not of a cycle).
            idle = (
                await client(bot.events_url, slack_api, "idle", *per_round, "--rounds", str(idle_rounds))
            )["acks"]
            floor_acks = await floor(slack_api, idle_rounds, *per_round)
            await asyncio.sleep(3)
            cycle_start = datetime.now(UTC)
            hold_the_cycle(database_url, cycle_start)
            while checked_since(database_url, cycle_start) < 1000:  # the worker's next tick
                await asyncio.sleep(0.5)
            cycle = await client(
                bot.events_url,
                slack_api,
                "cycle",
                *per_round,
                "--seconds",
                str(seconds),
                stop_when=lambda: bool(CYCLE_DONE.search(bot.log())),
            )
            checked = checked_since(database_url, cycle_start)
            # Replies still coming (the worker runs the commands among the cycle's checks).
            waited = time.monotonic()
            while (
                len(reply_delays(slack_api, cycle["sent"])) < len(cycle["sent"])
                and time.monotonic() - waited < 60
            ):
                await asyncio.sleep(0.5)
        finally:
            await bot.stop(timeout=60)
            await slack_api.stop()
            if os.environ.get("BENCH_KEEP_LOG"):
                Path(os.environ["BENCH_KEEP_LOG"]).write_text(bot.log())
    if slack_api.violations:
        raise SystemExit("\n".join(slack_api.violations))
    ms = [a * 1000 for a in cycle["acks"]]
    delays = reply_delays(slack_api, cycle["sent"])
    return {
        "monitors": monitors,
        "cycle_checks": checked,  # checks of the cycle done by the end of the measurement
        "cycle_seconds": round(cycle["seconds"], 1),
        "commands": len(ms),
        "rounds": cycle["rounds"],
        "p50_ms": percentile(ms, 0.5) if ms else None,
        "p99_ms": percentile(ms, 0.99) if ms else None,
        "max_ms": max(ms) if ms else None,
        "round_max_ms": cycle["round_max_ms"],
        "workers": workers,
        "idle_commands": len(idle),
        "idle_p50_ms": percentile([a * 1000 for a in idle], 0.5) if idle else None,
        "idle_p99_ms": percentile([a * 1000 for a in idle], 0.99) if idle else None,
        # A bare aiohttp app answering 200, the same client and rounds: the floor.
        "floor_p50_ms": percentile([a * 1000 for a in floor_acks], 0.5) if floor_acks else None,
        "floor_p99_ms": percentile([a * 1000 for a in floor_acks], 0.99) if floor_acks else None,
        # The commands' work, done by the worker during the cycle: how many had their
        # reply (within 60 s of the last burst), and how long after they were sent.
        "replied": len(delays),
        "reply_p50_s": round(percentile(delays, 0.5), 2) if delays else None,
        "reply_p99_s": round(percentile(delays, 0.99), 2) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nameserver", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--monitors", type=int, required=True)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument(
        "--idle-rounds", type=int, default=10, help="bursts on the idle bot, before the cycle"
    )
    parser.add_argument("--seconds", type=float, default=150.0, help="how long to measure during the cycle")
    parser.add_argument("--workers", type=int, default=1, help="WATCHPOST_WORKERS (0: checks in-process)")
    parser.add_argument("--concurrency", type=int, default=50, help="WATCHPOST_CHECK_CONCURRENCY")
    args = parser.parse_args()
    result = asyncio.run(
        run(
            args.nameserver,
            args.database_url,
            args.monitors,
            args.commands,
            args.pause,
            idle_rounds=args.idle_rounds,
            workers=args.workers,
            concurrency=args.concurrency,
            seconds=args.seconds,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
