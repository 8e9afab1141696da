"""The /monitor grammar (pure): text -> a command value, or UserInputError."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UserInputError
from bot.indicators import Indicator, parse_indicator, parse_indicators


@dataclass(frozen=True)
class AddCommand:
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class RemoveCommand:
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class ListCommand:
    pass


@dataclass(frozen=True)
class CheckCommand:
    indicator: Indicator | None  # None: every monitor of the channel


@dataclass(frozen=True)
class StatusCommand:
    indicator: Indicator


@dataclass(frozen=True)
class HelpCommand:
    pass


Command = AddCommand | RemoveCommand | ListCommand | CheckCommand | StatusCommand | HelpCommand

VERBS = ("remove", "list", "check", "status", "help")


def parse_command(text: str) -> Command:
    """`/monitor` text to a command. Anything that is not a verb is a list of indicators."""
    words = text.split()
    if not words:
        raise UserInputError("Tell me what to monitor, e.g. `/monitor example.com` (see `/monitor help`).")
    verb, rest = words[0].lower(), " ".join(words[1:])
    if verb == "help":
        return HelpCommand()
    if verb == "list":
        if rest:
            raise UserInputError("`/monitor list` takes nothing after it.")
        return ListCommand()
    if verb == "remove":
        if not rest:
            raise UserInputError("Say what to stop monitoring, e.g. `/monitor remove example.com`.")
        return RemoveCommand(tuple(parse_indicators(rest)))
    if verb == "check":
        if not rest:
            raise UserInputError("Say what to check: `/monitor check example.com` or `/monitor check all`.")
        if rest.lower() == "all":
            return CheckCommand(None)
        return CheckCommand(_one(rest, "check"))
    if verb == "status":
        if not rest:
            raise UserInputError("Say which monitor: `/monitor status example.com`.")
        return StatusCommand(_one(rest, "status"))
    if verb.isalpha() and "." not in verb and ":" not in verb and len(words) > 1:
        raise UserInputError(f"Unknown command `{verb[:30]}`. Try `/monitor help`.")
    return AddCommand(tuple(parse_indicators(text)))


def _one(text: str, verb: str) -> Indicator:
    if len(text.split()) != 1:
        raise UserInputError(f"`/monitor {verb}` takes one indicator at a time.")
    return parse_indicator(text)
