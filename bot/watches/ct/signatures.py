"""Tree head signatures (pure): RFC 6962 §3.5 STHs and Static CT API checkpoints.

An STH's `tree_head_signature` is a TLS DigitallySigned (hash sha256(4), signature rsa(1)
or ecdsa(3), opaque signature<0..2^16-1>) over

    version v1(0) | signature_type tree_hash(1) | uint64 timestamp | uint64 tree_size | root[32]

A static log's checkpoint (c2sp.org/tlog-checkpoint) is a signed note (c2sp.org/signed-note):
origin, tree size, base64 root hash, then a blank line and `— <name> <base64(key id ||
signature)>` lines. The log's own line is named by the origin, its key id is the first four
bytes of SHA-256(name || "\\n" || 0x05 || LogID), and its signature is an RFC6962NoteSignature:
uint64 timestamp, then the same DigitallySigned tree head signature. Other lines (witnesses)
are ignored, as the spec says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_SHA256, _RSA, _ECDSA = 4, 1, 3
_NOTE_SIGNATURE_TYPE_RFC6962 = b"\x05"
_SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space opens every note signature line


class SignatureError(ValueError):
    """A tree head whose signature is missing, malformed or wrong: not to be believed."""


class FormatError(ValueError):
    """A tree head or checkpoint that is not well formed."""


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    timestamp_ms: int


def tree_head_message(timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    return b"\x00\x01" + timestamp_ms.to_bytes(8, "big") + tree_size.to_bytes(8, "big") + root_hash


def verify_tree_head(key_der: bytes, head: TreeHead, digitally_signed: bytes) -> None:
    """Raise SignatureError unless `digitally_signed` is the log key's signature of `head`."""
    message = tree_head_message(head.timestamp_ms, head.tree_size, head.root_hash)
    verify_digitally_signed(key_der, message, digitally_signed)


def verify_digitally_signed(key_der: bytes, message: bytes, digitally_signed: bytes) -> None:
    if len(digitally_signed) < 4:
        raise SignatureError("signature too short")
    hash_algorithm, signature_algorithm = digitally_signed[0], digitally_signed[1]
    length = int.from_bytes(digitally_signed[2:4], "big")
    signature = digitally_signed[4:]
    if len(signature) != length:
        raise SignatureError("signature length does not match")
    if hash_algorithm != _SHA256:
        raise SignatureError(f"hash algorithm {hash_algorithm} is not SHA-256")
    try:
        key = serialization.load_der_public_key(key_der)
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError("the log list's key is unreadable") from None
    try:
        if signature_algorithm == _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif signature_algorithm == _RSA and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise SignatureError(f"signature algorithm {signature_algorithm} does not fit the log's key")
    except InvalidSignature:
        raise SignatureError("the signature does not verify with the log's key") from None


def note_key_id(name: str, log_id: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _NOTE_SIGNATURE_TYPE_RFC6962 + log_id).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (key name, key id || signature)


def parse_checkpoint(text: str) -> Checkpoint:
    body, separator, signature_block = text.partition("\n\n")
    if not separator:
        raise FormatError("checkpoint without a signature block")
    lines = body.split("\n")
    if len(lines) < 3:
        raise FormatError("checkpoint body needs origin, size and root hash")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin or not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
        raise FormatError("bad checkpoint origin or tree size")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError("checkpoint root hash is not base64") from None
    if len(root_hash) != 32:
        raise FormatError("checkpoint root hash is not 32 bytes")
    signatures: list[tuple[str, bytes]] = []
    for line in signature_block.split("\n"):
        if not line:
            continue
        if not line.startswith(_SIGNATURE_PREFIX):
            raise FormatError("malformed note signature line")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            signatures.append((name, base64.b64decode(encoded, validate=True)))
        except (binascii.Error, ValueError):
            raise FormatError("note signature is not base64") from None
    return Checkpoint(origin, int(size_text), root_hash, tuple(signatures))


def verify_checkpoint(checkpoint: Checkpoint, *, origin: str, log_id: bytes, key_der: bytes) -> TreeHead:
    """The tree head a checkpoint signs, or SignatureError. With no key, the head is
    read but unverified (timestamp from the log's own line, if there is one)."""
    if checkpoint.origin != origin:
        raise SignatureError(f"checkpoint origin is {checkpoint.origin[:80]!r}, expected {origin!r}")
    key_id = note_key_id(origin, log_id)
    for name, blob in checkpoint.signatures:
        if name != origin or blob[:4] != key_id:
            continue
        if len(blob) < 12:
            raise SignatureError("note signature too short")
        head = TreeHead(checkpoint.tree_size, checkpoint.root_hash, int.from_bytes(blob[4:12], "big"))
        if key_der:
            verify_tree_head(key_der, head, blob[12:])
        return head
    if key_der:
        raise SignatureError("no signature by the log's key on the checkpoint")
    return TreeHead(checkpoint.tree_size, checkpoint.root_hash, 0)
