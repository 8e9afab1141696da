"""Static CT API read path (c2sp.org/static-ct-api): `checkpoint` (a signed note, verified)
and data tiles `tile/data/<N>[.p/<W>]` of up to 256 TileLeaf entries each.

A partial tile exists only as long as its full tile does not: when the partial one is gone
(404), the full tile is read instead and cut to the width asked for.
"""

from __future__ import annotations

from bot.core.errors import SourceError
from bot.watches.ct.http import SOURCE, HttpGetter
from bot.watches.ct.leaves import TILE_WIDTH, Leaf, UnreadableLeaf, data_tile_path, read_data_tile
from bot.watches.ct.log_list import CtLog
from bot.watches.ct.signatures import FormatError, TreeHead, parse_checkpoint, verify_checkpoint


class StaticCtClient:
    def __init__(self, http: HttpGetter) -> None:
        self._http = http

    async def tree_head(self, log: CtLog) -> TreeHead:
        reply = await self._http.get(f"{log.identity}checkpoint")
        try:
            text = reply.body.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("checkpoint is not UTF-8") from None
        return verify_checkpoint(
            parse_checkpoint(text), origin=log.origin, log_id=log.log_id, key_der=log.key
        )

    async def data_tile(self, log: CtLog, index: int, width: int) -> tuple[list[Leaf | UnreadableLeaf], int]:
        """The `width` leaves of data tile `index` (those that cannot be read in their
        places), and the bytes they took."""
        reply = await self._http.get(f"{log.identity}{data_tile_path(index, width)}", ok_statuses=(200, 404))
        if reply.status == 404 and width < TILE_WIDTH:
            reply = await self._http.get(f"{log.identity}{data_tile_path(index)}", ok_statuses=(200, 404))
        if reply.status == 404:
            raise SourceError(SOURCE, f"data tile {index} is missing (HTTP 404)")
        leaves = read_data_tile(reply.body, width)
        if len(leaves) < width:
            raise SourceError(SOURCE, f"data tile {index} holds {len(leaves)} entries, expected {width}")
        return leaves, len(reply.body)
