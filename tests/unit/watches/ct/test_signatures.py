"""STH and checkpoint signatures with real keys (ECDSA P-256 and RSA 2048)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from bot.watches.ct.signatures import (
    FormatError,
    SignatureError,
    TreeHead,
    parse_checkpoint,
    verify_checkpoint,
    verify_tree_head,
)
from tests.fakes.ct_log import LogKey, tree_head_message

ROOT = hashlib.sha256(b"root").digest()
ORIGIN = "oak.ct.example/2026h1"


@pytest.fixture(scope="module", params=["ec", "rsa"])
def key(request: pytest.FixtureRequest) -> LogKey:
    return LogKey(request.param)


def test_tree_head_signature_verifies_and_any_change_fails(key: LogKey) -> None:
    head = TreeHead(1234, ROOT, 1_764_547_200_000)
    signature = key.digitally_signed(tree_head_message(head.timestamp_ms, head.tree_size, head.root_hash))
    verify_tree_head(key.spki, head, signature)
    for forged in (
        TreeHead(1235, ROOT, head.timestamp_ms),
        TreeHead(1234, hashlib.sha256(b"other").digest(), head.timestamp_ms),
        TreeHead(1234, ROOT, head.timestamp_ms + 1),
    ):
        with pytest.raises(SignatureError, match="does not verify"):
            verify_tree_head(key.spki, forged, signature)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_tree_head(LogKey(key.kind).spki, head, signature)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda s: s[:3], "too short"),
        (lambda s: s[:-1], "length does not match"),
        (lambda s: b"\x02" + s[1:], "not SHA-256"),
        (lambda s: s[:1] + b"\x07" + s[2:], "does not fit"),
    ],
)
def test_malformed_digitally_signed(mangle: object, message: str) -> None:
    key = LogKey("ec")
    head = TreeHead(1, ROOT, 1)
    signature = key.digitally_signed(tree_head_message(1, 1, ROOT))
    with pytest.raises(SignatureError, match=message):
        verify_tree_head(key.spki, head, mangle(signature))  # type: ignore[operator]


def checkpoint(key: LogKey, size: int = 99, *, origin: str = ORIGIN, extra: str = "") -> str:
    timestamp = 1_764_547_200_000
    signature = key.digitally_signed(tree_head_message(timestamp, size, ROOT))
    key_id = hashlib.sha256(origin.encode() + b"\n\x05" + key.log_id).digest()[:4]
    blob = base64.b64encode(key_id + timestamp.to_bytes(8, "big") + signature).decode()
    return f"{origin}\n{size}\n{base64.b64encode(ROOT).decode()}\n\n{extra}\u2014 {origin} {blob}\n"


def test_checkpoint_verifies_and_gives_its_tree_head(key: LogKey) -> None:
    witness = "\u2014 witness.example/w1 " + base64.b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode() + "\n"
    head = verify_checkpoint(
        parse_checkpoint(checkpoint(key, extra=witness)), origin=ORIGIN, log_id=key.log_id, key_der=key.spki
    )
    assert head == TreeHead(99, ROOT, 1_764_547_200_000)


def test_checkpoint_with_another_size_or_key_or_origin_is_refused(key: LogKey) -> None:
    genuine = checkpoint(key)
    forged_size = genuine.replace("\n99\n", "\n100\n")
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(parse_checkpoint(forged_size), origin=ORIGIN, log_id=key.log_id, key_der=key.spki)
    other = LogKey(key.kind)
    with pytest.raises(SignatureError, match="no signature by the log's key"):
        verify_checkpoint(parse_checkpoint(genuine), origin=ORIGIN, log_id=other.log_id, key_der=other.spki)
    with pytest.raises(SignatureError, match="origin"):
        verify_checkpoint(
            parse_checkpoint(checkpoint(key, origin="evil.example/log")),
            origin=ORIGIN,
            log_id=key.log_id,
            key_der=key.spki,
        )


@pytest.mark.parametrize(
    "text",
    [
        "oak\n99\n" + base64.b64encode(ROOT).decode() + "\n",  # no signature block
        "oak\n099\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 oak AAAA\n",
        "oak\nmany\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 oak AAAA\n",
        "oak\n99\n" + base64.b64encode(ROOT[:31]).decode() + "\n\n\u2014 oak AAAA\n",
        "oak\n99\n" + base64.b64encode(ROOT).decode() + "\n\n- oak AAAA\n",
        "oak\n99\n\n\u2014 oak AAAA\n",
    ],
)
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(FormatError):
        parse_checkpoint(text)
