"""Loopback Certificate Transparency: one real aiohttp server on 127.0.0.1 with any number of
logs, each speaking RFC 6962 (`ct/v1/get-sth`, `ct/v1/get-entries`) or the Static CT API
(`checkpoint`, `tile/<L>/<N>`, `tile/data/<N>[.p/<W>]`, c2sp.org/static-ct-api), and the log
list that names them (Chrome's v3 schema) at `/log_list.json`.

Everything is real: certificates and precertificates (with the poison extension) are made
by a `CertificateAuthority` with `cryptography`; each log holds real MerkleTreeLeaf bytes,
computes the RFC 6962 Merkle tree over them and signs its STH / checkpoint with its own key
(ECDSA P-256, or RSA 2048 with `key="rsa"`), which the log list publishes.

Test controls, all plain attributes or methods of a `FakeCtLog`:
  add_certificate(der) / add_precertificate(issued)   append at runtime; returns the index
  add_unknown_entry_type(der)                          an entry of an entry_type no reader knows
  max_batch            get-entries returns at most this many (the log's cap)
  status               answer every request of this log with this HTTP status (503 …;
                       429 comes with Retry-After: 120)
  bad_signature        sign tree heads with a key the list does not name
  gzip_tiles           data tiles go out with Content-Encoding: gzip (the default)
and `server.requests` records (path, status, bytes) of every reply.

`RepeatingCtLog` serves `size` entries cycled from a pool of real certificates without
holding them: the benchmark's log (its tree head signs a stand-in for the root, since the
reader checks signatures, not inclusion).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TILE = 256
_ISSUED_AT = datetime(2026, 11, 30, tzinfo=UTC)


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _opaque(data: bytes, size: int) -> bytes:
    return _u(len(data), size) + data


@dataclass(frozen=True)
class IssuedPrecertificate:
    """A precertificate and what belongs with it: the TBSCertificate a log puts in the
    leaf (the precertificate's, poison removed), the final certificate, the shared serial."""

    precertificate: bytes
    tbs: bytes
    certificate: bytes
    serial: int
    issuer_key_hash: bytes


class CertificateAuthority:
    """A CA that issues real leaf certificates and precertificates for given names."""

    def __init__(
        self,
        organisation: str = "Loopback Trust Services",
        common_name: str = "Loopback Issuing CA R1",
        *,
        key: str = "ec",
    ) -> None:
        # RSA 2048 makes certificates the size most of the ecosystem's are (the benchmark's).
        def new_key() -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
            if key == "rsa":
                return rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return ec.generate_private_key(ec.SECP256R1())

        root_key, self.key = new_key(), new_key()
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ")]
        if organisation:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
        root_name = x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} Root")])
        self.name = x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        root = self._ca(root_name, root_name, root_key, root_key, path_length=1)
        self.certificate = self._ca(self.name, root_name, self.key, root_key, path_length=0)
        self.der = _der(self.certificate)
        # What a submitter sends after the leaf, and a log keeps: issuing CA, then root.
        self.chain = (self.der, _der(root))
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_hash = hashlib.sha256(spki).digest()

    @staticmethod
    def _ca(
        subject: x509.Name,
        issuer: x509.Name,
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        signer: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        *,
        path_length: int,
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_ISSUED_AT - timedelta(days=365))
            .not_valid_after(_ISSUED_AT + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .sign(signer, hashes.SHA256())
        )

    def _builder(
        self, names: Sequence[str], serial: int | None, common_name: str | None, fresh_key: bool = False
    ) -> Any:
        leaf_key = ec.generate_private_key(ec.SECP256R1()) if fresh_key else self.leaf_key
        subject = common_name if common_name is not None else (names[0] if names else "")
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)] if subject else []))
            .issuer_name(self.name)
            .public_key(leaf_key.public_key())
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(_ISSUED_AT)
            .not_valid_after(_ISSUED_AT + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
            )
        return builder

    def certificate_for(
        self,
        names: Sequence[str],
        *,
        serial: int | None = None,
        common_name: str | None = None,
        fresh_key: bool = False,
    ) -> bytes:
        """A leaf certificate (DER) whose CN is `common_name` (default the first name); with
        `fresh_key`, a key of its own (else every leaf shares one, which is quicker)."""
        return _der(self._builder(names, serial, common_name, fresh_key).sign(self.key, hashes.SHA256()))

    def precertificate_for(
        self,
        names: Sequence[str],
        *,
        serial: int | None = None,
        common_name: str | None = None,
        fresh_key: bool = False,
    ) -> IssuedPrecertificate:
        serial = serial if serial is not None else x509.random_serial_number()
        builder = self._builder(names, serial, common_name, fresh_key)
        final = builder.sign(self.key, hashes.SHA256())
        precertificate = builder.add_extension(x509.PrecertPoison(), critical=True).sign(
            self.key, hashes.SHA256()
        )
        # The leaf's TBS is the precertificate's without its poison extension: the final
        # certificate's TBS, as long as the final one adds no SCT list (it does not here).
        return IssuedPrecertificate(
            _der(precertificate), final.tbs_certificate_bytes, _der(final), serial, self.key_hash
        )


