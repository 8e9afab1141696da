"""Slash commands run by worker processes, so the process answering Slack only answers.

With workers (`watchpost serve` starts them by default), the web process answers a
command and hands it over through the database (`CommandHandover`): the commands of a
burst in one statement, after the burst is answered. A worker's `HandedOverCommandJob`
claims them within a tick and runs them exactly as the web process would have
(bot/slack/listeners/commands.py), replies to the response_url included. A command the
database would not take is run where it was answered instead: answered is never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.slack.front import BatchedCalls, cancel_after, first_of_each
from bot.storage.db import Database
from bot.storage.slash_commands import ClaimedCommand, HandedOverCommand, SlashCommandQueue

log = logging.getLogger(__name__)

# How often a worker looks for handed-over commands: the wait a person sees before any work.
COMMAND_TICK = 0.1
# A command runs well within this (its follow-up included); a worker that died leaves it to
# another once it passes, while its response_url (30 minutes) still takes the reply.
COMMAND_LEASE = timedelta(minutes=5)

RunCommand = Callable[[dict[str, Any]], Awaitable[None]]


class CommandHandover:
    """The web process's side: `give` stores a command for the workers."""

    def __init__(self, queue: SlashCommandQueue, *, clock: Callable[[], datetime]) -> None:
        def stored_each(commands: list[HandedOverCommand]) -> list[bool]:
            stored = queue.hand_over(commands, now=clock())
            return first_of_each([command.stored_key for command in commands], stored)

        self._calls = BatchedCalls(stored_each, name="handover")

    async def give(self, key: str, fields: dict[str, Any], run_here: RunCommand) -> None:
        """Hand the command over; a replay of one already handed over is dropped. If the
        database will not take it, it runs here (its reply says what failed)."""
        try:
            stored = await self._calls.ask(HandedOverCommand(key, fields))
        except Exception as exc:
            log.warning("a slash command could not be handed to the workers (%s): running it here", exc)
            await run_here(fields)
            return
        if not stored:
            log.warning("a replayed slash command was dropped (its signature was already handed over)")

    def close(self) -> None:
        self._calls.close()


class HandedOverCommandJob:
    """A worker's side: each tick, claims handed-over commands (at most `concurrency`
    running at once) and runs them; those that ended are marked done the tick after."""

    def __init__(
        self,
        queue: SlashCommandQueue,
        db: Database,
        run: RunCommand,
        *,
        clock: Callable[[], datetime],
        concurrency: int = 20,
        lease: timedelta = COMMAND_LEASE,
    ) -> None:
        self.queue = queue
        self.db = db
        self.run = run
        self.clock = clock
        self.concurrency = concurrency
        self.lease = lease
        self.tick_seconds = COMMAND_TICK
        self._running: dict[int, asyncio.Task[None]] = {}
        self._ended: list[int] = []

    async def run_due(self) -> int:
        """One tick: mark the commands that ended done, claim and start new ones (how many)."""
        await self._mark_ended()
        room = self.concurrency - len(self._running)
        if room <= 0:
            return 0
        claimed = await self.db.run(self.queue.claim, now=self.clock(), lease=self.lease, limit=room)
        for command in claimed:
            task = asyncio.create_task(self._run(command), name=f"slash command {command.command_id}")
            self._running[command.command_id] = task
        return len(claimed)

    async def _run(self, command: ClaimedCommand) -> None:
        try:
            await self.run(command.fields)
        except Exception:  # one command's failure is logged (its reply said so); the others run
            log.exception("a handed-over slash command failed")
        finally:
            # Cancelled (stopped mid-way), it is not marked ended: left open, another
            # worker runs it once the lease passes.
            self._running.pop(command.command_id, None)
        self._ended.append(command.command_id)

    async def _mark_ended(self) -> None:
        """The commands that ended since last told, marked done (kept to tell again if that fails)."""
        if not self._ended:
            return
        ended, self._ended = self._ended, []
        try:
            await self.db.run(self.queue.finish, ended, now=self.clock())
        except Exception:
            self._ended.extend(ended)  # until told, the lease holds them
            raise

    async def drain(self, grace: float = 5.0) -> None:
        """On the way out: running commands get `grace` seconds, then are stopped (left
        open for another worker); those that ended are marked done."""
        unfinished = await cancel_after(grace, list(self._running.values()))
        if unfinished:
            log.warning("%d slash commands still running at shutdown were left to another worker", unfinished)
        try:
            await self._mark_ended()
        except Exception as exc:  # they may run again elsewhere: their replies would repeat
            log.warning("%d ended slash commands could not be marked done (%s)", len(self._ended), exc)
