"""A loopback DNS server for benchmark runs on a machine without Knot: the tests' fake
authoritative server (tests/fakes/dns_server.py), answering every name of the benchmark
zone with an A and an MX record, in a process of its own. Prints its address, then serves
until killed.

    .venv/bin/python -m bench.loopback_dns [--names 10000]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.fakes.dns_server import FakeDnsServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--zone", default="bench-watchpost.net")
    args = parser.parse_args()
    server = FakeDnsServer()
    for index in range(args.names):
        name = f"host{index}.{args.zone}"
        server.set(name, "A", [f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"])
        server.set(name, "MX", [f"10 mail.{args.zone}."])
    server.start()
    print(server.nameserver, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
