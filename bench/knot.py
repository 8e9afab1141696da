"""Knot DNS on loopback for the benchmarks: a generated zone, a minimal config, started
and stopped by the benchmark itself (Debian package `knot`; nothing leaves 127.0.0.1).

    with KnotServer(names=10_000) as knot:
        knot.nameserver            # "127.0.0.1:5353"
        knot.change(range(0, 10_000, 10))   # new A record for every tenth name, reloaded

Every name `host<i>.<ZONE>` has one A, one MX and one TXT record; AAAA, CNAME, NS and SOA
at a name are "no data" (the zone's SOA comes in the authority section), so a check of
one name asks seven questions and gets every kind of answer but NXDOMAIN.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

ZONE = "bench-watchpost.net"
KNOTD = "/usr/sbin/knotd"
KNOTC = "/usr/sbin/knotc"


def knot_missing() -> str | None:
    """Why Knot cannot run here, or None."""
    if shutil.which("knotd") or Path(KNOTD).exists():
        return None
    return "Knot DNS is not installed: apt-get update && apt-get install -y --no-install-recommends knot"


def name_of(index: int) -> str:
    return f"host{index}.{ZONE}"


def address_of(index: int, generation: int = 0) -> str:
    return (
        f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        if generation == 0
        else (f"172.{16 + generation % 16}.{(index >> 8) & 255}.{index & 255}")
    )


class KnotServer:
    def __init__(self, names: int, *, port: int = 5353, host: str = "127.0.0.1") -> None:
        self.names = names
        self.host = host
        self.port = port
        self.serial = 1
        self._changed: dict[int, int] = {}  # index -> generation of its A record
        self._dir = Path(tempfile.mkdtemp(prefix="watchpost-knot-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> KnotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        missing = knot_missing()
        if missing:
            raise RuntimeError(missing)
        if not _port_free(self.host, self.port):
            raise RuntimeError(
                f"{self.host}:{self.port} is taken (another Knot?); stop it or pick --dns-port"
            )
        self._write_zone()
        config = self._dir / "knot.conf"
        config.write_text(
            f"""server:
    rundir: "{self._dir}"
    listen: {self.host}@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{self._dir}"
template:
  - id: default
    storage: "{self._dir}"
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {ZONE}
    file: "{ZONE}.zone"
log:
  - target: stderr
    any: warning
"""
        )
        self._process = subprocess.Popen(
            [KNOTD, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=(self._dir / "knotd.log").open("wb")
        )
        self._wait_ready(timeout=60)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def change(self, indexes: Iterable[int]) -> None:
        """Give each of these names a new A record, then reload the zone."""
        for index in indexes:
            self._changed[index] = self._changed.get(index, 0) + 1
        self.serial += 1
        self._write_zone()
        subprocess.run(
            [KNOTC, "-c", str(self._dir / "knot.conf"), "-b", "zone-reload", ZONE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._wait_ready(timeout=60)

    def _write_zone(self) -> None:
        lines = [
            f"$ORIGIN {ZONE}.",
            "$TTL 300",
            f"@ SOA ns1.{ZONE}. hostmaster.{ZONE}. {self.serial} 3600 600 86400 300",
            f"@ NS ns1.{ZONE}.",
            "ns1 A 127.0.0.1",
        ]
        for index in range(self.names):
            host = f"host{index}"
            lines.append(f"{host} A {address_of(index, self._changed.get(index, 0))}")
            lines.append(f"{host} MX 10 mail{index % 100}.{ZONE}.")
            lines.append(f'{host} TXT "v=spf1 ip4:10.0.0.0/8 -all" "id={index}"')
        path = self._dir / f"{ZONE}.zone"
        path.write_text("\n".join(lines) + "\n")

    def _wait_ready(self, timeout: float) -> None:
        """Until the zone answers with the current serial."""
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(ZONE, "SOA")
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                log = (self._dir / "knotd.log").read_text(errors="replace")
                raise RuntimeError(f"knotd exited {self._process.returncode}:\n{log}")
            with contextlib.suppress(Exception):
                reply = dns.query.udp(query, self.host, port=self.port, timeout=0.5)
                if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                    serial = reply.answer[0][0].serial  # type: ignore[attr-defined]
                    if serial == self.serial:
                        return
            time.sleep(0.1)
        raise RuntimeError(f"Knot did not serve {ZONE} serial {self.serial} within {timeout:g}s")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
