"""A loopback WHOIS server (RFC 3912) for the benchmarks that run the real `watchpost
serve`: every domain it is asked about is registered, with the same thick reply each
time, so a domain's `whois` dataset is as quiet as its DNS after the baseline. In a
process of its own (it must not share the measuring client's CPU time); prints its
address, then serves until killed.

    .venv/bin/python -m bench.loopback_whois
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

REPLY = (
    "Domain Name: {domain}\r\n"
    "Registry Domain ID: 2336799_DOMAIN_NET-VRSN\r\n"
    "Registrar: Bench Registrar, LLC\r\n"
    "Registrar IANA ID: 9999\r\n"
    "Updated Date: 2024-08-14T07:01:34Z\r\n"
    "Creation Date: 2020-01-01T00:00:00Z\r\n"
    "Registry Expiry Date: 2030-01-01T00:00:00Z\r\n"
    "Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n"
    "Name Server: NS1.BENCH-WATCHPOST.NET\r\n"
    "Name Server: NS2.BENCH-WATCHPOST.NET\r\n"
    "DNSSEC: unsigned\r\n"
    ">>> Last update of whois database: 2024-09-01T10:11:12Z <<<\r\n"
)


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        query = (await reader.readline()).decode("utf-8", "replace").strip()
        writer.write(REPLY.format(domain=query.upper()).encode())
        await writer.drain()
    writer.close()


async def serve() -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"127.0.0.1:{port}", flush=True)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    async with server:
        await stopped.wait()


@contextlib.contextmanager
def loopback_whois() -> Iterator[str]:
    """This server in a child process, for the length of the block: its host:port."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.loopback_whois"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
