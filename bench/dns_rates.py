"""Raw DNS query rates, the yardsticks for the end-to-end figures: the seven questions a
domain check asks, for `--names` names of the benchmark zone, through one client, as
fast as it goes on one core. Prints JSON.

    .venv/bin/python -m bench.dns_rates --client aiodns|stock|mux --nameserver 127.0.0.1:5353 \\
        --first 20000 --names 10000

Each name is asked each type once, and each client gets its own range of names: c-ares
caches answers, so asking it twice would measure its cache, not the server round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from bench.knot import name_of
from bot.config import parse_host_port
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.dns_mux import MultiplexedDnsClient

QUESTIONS = ("A", "AAAA", "CNAME", "NS", "MX", "TXT", "SOA")


async def run(client: str, nameserver: str, first: int, names: int, in_flight: int) -> dict[str, object]:
    server = parse_host_port(nameserver, 53)
    ask: Callable[[str, str], Awaitable[bool]]
    if client == "aiodns":
        import aiodns

        resolver = aiodns.DNSResolver(nameservers=[f"{server.host}:{server.port}"], timeout=5, tries=2)

        async def ask_cares(name: str, rdtype: str) -> bool:
            try:
                await resolver.query_dns(name, rdtype)
            except aiodns.error.DNSError as exc:
                # NODATA is an answer (c-ares reports it as an error code); timeouts are not.
                return exc.args[0] in (aiodns.error.ARES_ENODATA, aiodns.error.ARES_ENOTFOUND)
            return True

        ask = ask_cares
    else:
        dns = (
            ResolverDnsClient([server], timeout=5, max_in_flight=in_flight)
            if client == "stock"
            else MultiplexedDnsClient([server], timeout=5, max_in_flight=in_flight)
        )

        async def ask_python(name: str, rdtype: str) -> bool:
            return (await dns.query(name, rdtype)).error is None

        ask = ask_python
    gate = asyncio.Semaphore(in_flight)

    async def one(name: str, rdtype: str) -> bool:
        async with gate:
            return await ask(name, rdtype)

    started = time.perf_counter()
    answered = await asyncio.gather(
        *(one(name_of(i), rdtype) for i in range(first, first + names) for rdtype in QUESTIONS)
    )
    seconds = time.perf_counter() - started
    if client == "mux" and isinstance(dns, MultiplexedDnsClient):
        await dns.aclose()
    return {
        "client": client,
        "queries": len(answered),
        "errors": answered.count(False),
        "seconds": seconds,
        "rate": len(answered) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=["aiodns", "stock", "mux"], required=True)
    parser.add_argument("--nameserver", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=0, help="default: 50 for stock, 256 otherwise")
    args = parser.parse_args()
    in_flight = args.in_flight or (50 if args.client == "stock" else 256)
    print(json.dumps(asyncio.run(run(args.client, args.nameserver, args.first, args.names, in_flight))))


if __name__ == "__main__":
    main()
