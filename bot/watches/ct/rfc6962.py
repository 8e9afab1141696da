"""RFC 6962 §4 read API: `ct/v1/get-sth` (verified) and `ct/v1/get-entries`.

A log caps how many entries one get-entries returns (often 32 to 1,024, whatever was
asked): `entries` returns what the log gave, and the caller pages on from there.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bot.core.errors import SourceError
from bot.watches.ct.http import SOURCE, HttpGetter
from bot.watches.ct.leaves import Leaf, UnreadableLeaf, parse_merkle_tree_leaf
from bot.watches.ct.log_list import CtLog
from bot.watches.ct.signatures import FormatError, TreeHead, verify_tree_head


class Rfc6962Client:
    def __init__(self, http: HttpGetter) -> None:
        self._http = http

    async def tree_head(self, log: CtLog) -> TreeHead:
        """The log's signed tree head; SignatureError when its key is listed and the
        signature is not the log's, FormatError when the reply is not an STH."""
        reply = await self._http.get(f"{log.identity}ct/v1/get-sth")
        head, signature = parse_sth(reply.json(SOURCE))
        if log.key:
            verify_tree_head(log.key, head, signature)
        return head

    async def entries(self, log: CtLog, start: int, end: int) -> tuple[list[Leaf | UnreadableLeaf], int]:
        """Leaves from `start` up to `end` (exclusive) or fewer, as the log caps them, and
        the bytes the reply took. One entry that cannot be read is an UnreadableLeaf in
        its place: it never costs the entries beside it."""
        reply = await self._http.get(
            f"{log.identity}ct/v1/get-entries", params={"start": str(start), "end": str(end - 1)}
        )
        document = reply.json(SOURCE)
        items = document.get("entries") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise SourceError(SOURCE, "get-entries reply has no entries[]")
        return [_leaf(item) for item in items[: end - start]], len(reply.body)


def _leaf(item: Any) -> Leaf | UnreadableLeaf:
    try:
        leaf_input = item.get("leaf_input") if isinstance(item, dict) else None
        return parse_merkle_tree_leaf(_base64(leaf_input, "leaf_input"))
    except Exception as exc:  # of any class: it stays with this entry
        return UnreadableLeaf(f"{exc.__class__.__name__}: {exc}")


def parse_sth(document: Any) -> tuple[TreeHead, bytes]:
    """A get-sth reply -> (tree head, its DigitallySigned signature)."""
    if not isinstance(document, dict):
        raise FormatError("get-sth reply is not an object")
    size, timestamp = document.get("tree_size"), document.get("timestamp")
    if not isinstance(size, int) or not isinstance(timestamp, int) or size < 0 or timestamp < 0:
        raise FormatError("get-sth reply lacks tree_size or timestamp")
    root = _base64(document.get("sha256_root_hash"), "sha256_root_hash")
    if len(root) != 32:
        raise FormatError("sha256_root_hash is not 32 bytes")
    signature = _base64(document.get("tree_head_signature"), "tree_head_signature")
    return TreeHead(size, root, timestamp), signature


def _base64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{what} is not base64") from None
