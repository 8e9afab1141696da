"""Slack's slash commands answered first, worked on after, whichever transport brought them.

Slack waits at most 3 s for the answer to a slash command, and that answer is empty
whatever the command does (the replies go to its response_url). So a command is answered
at once, before Bolt, and handed to the one entry (`SlashCommandEntry.take`): in HTTP
mode by bot/server.py once its signature is checked (the answer is the empty 200), in
Socket Mode by bot/surfaces/slack/socket_mode.py once its envelope is acknowledged. The entry drops
a request already served (its identity, in the same replay memory either way) and starts
its work (bot/surfaces/slack/listeners/commands.py) once the requests that came in with it have had
their answers too: the work of a burst of commands never delays the answers of the same
burst. Bolt registers no slash command at all. Buttons, modal submissions (whose answer
may carry errors) and Events API requests (the URL challenge) go through Bolt before they
are answered, as Bolt expects, in both modes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from time import monotonic
from typing import Any
from urllib.parse import parse_qs

from bot.core.batching import BatchedCalls, cancel_after, first_of_each
from bot.surfaces.slack.retries import RequestMemory, first_delivery, request_identity

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
# A command's key (its identity, else what tells its delivery apart) and its fields, taken
# once Slack has its answer: SlashCommands.take (to the workers, or run here).
TakeCommand = Callable[[str, dict[str, Any]], Awaitable[None]]


def slash_command_fields(body: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """A slash command's form fields (`command=/monitor&text=…`, each field's first value,
    as Bolt reads them); None for anything else (an interactive payload, an event)."""
    if not headers.get("Content-Type", "").startswith(FORM):
        return None
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        return None  # Bolt gives malformed bodies their answer
    if "command" not in fields or "payload" in fields:
        return None
    return {name: values[0] for name, values in fields.items()}


class AfterAnswers:
    """Work that waits for Slack's requests to be answered: queued work starts once no
    request has come in for `quiet` seconds, and never later than `longest` seconds after
    it was queued (a steady stream of requests does not hold it back for long)."""

    def __init__(self, *, quiet: float = 0.02, longest: float = 0.25) -> None:
        self.quiet = quiet
        self.longest = longest
        self._queued: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self._last_arrival = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    def arrived(self) -> None:
        """A request from Slack came in: queued work waits a little longer."""
        self._last_arrival = monotonic()

    def later(self, work: Callable[[], Awaitable[None]]) -> None:
        self._queued.append((monotonic(), work))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.quiet, self._release)

    def _release(self) -> None:
        self._timer = None
        if not self._queued:
            return
        now = monotonic()
        quiet_left = self.quiet - (now - self._last_arrival)
        longest_left = self.longest - (now - self._queued[0][0])
        if quiet_left > 0 and longest_left > 0:
            self._timer = asyncio.get_running_loop().call_later(min(quiet_left, longest_left), self._release)
            return
        self._start_queued()

    def _start_queued(self) -> None:
        queued, self._queued = self._queued, []
        for _, work in queued:
            task = asyncio.create_task(self._run(work))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    @staticmethod
    async def _run(work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:  # one command's failure is logged, the others run
            log.exception("a slash command failed after it was answered")

    async def drain(self, grace: float = 5.0) -> None:
        """On the way out: the commands that were answered get `grace` seconds to finish
        (what they stored stays stored; a baseline they asked for is run by the next
        worker); those still running then are cancelled, and said so in the log."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._start_queued()
        unfinished = await cancel_after(grace, list(self._running))
        if unfinished:
            log.warning("%d slash commands still running at shutdown were stopped", unfinished)


class SlashCommandEntry:
    """The one way in for a slash command, from HTTP or Socket Mode alike, once Slack has its
    answer: a request already served is dropped, the rest wait for the answers of their
    burst (`after`) and then go to `take`. With workers (`handed_over`) the one statement
    that hands a burst over drops a request that any process handed over before (the same
    key), so the replay memory is not asked first; otherwise `served` is, with the key
    Bolt's middleware asks for buttons and events (bot/surfaces/slack/retries.py)."""

    def __init__(
        self, take: TakeCommand, after: AfterAnswers, served: RequestMemory, *, handed_over: bool
    ) -> None:
        self._take = take
        self.after = after
        self.served = served
        self.handed_over = handed_over

    def arrived(self) -> None:
        """A request from Slack came in (any kind): the commands' work waits a little longer."""
        self.after.arrived()

    async def take(self, fields: dict[str, Any], *, delivery: str) -> None:
        """An answered command's form fields; `delivery` keys it when it has no identity
        (the request's signature, or the envelope)."""
        identity = request_identity(fields)
        if not self.handed_over and identity is not None and not await first_delivery(self.served, identity):
            log.info("Slack delivered %s again: served once already, dropped", identity)
            return
        key = identity or delivery
        self.after.later(lambda: self._take(key, fields))


class SharedReplayMemory:
    """Whether any process already served a request signature (several `watchpost serve`
    on PostgreSQL), asked for all the requests that came in together at once."""

    def __init__(self, first_sights: Callable[[list[tuple[str, int]]], set[str]]) -> None:
        def each_first(seen: list[tuple[str, int]]) -> list[bool]:
            return first_of_each([signature[:80] for signature, _ in seen], first_sights(seen))

        self._calls = BatchedCalls(each_first, name="replays")

    async def first_sight(self, signature: str, stamp: int) -> bool:
        return await self._calls.ask((signature, stamp))

    def close(self) -> None:
        self._calls.close()