class LogKey:
    """A log's signing key and how the log list names it."""

    def __init__(self, kind: str = "ec") -> None:
        self.kind = kind
        self.private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.spki = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.log_id = hashlib.sha256(self.spki).digest()

    def digitally_signed(self, message: bytes) -> bytes:
        """TLS DigitallySigned: sha256(4), rsa(1) / ecdsa(3), signature<0..2^16-1>."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            signature = self.private.sign(message, padding.PKCS1v15(), hashes.SHA256())
            return b"\x04\x01" + _opaque(signature, 2)
        return b"\x04\x03" + _opaque(self.private.sign(message, ec.ECDSA(hashes.SHA256())), 2)


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def merkle_root(hashes_: Sequence[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH over leaf hashes (an empty tree hashes the empty string)."""
    if not hashes_:
        return hashlib.sha256(b"").digest()
    if len(hashes_) == 1:
        return hashes_[0]
    split = 1 << ((len(hashes_) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + merkle_root(hashes_[:split]) + merkle_root(hashes_[split:])).digest()


def tree_head_message(timestamp_ms: int, tree_size: int, root: bytes) -> bytes:
    return b"\x00\x01" + _u(timestamp_ms, 8) + _u(tree_size, 8) + root


def tile_index(path: str) -> int | None:
    """`x001/x234/067` -> 1234067; None when the path is not a tile index."""
    parts = path.split("/")
    if not parts or any(len(p) != 4 or p[0] != "x" or not p[1:].isdigit() for p in parts[:-1]):
        return None
    if len(parts[-1]) != 3 or not parts[-1].isdigit():
        return None
    return int("".join(p.lstrip("x") for p in parts))


@dataclass
class _Entry:
    timestamp_ms: int
    precertificate: bool
    body: bytes  # the certificate, or issuer_key_hash || TBS (each with its length prefix)
    pre_certificate: bytes  # static CT TileLeaf / RFC 6962 extra_data: the precertificate itself
    chain: tuple[bytes, ...]
    entry_type: int | None = None  # a LogEntryType no reader knows, in place of 0 or 1


@dataclass
class FakeCtLog:
    name: str
    api: str = "rfc6962"  # or "static"
    key: LogKey = field(default_factory=LogKey)
    authority: CertificateAuthority | None = None  # the chain's issuer (for extra_data)
    max_batch: int = 1000
    status: int | None = None
    bad_signature: bool = False
    gzip_tiles: bool = True
    state: str = "usable"
    base_url: str = ""  # set by the server
    _entries: list[_Entry] = field(default_factory=list)
    _hashes: list[bytes] = field(default_factory=list)
    _impostor: LogKey | None = None

    @property
    def url(self) -> str:
        """The log's identity: its `url` or `monitoring_url` in the list."""
        return f"{self.base_url}{self.name}/"

    @property
    def origin(self) -> str:
        return self.url.split("://", 1)[1].rstrip("/")

    @property
    def size(self) -> int:
        return len(self._entries)

    def _chain(self) -> tuple[bytes, ...]:
        return self.authority.chain if self.authority is not None else ()

    def add_certificate(self, der: bytes, *, timestamp_ms: int | None = None) -> int:
        return self._append(_Entry(_now_ms(timestamp_ms), False, _opaque(der, 3), b"", self._chain()))

    def add_precertificate(self, issued: IssuedPrecertificate, *, timestamp_ms: int | None = None) -> int:
        body = issued.issuer_key_hash + _opaque(issued.tbs, 3)
        return self._append(_Entry(_now_ms(timestamp_ms), True, body, issued.precertificate, self._chain()))

    def add_unknown_entry_type(self, der: bytes, entry_type: int = 7) -> int:
        """A certificate logged under an entry_type RFC 6962 does not define: a reader cannot
        know its layout, so in a data tile the entries after it cannot be framed either."""
        return self._append(_Entry(_now_ms(None), False, _opaque(der, 3), b"", self._chain(), entry_type))

    def _append(self, entry: _Entry) -> int:
        self._entries.append(entry)
        self._hashes.append(leaf_hash(self.leaf_input(len(self._entries) - 1)))
        return len(self._entries) - 1

    def _extensions(self, index: int) -> bytes:
        if self.api != "static":
            return _opaque(b"", 2)
        return _opaque(b"\x00" + _opaque(_u(index, 5), 2), 2)  # leaf_index(0): uint40

    def timestamped_entry(self, index: int) -> bytes:
        entry = self._entries[index]
        kind = b"\x00\x01" if entry.precertificate else b"\x00\x00"
        if entry.entry_type is not None:
            kind = _u(entry.entry_type, 2)
        return _u(entry.timestamp_ms, 8) + kind + entry.body + self._extensions(index)

    def leaf_input(self, index: int) -> bytes:
        return b"\x00\x00" + self.timestamped_entry(index)

    def extra_data(self, index: int) -> bytes:
        entry = self._entries[index]
        chain = _opaque(b"".join(_opaque(c, 3) for c in entry.chain), 3)
        return _opaque(entry.pre_certificate, 3) + chain if entry.precertificate else chain

    def tile_leaf(self, index: int) -> bytes:
        entry = self._entries[index]
        pre = _opaque(entry.pre_certificate, 3) if entry.precertificate else b""
        fingerprints = b"".join(hashlib.sha256(c).digest() for c in entry.chain)
        return self.timestamped_entry(index) + pre + _opaque(fingerprints, 2)

    def root(self, size: int) -> bytes:
        return merkle_root(self._hashes[:size])

    def level_hashes(self, level: int, size: int) -> list[bytes]:
        """Level `level` of the tile tree: MTH of each full 256**level run of leaves."""
        width = TILE**level
        return [self.root_of(i * width, (i + 1) * width) for i in range(size // width)]

    def root_of(self, start: int, end: int) -> bytes:
        return merkle_root(self._hashes[start:end])

    def _signing_key(self) -> LogKey:
        if not self.bad_signature:
            return self.key
        if self._impostor is None:
            self._impostor = LogKey(self.key.kind)
        return self._impostor

    def tree_head(self) -> tuple[int, int, bytes, bytes]:
        """(size, timestamp, root, DigitallySigned signature) of the tree as it is now."""
        size = self.size
        timestamp = int(time.time() * 1000)
        root = self.root(size)
        return (
            size,
            timestamp,
            root,
            self._signing_key().digitally_signed(tree_head_message(timestamp, size, root)),
        )

    def sth_json(self) -> dict[str, Any]:
        size, timestamp, root, signature = self.tree_head()
        return {
            "tree_size": size,
            "timestamp": timestamp,
            "sha256_root_hash": base64.b64encode(root).decode(),
            "tree_head_signature": base64.b64encode(signature).decode(),
        }

    def checkpoint(self) -> str:
        size, timestamp, root, signature = self.tree_head()
        key_id = hashlib.sha256(self.origin.encode() + b"\n\x05" + self.key.log_id).digest()[:4]
        blob = base64.b64encode(key_id + _u(timestamp, 8) + signature).decode()
        return f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n\n\u2014 {self.origin} {blob}\n"

    def entries_json(self, start: int, end: int) -> bytes:
        items = [_entry_json(self.leaf_input(i), self.extra_data(i)) for i in range(start, end)]
        return ('{"entries":[' + ",".join(items) + "]}").encode()

    def data_tile(self, index: int, width: int) -> bytes:
        first = index * TILE
        return b"".join(self.tile_leaf(i) for i in range(first, first + width))

    def list_entry(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "description": f"Loopback {self.name}",
            "log_id": base64.b64encode(self.key.log_id).decode(),
            "key": base64.b64encode(self.key.spki).decode(),
            "mmd": 86400,
            "state": {self.state: {"timestamp": "2026-01-01T00:00:00Z"}},
        }
        if self.api == "static":
            item["submission_url"] = self.url
            item["monitoring_url"] = self.url
        else:
            item["url"] = self.url
        return item


class RepeatingCtLog(FakeCtLog):
    """`size` entries, entry i being pool entry i % len(pool): a log of millions of real
    certificates in constant memory. The tree head signs SHA-256 of the size in place of a
    Merkle root (computing a real one would mean hashing every leaf)."""

    def __init__(self, name: str, pool: FakeCtLog, *, size: int, api: str = "rfc6962") -> None:
        super().__init__(name, api=api, max_batch=1024)
        self._pool = pool  # a FakeCtLog holding the real certificates to cycle through
        self._pool_size = pool.size
        self._virtual_size = size
        self._json = [_entry_json(pool.leaf_input(i), pool.extra_data(i)) for i in range(self._pool_size)]
        # Static CT leaves differ only in their leaf_index: bytes around it, per pool entry.
        self._tile_parts = []
        for i in range(self._pool_size):
            entry = self._pool._entries[i]
            kind = b"\x00\x01" if entry.precertificate else b"\x00\x00"
            before = _u(entry.timestamp_ms, 8) + kind + entry.body + b"\x00\x08\x00\x00\x05"
            pre = _opaque(entry.pre_certificate, 3) if entry.precertificate else b""
            after = pre + _opaque(b"".join(hashlib.sha256(c).digest() for c in entry.chain), 2)
            self._tile_parts.append((before, after))

    @property
    def size(self) -> int:
        return self._virtual_size

    def tree_head(self) -> tuple[int, int, bytes, bytes]:
        size, timestamp = self.size, int(time.time() * 1000)
        root = hashlib.sha256(_u(size, 8)).digest()
        return size, timestamp, root, self.key.digitally_signed(tree_head_message(timestamp, size, root))

    def entries_json(self, start: int, end: int) -> bytes:
        pool, json_items = self._pool_size, self._json
        return ('{"entries":[' + ",".join(json_items[i % pool] for i in range(start, end)) + "]}").encode()

    def data_tile(self, index: int, width: int) -> bytes:
        first, pool, parts = index * TILE, self._pool_size, self._tile_parts
        return b"".join(
            parts[i % pool][0] + _u(i, 5) + parts[i % pool][1] for i in range(first, first + width)
        )

    def level_hashes(self, level: int, size: int) -> list[bytes]:
        raise NotImplementedError("a repeating log has no Merkle tree")


def _entry_json(leaf_input: bytes, extra_data: bytes) -> str:
    return json.dumps(
        {
            "leaf_input": base64.b64encode(leaf_input).decode(),
            "extra_data": base64.b64encode(extra_data).decode(),
        }
    )


def _now_ms(timestamp_ms: int | None) -> int:
    return timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)


@dataclass
class CtLogServer:
    logs: dict[str, FakeCtLog] = field(default_factory=dict)
    requests: list[tuple[str, int, int]] = field(default_factory=list)  # (path, status, bytes)
    list_extra: list[dict[str, Any]] = field(default_factory=list)  # more operators, as given
    list_status: int | None = None
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def add_log(
        self,
        name: str,
        *,
        api: str = "rfc6962",
        key: str = "ec",
        authority: CertificateAuthority | None = None,
    ) -> FakeCtLog:
        log = FakeCtLog(name, api=api, key=LogKey(key), authority=authority, base_url=self.base_url)
        return self.add(log)

    def add(self, log: FakeCtLog) -> FakeCtLog:
        log.base_url = self.base_url
        self.logs[log.name] = log
        return log

    @property
    def list_url(self) -> str:
        return f"{self.base_url}log_list.json"

    def log_list(self) -> dict[str, Any]:
        rfc = [log.list_entry() for log in self.logs.values() if log.api == "rfc6962"]
        tiled = [log.list_entry() for log in self.logs.values() if log.api == "static"]
        operators = [
            {"name": "Loopback Logs", "email": ["ct@example.invalid"], "logs": rfc, "tiled_logs": []},
            {"name": "Loopback Tiles", "email": ["tiles@example.invalid"], "logs": [], "tiled_logs": tiled},
            *self.list_extra,
        ]
        return {"version": "1.0", "log_list_timestamp": "2026-12-01T00:00:00Z", "operators": operators}

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/log_list.json", self._list)
        app.router.add_get("/{log}/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/"
        for log in self.logs.values():
            log.base_url = self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _reply(self, request: web.Request, response: web.Response) -> web.Response:
        body = response.body if isinstance(response.body, bytes) else b""
        self.requests.append((request.path_qs, response.status, len(body)))
        return response

    async def _list(self, request: web.Request) -> web.Response:
        if self.list_status is not None:
            return self._reply(request, web.Response(status=self.list_status))
        return self._reply(request, web.json_response(self.log_list()))

    async def _handle(self, request: web.Request) -> web.Response:
        log = self.logs.get(request.match_info["log"])
        if log is None:
            return self._reply(request, web.Response(status=404))
        if log.status is not None:
            headers = {"Retry-After": "120"} if log.status == 429 else {}
            return self._reply(request, web.Response(status=log.status, text="unavailable", headers=headers))
        tail = request.match_info["tail"]
        if log.api == "rfc6962":
            return self._reply(request, self._rfc6962(log, tail, request))
        return self._reply(request, self._static(log, tail))

    def _rfc6962(self, log: FakeCtLog, tail: str, request: web.Request) -> web.Response:
        if tail == "ct/v1/get-sth":
            return web.json_response(log.sth_json())
        if tail == "ct/v1/get-entries":
            try:
                start, end = int(request.query["start"]), int(request.query["end"])
            except (KeyError, ValueError):
                return web.json_response({"error_message": "start and end required"}, status=400)
            if start < 0 or end < start or start >= log.size:
                return web.json_response({"error_message": "bad range"}, status=400)
            end = min(end + 1, log.size, start + log.max_batch)
            return web.Response(body=log.entries_json(start, end), content_type="application/json")
        return web.Response(status=404)

    def _static(self, log: FakeCtLog, tail: str) -> web.Response:
        if tail == "checkpoint":
            return web.Response(text=log.checkpoint(), content_type="text/plain", charset="utf-8")
        if not tail.startswith("tile/"):
            return web.Response(status=404)
        level, _, rest = tail[len("tile/") :].partition("/")
        path, partial, width_text = rest.partition(".p/")
        index = tile_index(path)
        if index is None or (partial and not (width_text.isdigit() and 0 < int(width_text) < TILE)):
            return web.Response(status=404)
        width = int(width_text) if partial else TILE
        if level != "data" and not (level.isdigit() and int(level) <= 5):
            return web.Response(status=404)
        count = log.size // TILE ** (0 if level == "data" else int(level))  # entries at that level
        available = min(TILE, count - index * TILE) if count > index * TILE else 0
        # A partial tile is served while its tile is partial; a full one once it is full.
        if (partial and (available == TILE or width > available)) or (not partial and available < TILE):
            return web.Response(status=404)
        if level == "data":
            body = log.data_tile(index, width)
            if log.gzip_tiles:
                return web.Response(
                    body=gzip.compress(body, 1),
                    headers={"Content-Encoding": "gzip"},
                    content_type="application/octet-stream",
                )
            return web.Response(body=body, content_type="application/octet-stream")
        hashes_ = log.level_hashes(int(level), log.size)[index * TILE : index * TILE + width]
        return web.Response(body=b"".join(hashes_), content_type="application/octet-stream")


@pytest_asyncio.fixture
async def ct_logs() -> AsyncIterator[CtLogServer]:
    """The loopback CT server (no logs yet: `add_log`), for the length of one test."""
    server = CtLogServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
