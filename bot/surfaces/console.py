"""Console mode: type exactly what you would type in Slack, see the replies and alerts as
text, press the buttons (errbot's text backend idea). The same command flows, the same
button dispatcher (bot/commands/buttons.py) and the same message builders as Slack.

What the terminal shows:
- a reply to what you typed, printed before the next prompt;
- a message the bot posts (an alert, a digest, an investigation…) under a line saying what
  it is and where: `--- alert in #console ---`, `--- investigation in the thread of the
  alert "Change on evil[.]com" ---`;
- every button numbered, `[3 Investigate 98.126.38.107]`: type `3` or `press 3`;
- files (digest CSVs, pictures) saved under WATCHPOST_FILES_DIR, with their path.

The local user is `@you` in `#console`; the console has no command rate limit.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.commands.buttons import ButtonDispatcher, Press, PressOutcome
from bot.commands.flows import MonitorFlows
from bot.composition import Services
from bot.core.message import Block, Message
from bot.core.results import Caller, CommandResult
from bot.core.text import render_text
from bot.monitoring.scheduler import build_scheduler
from bot.triage.flows.deliveries import TriageFlows

CONSOLE_CALLER = Caller(team_id="T0CONSOLE", channel_id="C0CONSOLE", user_id="U0CONSOLE")
NAMES = {"U0CONSOLE": "you", "C0CONSOLE": "console"}
PROMPT = "watchpost> "
BANNER = """Watchpost console: type what you would type in Slack, e.g.
  /monitor 98.126.38.107      /monitor example.com      /monitor list
  /monitor check example.com  /monitor remove example.com  /monitor help
