"""Slash commands run by worker processes, so the process answering Slack only answers.

With workers (`watchpost serve` starts them by default), the web process answers a
command and hands it over through the database (`CommandHandover`): the commands of a
burst in one statement, after the burst is answered. A worker's job
(`handed_over_command_job`, the one handover's: bot/storage/handovers.py) claims them
within a tick and runs them exactly as the web process would have
(bot/surfaces/slack/listeners/commands.py), replies to the response_url included. A command the
database would not take is run where it was answered instead: answered is never lost."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.core.batching import BatchedCalls, first_of_each
from bot.storage.db import DatabaseRunner
from bot.storage.handovers import HandoverJob
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


def handed_over_command_job(
    queue: SlashCommandQueue,
    db: DatabaseRunner,
    run: RunCommand,
    *,
    clock: Callable[[], datetime],
    concurrency: int = 20,
    lease: timedelta = COMMAND_LEASE,
) -> HandoverJob[ClaimedCommand]:
    """A worker's side (the one handover's job, bot/storage/handovers.py): each tick,
    claims handed-over commands (at most `concurrency` running at once) and runs them;
    those that ended are marked done the tick after."""

    async def run_claimed(command: ClaimedCommand) -> None:
        await run(command.fields)

    return HandoverJob(
        queue,
        db,
        run_claimed,
        clock=clock,
        lease=lease,
        concurrency=concurrency,
        tick_seconds=COMMAND_TICK,
        what="slash command",
    )
