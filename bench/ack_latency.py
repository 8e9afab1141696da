"""Slash-command ack latency of the real `watchpost serve`: N concurrent, correctly signed
`/monitor` commands; for each, the time until Slack's HTTP request is answered (it must
be within 3 s) and until the "Now monitoring" reply reaches the response_url.

    .venv/bin/python -m bench.ack_latency [--commands 50] [--rounds 3]

Everything is local: the fake Slack Web API, a loopback DNS server, SQLite in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import SlackSender


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def row(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<28} p50 {percentile(ms, 0.5):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms"
        f"   max {max(ms):7.1f} ms   mean {statistics.fmean(ms):7.1f} ms"
    )


async def run(commands: int, rounds: int) -> None:
    with FakeDnsServer() as dns, tempfile.TemporaryDirectory() as tmp:
        slack_api = FakeSlackApi()
        await slack_api.start()
        env = serve_env(dns, slack_api, f"sqlite:///{Path(tmp) / 'bench.db'}", free_port())
        bot = ServeProcess(env, Path(tmp) / "serve.log")
        await bot.start()
        sender = SlackSender(bot.events_url, slack_api.root)
        try:
            await sender.send(sender.slash_command("help"))  # first request: Bolt's auth.test
            acks: list[float] = []
            replies: list[float] = []
            for number in range(rounds):
                requests = [
                    sender.slash_command(f"host{i}.round{number}.bench-infra.com", user_id=f"U0BENCH{i:03}")
                    for i in range(commands)
                ]
                started = time.monotonic()
                answers = await asyncio.gather(*(sender.send(r) for r in requests))
                assert all(a.status == 200 for a in answers), [a.status for a in answers]
                acks.extend(a.seconds for a in answers)
                keys = [r.response_key or "" for r in requests]
                await slack_api.wait_for(
                    lambda: all(slack_api.responses_to(k) for k in keys),  # noqa: B023
                    timeout=60,
                    what="every reply",
                )
                replies.extend(slack_api.responses_to(k)[0].at - started for k in keys)
            print(f"{commands} concurrent /monitor commands x {rounds} rounds against `watchpost serve`")
            print(row("ack (HTTP answer to Slack)", acks))
            print(row("'Now monitoring' reply", replies))
        finally:
            await bot.stop()
            await slack_api.stop()
    if slack_api.violations:
        raise SystemExit("\n".join(slack_api.violations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.commands, args.rounds))


if __name__ == "__main__":
    main()