Alerts print here as checks find changes. Buttons are numbered: type `3` or `press 3`
(`buttons` lists them). Ctrl-D, Ctrl-C or `quit` leaves."""

_PRESS = re.compile(r"(?:press\s+)?#?(\d{1,6})", re.IGNORECASE)


@dataclass(frozen=True)
class ShownButton:
    """A numbered button: what it carries and the message it is on."""

    action_id: str
    value: str
    label: str
    channel_id: str
    message_ts: str | None  # None: on a reply only you saw


@dataclass
class _Posted:
    message: Message
    channel_id: str
    thread_ts: str | None


class ConsoleTransport:
    """The terminal as a channel: posts print (labelled), files are saved, buttons numbered.

    `prompting` is True while the console waits for a line: what arrives then is printed
    on a fresh line and the prompt is shown again, so it never lands after the prompt."""

    def __init__(
        self,
        out: TextIO,
        *,
        files_dir: Path,
        names: dict[str, str] | None = None,
        buttons: bool = True,
    ) -> None:
        self.out = out
        # False for `watchpost check`, which takes no presses: buttons are not shown.
        self.show_buttons = buttons
        self.files_dir = files_dir
        self.names = dict(NAMES if names is None else names)
        self.prompting = False
        self.buttons: dict[int, ShownButton] = {}
        self.posted: dict[str, _Posted] = {}
        self._ts = itertools.count(1)
        self._numbers = itertools.count(1)

    # --- Transport ---------------------------------------------------------------------

    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        ts = f"{next(self._ts)}.000000"
        self.posted[ts] = _Posted(message, channel_id, thread_ts)
        self.say(
            self.render(message, channel_id=channel_id, ts=ts),
            heading=self._heading(message, thread_ts, channel_id),
        )
        return ts

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        """Slack edits a message in place; the terminal prints it again, with fresh buttons."""
        self.forget_buttons(ts)
        thread_ts = self.posted[ts].thread_ts if ts in self.posted else None
        self.posted[ts] = _Posted(message, channel_id, thread_ts)
        where = f"in #{self.names.get(channel_id, channel_id)}"
        self.say(
            self.render(message, channel_id=channel_id, ts=ts),
            heading=f"{message.label or 'message'} updated {where}",
        )

    async def upload_file(
        self, channel_id: str, *, thread_ts: str | None, filename: str, content: bytes, title: str
    ) -> None:
        path = await asyncio.to_thread(self.save, channel_id, filename, content)
        where = self._where(thread_ts, channel_id)
        self.say(f"[file {where}: {title}, saved to {path}]")

    def save(self, channel_id: str, filename: str, content: bytes) -> Path:
        """Write a file under files_dir/<channel>/, by its name only (never a path)."""
        folder = self.files_dir / (Path(self.names.get(channel_id, channel_id)).name or "channel")
        path = folder / (Path(filename).name or "file")
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    # --- the screen ----------------------------------------------------------------------

    def say(self, text: str, *, heading: str | None = None) -> None:
        """Print `text` (under `heading`), before the prompt when one is showing."""
        shown = f"--- {heading} ---\n{text}" if heading else text
        if self.prompting:
            self.out.write(f"\n{shown}\n{PROMPT}")
        else:
            self.out.write(shown + "\n")
        self.out.flush()

    def render(self, message: Message, *, channel_id: str, ts: str | None) -> str:
        """The message as text, its buttons numbered and remembered for `press`."""

        def numbered(element: Block) -> str:
            label = str(element["text"]["text"])
            if "action_id" not in element:
                return f"[{label}]"
            number = next(self._numbers)
            self.buttons[number] = ShownButton(
                str(element["action_id"]), str(element.get("value", "")), label, channel_id, ts
            )
            return f"[{number} {label}]"

        return render_text(message, names=self.names, button_label=numbered, buttons=self.show_buttons)

    def forget_buttons(self, ts: str) -> None:
        for number in [n for n, b in self.buttons.items() if b.message_ts == ts]:
            del self.buttons[number]

    def _heading(self, message: Message, thread_ts: str | None, channel_id: str) -> str:
        label = message.label or "message"
        if thread_ts and label == "alert":
            label = "follow-up"  # an alert posted in an open alert's thread
        return f"{label} {self._where(thread_ts, channel_id)}"

    def _where(self, thread_ts: str | None, channel_id: str) -> str:
        channel = f"#{self.names.get(channel_id, channel_id)}"
        parent = self.posted.get(thread_ts or "")
        if parent is None:
            # A thread this terminal never showed (posted before `watchpost check` ran).
            return f"in the thread of an earlier message in {channel}" if thread_ts else f"in {channel}"
        return f'in the thread of the {parent.message.label or "message"} "{_title(parent.message)}"'


def _title(message: Message) -> str:
    for block in message.blocks:
        if block.get("type") == "header":
            return str(block["text"]["text"])
    return message.text.split("\n")[0][:60]


class NotACommand(ValueError):
    """A console line that is no command: what to say instead of running it."""


def command_text(line: str) -> str | None:
    """The /monitor text of a console line; None for an empty line. Raises NotACommand for
    anything else: bare text is refused, as Slack would never see it as a command (a typo
    of a button number must not add a monitor)."""
    line = line.strip()
    if not line:
        return None
    word, _, rest = line.partition(" ")
    if word == "/monitor":
        return rest
    if word == "/unmonitor":
        return f"remove {rest}"
    if word.startswith("/"):
        raise NotACommand(f"Unknown command {word[:30]}: try /monitor help")
    raise NotACommand(
        f"Not a command: commands start with /monitor or /unmonitor, as in Slack (`/monitor {line[:60]}`); "
        "a number presses a button, `buttons` lists them, `quit` leaves."
    )


class Console:
    """Reads lines, runs them as commands or button presses, shows what comes back."""

    def __init__(
        self,
        flows: MonitorFlows,
        screen: ConsoleTransport,
        caller: Caller = CONSOLE_CALLER,
        *,
        triage: TriageFlows | None = None,
    ) -> None:
        self.flows = flows
        self.buttons = ButtonDispatcher(flows, triage)
        self.screen = screen
        self.caller = caller

    async def handle(self, line: str) -> None:
        """One line, completely: its replies are printed when this returns."""
        pressed = _PRESS.fullmatch(line.strip())
        if pressed:
            await self.press(int(pressed.group(1)))
            return
        if line.strip() == "buttons":
            self.list_buttons()
            return
        try:
            text = command_text(line)
        except NotACommand as refusal:
            self.screen.say(str(refusal))
            return
        if text is not None:
            await self.show(await self.flows.execute(text, self.caller))

    async def show(self, result: CommandResult) -> None:
        """A command's reply, then its follow-up messages (baselines, checks)."""
        self._reply(result.reply, public=result.public)
        await self.save_files(result, thread_ts=None)
        if result.follow_up is not None:
            for message in await result.follow_up():
                self._reply(message, public=False)

    async def save_files(self, result: CommandResult, *, thread_ts: str | None) -> None:
        """What Slack would upload (a timeline picture): saved, with its path printed."""
        for upload in result.files:
            await self.screen.upload_file(
                self.caller.channel_id,
                thread_ts=thread_ts,
                filename=upload.filename,
                content=upload.content,
                title=upload.title,
            )

    async def press(self, number: int) -> None:
        """Press button `number`, as Slack would have it pressed: through the one dispatcher
        (bot/commands/buttons.py), in the channel and on the message it is shown with."""
        button = self.screen.buttons.get(number)
        if button is None:
            self.screen.say(f"There is no button {number} (any more). `buttons` lists them.")
            return
        posted = self.screen.posted.get(button.message_ts or "")
        self.screen.say(f"(pressed {number}: {button.label})")
        pressed = Press(
            button.action_id,
            button.value,
            Caller(self.caller.team_id, button.channel_id, self.caller.user_id),
            message_ts=button.message_ts,
            message=posted.message if posted else Message(""),
        )
        # An investigation goes in the pressed message's thread (the channel for a reply).
        thread = (posted.thread_ts or button.message_ts) if posted else None
        await self.show_outcome(await self.buttons.press(pressed), button, thread)

    async def show_outcome(self, outcome: PressOutcome, button: ShownButton, thread: str | None) -> None:
        """What a press came to, in the order Slack shows it; then its slow part."""
        if outcome.result is not None:
            await self.show(outcome.result)
        if outcome.thread is not None:
            await self.screen.post(button.channel_id, outcome.thread.reply, thread_ts=thread)
            await self.save_files(outcome.thread, thread_ts=thread)
        if outcome.updated is not None and button.message_ts is not None:
            await self.screen.update(button.channel_id, button.message_ts, outcome.updated)
        if outcome.form is not None:
            self.screen.say("This button opens a form, which only Slack can show: nothing was changed.")
        if outcome.then is not None:
            await self.show_outcome(await outcome.then(), button, thread)

    def list_buttons(self) -> None:
        if not self.screen.buttons:
            self.screen.say("No buttons to press yet: they come with alerts and investigations.")
            return
        self.screen.say("\n".join(f"[{n} {b.label}]" for n, b in sorted(self.screen.buttons.items())))

    def _reply(self, message: Message, *, public: bool) -> None:
        text = self.screen.render(message, channel_id=self.caller.channel_id, ts=None)
        where = f"in #{self.screen.names.get(self.caller.channel_id, self.caller.channel_id)}"
        self.screen.say(text, heading=f"said {where}, for everyone" if public else None)


