"""Slash commands handed from the process that answers Slack to a worker that runs them.

The web process answers a command at once and `hand_over`s it, with the others that came
in together, in one statement; a replay of a request already handed over (its signature
is the row's key) is dropped there, whichever process got it. A worker `claim`s open rows
(SKIP LOCKED on PostgreSQL, a lease either way: a worker that died mid-command leaves it
to another) and `finish`es them: the fields, response_url included, are cleared then, and
the key is kept while a replay of it could still pass the signature check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, func, select, update

from bot.storage.engine import claim_open_rows, insert_unless_present
from bot.storage.models import SlashCommandRow

_COMMANDS = cast(Table, SlashCommandRow.__table__)
# Slack's signatures are valid for five minutes (bot/slack/signatures.py); a little more.
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


class SlashCommandQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[ClaimedCommand]:
        """Up to `limit` open commands, oldest first, leased to the caller until `now + lease`."""
        with self.engine.begin() as connection:
            rows = claim_open_rows(
                connection,
                _COMMANDS,
                [_COMMANDS.c.fields],
                oldest_first=[_COMMANDS.c.received_at, _COMMANDS.c.id],
                now=now,
                lease=lease,
                limit=limit,
            )
        return [ClaimedCommand(row.id, dict(row.fields or {})) for row in rows]

    def finish(self, command_ids: Sequence[int], *, now: datetime) -> None:
        """These ran: their fields go (the response_url with them); keys past any replay go too."""
        with self.engine.begin() as connection:
            if command_ids:
                connection.execute(
                    update(_COMMANDS)
                    .where(_COMMANDS.c.id.in_(list(command_ids)))
                    .values(done_at=now, fields=None)
                )
            connection.execute(
                delete(_COMMANDS).where(
                    and_(_COMMANDS.c.done_at.is_not(None), _COMMANDS.c.received_at < now - KEY_KEPT)
                )
            )

    def open_count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(_COMMANDS).where(_COMMANDS.c.done_at.is_(None))
                ).scalar_one()
            )
