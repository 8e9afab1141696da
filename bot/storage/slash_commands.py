"""Slash commands handed from the process that answers Slack to a worker that runs them.

One kind of the one handover (bot/storage/handovers.py). The web process answers a
command at once and `hand_over`s it, with the others that came in together, in one
statement; a replay of a request already handed over (its signature is the row's key) is
dropped there, whichever process got it. A worker `claim`s open rows and `complete`s
them: the fields, response_url included, are cleared then, and the key is kept while a
replay of it could still pass the signature check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row, Table

from bot.storage.engine import insert_unless_present
from bot.storage.handovers import LeasedQueue, QueueTable
from bot.storage.models import SlashCommandRow

_COMMANDS = cast(Table, SlashCommandRow.__table__)
# Slack's signatures are valid for five minutes (bot/surfaces/slack/signatures.py); a little more.
KEY_KEPT = timedelta(minutes=10)


@dataclass(frozen=True)
class HandedOverCommand:
    key: str  # the command's identity (`trigger:<trigger_id>`), else the request's signature
    fields: dict[str, Any]  # the command's form fields, as Slack sent them

    @property
    def stored_key(self) -> str:
        return self.key[:100]  # the column's width


@dataclass(frozen=True)
class ClaimedCommand:
    command_id: int
    fields: dict[str, Any]

    @property
    def claim_id(self) -> int:
        return self.command_id


class SlashCommandQueue(LeasedQueue[ClaimedCommand]):
    def __init__(self, engine: Engine) -> None:
        super().__init__(
            engine,
            QueueTable(
                _COMMANDS,
                claimed=(_COMMANDS.c.fields,),
                oldest_first=(_COMMANDS.c.received_at, _COMMANDS.c.id),
                kept=KEY_KEPT,
                cleared=("fields",),
            ),
        )

    def hand_over(self, commands: Sequence[HandedOverCommand], *, now: datetime) -> set[str]:
        """Store the commands in one transaction; the keys stored (a key already there, or
        twice in `commands`, is a replay and is left out)."""
        rows: dict[str, dict[str, Any]] = {}
        for command in commands:
            rows.setdefault(command.stored_key, command.fields)
        if not rows:
            return set()
        with self.engine.begin() as connection:
            # One statement compiled once (a VALUES list of its own length per burst would
            # be compiled every time, on the thread beside the loop answering Slack).
            stored = connection.execute(
                insert_unless_present(connection.dialect.name, _COMMANDS, "key").returning(_COMMANDS.c.key),
                [{"key": key, "fields": fields, "received_at": now} for key, fields in rows.items()],
            ).scalars()
            return set(stored)

    def claimed(self, connection: Connection, rows: list[Row[Any]]) -> list[ClaimedCommand]:
        return [ClaimedCommand(row.id, dict(row.fields or {})) for row in rows]

    def finish(self, command_ids: Sequence[int], *, now: datetime) -> None:
        """These ran: their fields go (the response_url with them); keys past any replay go too."""
        self.complete(dict.fromkeys(command_ids), now=now)
