"""The ack benchmark's Slack side, in a process of its own: rounds of `--commands`
concurrent, correctly signed `/monitor` commands (each adds a monitor) to `--events-url`,
one round every `--pause` seconds, until `--rounds` rounds, `--seconds` seconds, or
`--stop-file` exists. Prints JSON: each command's seconds until its HTTP answer, and when
it was sent (time.monotonic, which every process on the machine shares), by the key of
its response_url.

Its own process because the fake Slack Web API that takes the bot's replies runs in the
benchmark's: sharing an event loop with it, a burst of replies (each checked against
Block Kit's limits) delayed reading the next answers, and that delay was counted as the
bot's. `--serve-floor` serves a bare aiohttp app answering 200 on a free port instead,
to be measured the same way: what this machine and client cost before the bot does anything.

    .venv/bin/python -m bench.ack_client --events-url http://127.0.0.1:3000/slack/events \\
        --response-root http://127.0.0.1:4000 --label idle --rounds 10
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from tests.fakes.slack_requests import SignedRequest, SlackSender


def burst(events_url: str, requests: list[SignedRequest]) -> list[float]:
    """Send the requests at once, each on a new TCP connection as Slack does; each one's
    seconds from connecting to its status line. Non-blocking sockets and one selector, no
    event loop: an asyncio client of 50 coroutines added 20–30 ms of its own to the
    slowest answers (measured against a bare aiohttp server answering 200)."""
    url = urlsplit(events_url)
    address = (url.hostname or "127.0.0.1", url.port or 80)
    selector = selectors.DefaultSelector()
    started: dict[int, float] = {}
    answered: dict[int, float] = {}
    statuses: dict[int, int] = {}
    for index, request in enumerate(requests):
        head = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
        data = (
            f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {len(request.body)}\r\n"
            f"Connection: close\r\n{head}\r\n"
        ).encode() + request.body
        connection = socket.socket()
        connection.setblocking(False)
        started[index] = time.perf_counter()
        connection.connect_ex(address)
        selector.register(connection, selectors.EVENT_WRITE, (index, data, bytearray()))
    deadline = time.monotonic() + 10
    while len(answered) < len(requests) and time.monotonic() < deadline:
        for key, events in selector.select(timeout=1):
            connection = cast(socket.socket, key.fileobj)
            index, data, received = key.data
            if events & selectors.EVENT_WRITE:
                connection.sendall(data)  # a few hundred bytes: the socket buffer takes them
                selector.modify(connection, selectors.EVENT_READ, key.data)
                continue
            chunk = connection.recv(4096)
            received += chunk
            if b"\r\n" in received or not chunk:
                answered[index] = time.perf_counter() - started[index]
                line = bytes(received).split(b"\r\n", 1)[0].split()
                statuses[index] = int(line[1]) if len(line) > 1 else 0
                selector.unregister(connection)
                connection.close()
    for key in list(selector.get_map().values()):
        cast(socket.socket, key.fileobj).close()
    selector.close()
    assert len(answered) == len(requests), f"{len(requests) - len(answered)} requests unanswered in 10 s"
    assert all(status == 200 for status in statuses.values()), sorted(statuses.values())
    return [answered[index] for index in range(len(requests))]


def run(args: argparse.Namespace) -> dict[str, object]:
    sender = SlackSender(args.events_url, args.response_root)
    stop = Path(args.stop_file) if args.stop_file else None
    acks: list[float] = []
    round_max: list[int] = []
    sent: dict[str, float] = {}
    started = time.monotonic()
    rounds = 0
    while rounds < args.rounds and time.monotonic() - started < args.seconds:
        if stop is not None and stop.exists():
            break
        requests = [
            sender.slash_command(f"cmd{args.label}{rounds}-{i}.ack-bench.net", user_id=f"U0BENCH{i:03}")
            for i in range(args.commands)
        ]
        sent.update((r.response_key or "", time.monotonic()) for r in requests)
        answered = burst(sender.events_url, requests)
        acks.extend(answered)
        round_max.append(round(max(answered) * 1000))
        rounds += 1
        time.sleep(args.pause)
    return {
        "acks": acks,
        "round_max_ms": round_max,
        "sent": sent,
        "rounds": rounds,
        "seconds": time.monotonic() - started,
    }


def serve_floor() -> None:
    """A bare aiohttp app answering every POST with 200 on a free loopback port (printed)."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/slack/events", answer)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    print(port, flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if sys.argv[1:] == ["--serve-floor"]:
        serve_floor()
        return
    parser.add_argument("--events-url", required=True)
    parser.add_argument("--response-root", required=True, help="the fake Slack's root (response_urls)")
    parser.add_argument("--label", required=True, help="part of every command's domain, unique per run")
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=1e9)
    parser.add_argument("--stop-file")
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
