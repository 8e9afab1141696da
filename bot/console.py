"""Console mode: type exactly what you would type in Slack, see the replies and alerts as
text. The same command flows and message builders as Slack (errbot's text backend idea)."""

from __future__ import annotations

import asyncio
import itertools
import sys
from typing import TextIO

from bot.commands.flows import Caller, CommandResult
from bot.composition import Services
from bot.monitoring.scheduler import build_scheduler
from bot.render.messages import Message
from bot.render.text import render_text

CONSOLE_CALLER = Caller(team_id="T0CONSOLE", channel_id="C0CONSOLE", user_id="U0CONSOLE")
PROMPT = "watchpost> "
BANNER = """Watchpost console: type what you would type in Slack, e.g.
  /monitor 98.126.38.107      /monitor example.com      /monitor list
  /monitor check example.com  /monitor remove example.com  /monitor help
Alerts print here as checks find changes. Ctrl-D or `quit` leaves."""


class ConsoleTransport:
    """Prints alerts to the terminal, as the channel would show them."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._ts = itertools.count(1)

    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        where = f"thread {thread_ts}" if thread_ts else f"#{channel_id}"
        self.out.write(f"\n--- alert in {where} ---\n{render_text(message)}\n---\n{PROMPT}")
        self.out.flush()
        return f"{next(self._ts)}.000000"

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        self.out.write(f"\n--- alert {ts} in #{channel_id}, now ---\n{render_text(message)}\n---\n{PROMPT}")
        self.out.flush()

    async def upload_file(
        self, channel_id: str, *, thread_ts: str | None, filename: str, content: bytes, title: str
    ) -> None:
        # Saved where a terminal user can open it, without littering the working directory.
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.gettempdir()) / "watchpost-digests" / (Path(channel_id).name or "channel")
        path = folder / (Path(filename).name or "digest.csv")  # names only, never a path
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, content)
        where = f"thread {thread_ts}" if thread_ts else f"#{channel_id}"
        rows = content.count(b"\n")
        self.out.write(f"\n[file in {where}: {title}, {rows} lines, saved to {path}]\n{PROMPT}")
        self.out.flush()


def command_text(line: str) -> str | None:
    """The /monitor text of a console line; None for lines that are not commands."""
    line = line.strip()
    if not line:
        return None
    word, _, rest = line.partition(" ")
    if word == "/monitor":
        return rest
    if word == "/unmonitor":
        return f"remove {rest}"
    if word.startswith("/"):
        return f"__unknown_slash__ {word}"
    return line  # the console accepts /monitor's text without the slash command


async def run_console(services: Services, *, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    scheduler = build_scheduler(services.dispatcher, services.outbox, digests=services.digests)
    scheduler.start()
    out.write(BANNER + "\n" + PROMPT)
    out.flush()
    try:
        while True:
            line = await asyncio.to_thread(stdin.readline)
            if not line or line.strip() in {"quit", "exit"}:
                break
            text = command_text(line)
            if text is not None:
                if text.startswith("__unknown_slash__ "):
                    word = text.split()[1][:30]
                    out.write(f"Unknown command {word}: try /monitor help\n")
                else:
                    await _show(await services.flows.execute(text, CONSOLE_CALLER), out)
            out.write(PROMPT)
            out.flush()
    finally:
        scheduler.shutdown(wait=False)
        out.write("\n")
        out.flush()


async def _show(result: CommandResult, out: TextIO) -> None:
    out.write(render_text(result.reply) + "\n")
    out.flush()
    if result.follow_up is not None:
        for message in await result.follow_up():
            out.write(render_text(message) + "\n")
            out.flush()