async def run_console(services: Services, screen: ConsoleTransport, *, stdin: TextIO = sys.stdin) -> None:
    scheduler = build_scheduler(
        services.dispatcher,
        services.outbox,
        digests=services.digests,
        permutations=services.permutations,
        ct=services.ct,
    )
    scheduler.start()
    console = Console(services.flows, screen, triage=services.triage)
    screen.say(BANNER)
    lines = _read_lines(stdin)
    try:
        while True:
            screen.out.write(PROMPT)
            screen.out.flush()
            screen.prompting = True
            line = await lines.get()
            screen.prompting = False
            if not line or line.strip() in {"quit", "exit"}:
                break
            await console.handle(line)
    finally:
        await scheduler.stop()  # at once: its jobs end before the services they use close
        screen.out.write("\n")
        screen.out.flush()


def _read_lines(stdin: TextIO) -> asyncio.Queue[str]:
    """Lines of `stdin` as they come ("" at its end), read on a daemon thread: a thread of
    the default executor would keep Ctrl-C waiting for Enter, as the loop's shutdown joins it."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        while True:
            line = stdin.readline()
            try:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            except RuntimeError:  # the console has closed: nobody reads any more
                return
            if not line:
                return

    threading.Thread(target=read, name="console input", daemon=True).start()
    return lines
