"""The /monitor grammar (pure): text -> a command value, or UserInputError."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.errors import UserInputError
from bot.model.indicators import Indicator, escape_in_code, parse_indicator, parse_indicators
from bot.monitoring.datasets import DATASET_NAMES


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
class HistoryCommand:
    indicator: Indicator
    day: date | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class MuteCommand:
    indicator: Indicator
    dataset: str
    muted: bool  # False: unmute


@dataclass(frozen=True)
class DigestCommand:
    pass


@dataclass(frozen=True)
class HelpCommand:
    pass


@dataclass(frozen=True)
class HealthCommand:
    """`/monitor health`: every source's requests, quota use, errors and latency."""


Command = (
    AddCommand
    | RemoveCommand
    | ListCommand
    | CheckCommand
    | StatusCommand
    | HistoryCommand
    | MuteCommand
    | DigestCommand
    | HelpCommand
    | HealthCommand
)

VERBS = ("remove", "list", "status", "history", "check", "mute", "unmute", "digest", "health", "help")
_OPTION = re.compile(r"([A-Za-z_]+)=(\S*)")


def parse_command(text: str) -> Command:
    """`/monitor` text to a command. Anything that is not a verb is a list of indicators."""
    words = text.split()
    if not words:
        raise UserInputError("Tell me what to monitor, e.g. `/monitor example.com` (see `/monitor help`).")
    verb, rest = words[0].lower(), " ".join(words[1:])
    if verb == "help":
        return HelpCommand()
    if verb in ("list", "digest", "health"):
        if rest:
            raise UserInputError(f"`/monitor {verb}` takes nothing after it.")
        if verb == "health":
            return HealthCommand()
        return ListCommand() if verb == "list" else DigestCommand()
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
    if verb == "history":
        return _history(words[1:])
    if verb in ("mute", "unmute"):
        return _mute(verb, words[1:])
    if verb.isalpha() and "." not in verb and ":" not in verb and len(words) > 1:
        raise UserInputError(f"Unknown command `{_quote(verb)}`. Try `/monitor help`.")
    return AddCommand(tuple(parse_indicators(text)))


def parse_dataset(name: str) -> str:
    """A dataset name as typed; UserInputError naming the known ones otherwise."""
    dataset = name.strip().lower()
    if dataset not in DATASET_NAMES:
        raise UserInputError(f"Unknown dataset `{_quote(name)}`. Datasets: {', '.join(DATASET_NAMES)}.")
    return dataset


def _history(words: list[str]) -> HistoryCommand:
    usage = "`/monitor history <indicator> [day=YYYY-MM-DD] [dataset=NAME]`"
    options: dict[str, str] = {}
    rest: list[str] = []
    for word in words:
        match = _OPTION.fullmatch(word)
        if match is None:
            rest.append(word)
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in ("day", "dataset"):
            raise UserInputError(f"Unknown option `{_quote(key)}=`: {usage} takes `day=` and `dataset=`.")
        if key in options:
            raise UserInputError(f"`{key}=` given twice: {usage}.")
        options[key] = value
    if len(rest) != 1:
        raise UserInputError(f"Say which monitor, one at a time: {usage}.")
    day = None
    if "day" in options:
        try:
            day = date.fromisoformat(options["day"]) if len(options["day"]) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise UserInputError(f"`day={_quote(options['day'])}` is not a date: use `day=YYYY-MM-DD`.")
    dataset = parse_dataset(options["dataset"]) if "dataset" in options else None
    return HistoryCommand(parse_indicator(rest[0]), day, dataset)


def _mute(verb: str, words: list[str]) -> MuteCommand:
    if len(words) != 2:
        raise UserInputError(
            f"`/monitor {verb} <indicator> <dataset>`, e.g. `/monitor {verb} example.com whois`. "
            f"Datasets: {', '.join(DATASET_NAMES)}."
        )
    dataset = parse_dataset(words[1].removeprefix("dataset="))
    return MuteCommand(parse_indicator(words[0]), dataset, muted=verb == "mute")


def _one(text: str, verb: str) -> Indicator:
    if len(text.split()) != 1:
        raise UserInputError(f"`/monitor {verb}` takes one indicator at a time.")
    return parse_indicator(text)


def _quote(text: str) -> str:
    """User input quoted in an error: short, one line, no backticks, mrkdwn controls or
    invisible characters (a bidi override would reorder the message around it)."""
    return escape_in_code(" ".join(text.split())[:40])
