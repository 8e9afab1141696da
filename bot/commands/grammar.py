"""The /monitor grammar (pure): text -> a command value, or UserInputError."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.core.errors import IndicatorError, UserInputError
from bot.core.indicators import Indicator, escape_in_code, parse_indicator, parse_indicators
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.model import DATASET_NAMES
from bot.watches.matcher import keyword_form
from bot.watches.model import WatchKind
from bot.watches.permutations import registrable_domain, suffix_list


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
class TimelineCommand:
    indicator: Indicator


@dataclass(frozen=True)
class MuteCommand:
    indicator: Indicator
    dataset: str
    muted: bool  # False: unmute
    duration: timedelta | None = None  # None: until unmuted


@dataclass(frozen=True)
class SuppressionsCommand:
    """List every suppression, snooze and mute in force in the channel."""


@dataclass(frozen=True)
class LiftCommand:
    suppression_id: int


@dataclass(frozen=True)
class DigestCommand:
    pass


@dataclass(frozen=True)
class HelpCommand:
    pass


@dataclass(frozen=True)
class WatchCommand:
    """`/monitor lookalikes <domain> …` or `/monitor keyword <word> … [confirm]`. `notes`:
    what the user should know about how their terms were read."""

    kind: WatchKind
    terms: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnwatchCommand:
    kind: WatchKind
    terms: tuple[str, ...]


@dataclass(frozen=True)
class WatchStatusCommand:
    kind: WatchKind
    term: str
    history: bool = False  # True: `/monitor history lookalikes <domain>`


@dataclass(frozen=True)
class WatchMuteCommand:
    """`/monitor mute lookalikes <domain> [<duration>]` (or `keyword <word>`), or `unmute`:
    the watch's findings are stored, not alerted, in the channel."""

    kind: WatchKind
    term: str
    muted: bool  # False: unmute
    duration: timedelta | None = None  # None: until unmuted


@dataclass(frozen=True)
class WatchSnoozeCommand:
    """`/monitor snooze lookalikes <domain> [<duration>]` (or `keyword <word>`): as the
    Snooze button of a finding's alert, for any duration."""

    kind: WatchKind
    term: str
    duration: timedelta


@dataclass(frozen=True)
class HealthCommand:
    """`/monitor health`: every source's requests, quota use, errors and latency."""


@dataclass(frozen=True)
class MispCommand:
    """`/monitor misp <event id or UUID> [all]`: monitor the event's domains, IPs and URLs;
    `all` reads the attributes not marked for detection (`to_ids`) too."""

    event: str
    all_attributes: bool = False


Command = (
    AddCommand
    | RemoveCommand
    | ListCommand
    | CheckCommand
    | StatusCommand
    | HistoryCommand
    | TimelineCommand
    | MuteCommand
    | SuppressionsCommand
    | LiftCommand
    | DigestCommand
    | HelpCommand
    | WatchCommand
    | UnwatchCommand
    | WatchStatusCommand
    | WatchMuteCommand
    | WatchSnoozeCommand
    | HealthCommand
    | MispCommand
)

VERBS = (
    "remove", "list", "status", "history", "timeline", "check", "mute", "unmute", "suppressions", "lift",
    "digest", "health", "help", "lookalikes", "keyword", "misp", "snooze",
)  # fmt: skip
_WATCH_WORDS = {
    "lookalikes": WatchKind.LOOKALIKE,
    "lookalike": WatchKind.LOOKALIKE,
    "keyword": WatchKind.KEYWORD,
    "keywords": WatchKind.KEYWORD,
}
CONFIRM_WORD = "confirm"
MIN_KEYWORD = 2  # one letter would match nearly every name
UNCONFIRMED_KEYWORD = 4  # shorter keywords match many names: asked to confirm
_DURATION = re.compile(r"(\d{1,4})([mhdw])")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
DEFAULT_WATCH_SNOOZE = timedelta(days=1)  # as an alert's first Snooze button
MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=365)
_OPTION = re.compile(r"([A-Za-z_]+)=(\S*)")


def parse_command(text: str) -> Command:
    """`/monitor` text to a command. Anything that is not a verb is a list of indicators."""
    words = text.split()
    if not words:
        raise UserInputError("Tell me what to monitor, e.g. `/monitor example.com` (see `/monitor help`).")
    verb, rest = words[0].lower(), " ".join(words[1:])
    if verb == "help":
        return HelpCommand()
    if verb in _WATCH_WORDS:
        return parse_watch(_WATCH_WORDS[verb], words[1:])
    if verb in ("remove", "status", "history") and len(words) > 1 and words[1].lower() in _WATCH_WORDS:
        kind = _WATCH_WORDS[words[1].lower()]
        terms = words[2:]
        if not terms:
            raise UserInputError(f"Say which: `/monitor {verb} {words[1].lower()} <{_term_word(kind)}>`.")
        parsed = parse_watch(kind, terms, confirmed=True).terms
        if verb == "remove":
            return UnwatchCommand(kind, parsed)
        if len(parsed) != 1:
            raise UserInputError(f"`/monitor {verb}` takes one watch at a time.")
        return WatchStatusCommand(kind, parsed[0], history=verb == "history")
    if verb in ("list", "digest", "suppressions", "health"):
        if rest:
            raise UserInputError(f"`/monitor {verb}` takes nothing after it.")
        if verb == "list":
            return ListCommand()
        if verb == "health":
            return HealthCommand()
        return DigestCommand() if verb == "digest" else SuppressionsCommand()
    if verb == "lift":
        if len(words) != 2 or not words[1].lstrip("#").isdigit():
            raise UserInputError(
                "Say which suppression to lift by its number: `/monitor lift 12`"
                " (see `/monitor suppressions`)."
            )
        return LiftCommand(int(words[1].lstrip("#")))
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
    if verb == "timeline":
        if not rest:
            raise UserInputError("Say which monitor: `/monitor timeline example.com`.")
        return TimelineCommand(_one(rest, "timeline"))
    if verb in ("mute", "unmute", "snooze") and len(words) > 1 and words[1].lower() in _WATCH_WORDS:
        return _silence_watch(verb, _WATCH_WORDS[words[1].lower()], words[1].lower(), words[2:])
    if verb == "snooze":
        raise UserInputError(
            "`/monitor snooze lookalikes <domain> [<duration>]` or "
            "`/monitor snooze keyword <word> [<duration>]` snoozes a watch here (a day unless said)."
            " A monitor is snoozed from its alert's Snooze button."
        )
    if verb in ("mute", "unmute"):
        return _mute(verb, words[1:])
    if verb == "misp":
        return _misp(words[1:])
    if verb.isalpha() and "." not in verb and ":" not in verb and len(words) > 1:
        raise UserInputError(f"Unknown command `{_quote(verb)}`. Try `/monitor help`.")
    return AddCommand(tuple(parse_indicators(text)))


def parse_watch(kind: WatchKind, words: list[str], *, confirmed: bool = False) -> WatchCommand:
    """The terms of a watch: brand domains (registrable, not public suffixes) or keywords
    (two letters at least; fewer than four only with the confirmation word)."""
    words = [w for word in words for w in word.split(",") if w]
    if words and words[-1].lower() == CONFIRM_WORD:
        confirmed, words = True, words[:-1]
    if not words:
        example = (
            "/monitor lookalikes example.com"
            if kind is WatchKind.LOOKALIKE
            else "/monitor keyword examplebank"
        )
        raise UserInputError(f"Say what to watch, e.g. `{example}`.")
    if len(words) > 50:
        raise UserInputError("At most 50 at a time.")
    if kind is WatchKind.LOOKALIKE:
        notes: list[str] = []
        domains = [_brand_domain(word, notes) for word in words]
        return WatchCommand(kind, tuple(dict.fromkeys(domains)), tuple(notes))
    keywords = [_keyword(word) for word in words]
    short = [k for k in keywords if len(k) < UNCONFIRMED_KEYWORD]
    if short and not confirmed:
        listed = ", ".join(f"`{_quote(k)}`" for k in short)
        again = " ".join(keywords)
        raise UserInputError(
            f"{listed}: fewer than {UNCONFIRMED_KEYWORD} letters match many names. To watch anyway, "
            f"say `/monitor keyword {_quote(again)} {CONFIRM_WORD}`. Nothing was changed."
        )
    return WatchCommand(kind, tuple(dict.fromkeys(keywords)))


def _brand_domain(word: str, notes: list[str]) -> str:
    try:
        indicator = parse_indicator(word)
    except IndicatorError as exc:
        raise UserInputError(f"{exc}. Lookalike watches take a brand's domain.".replace("..", ".")) from None
    if indicator.kind is not IndicatorKind.DOMAIN:
        raise UserInputError(f"`{_quote(word)}` is not a domain: lookalike watches take a brand's domain.")
    domain = indicator.value
    if suffix_list().is_public(domain):
        raise UserInputError(
            f"`{_quote(domain)}` is a public suffix (anyone registers names under it): a lookalike watch on "
            "it would match every domain there. Watch a registered domain, e.g. `example.com`. "
            "Nothing was changed."
        )
    registrable = registrable_domain(domain) or domain
    if registrable != domain:
        notes.append(f"`{_quote(domain)}` is watched as its registered domain `{_quote(registrable)}`.")
    return registrable


def _keyword(word: str) -> str:
    keyword = keyword_form(word)
    if not keyword or any(not (c.isalnum() or c in "-.") for c in keyword):
        raise UserInputError(
            f"`{_quote(word)}`: a keyword is letters, digits and hyphens (a word found in names)."
        )
    if len(keyword) < MIN_KEYWORD:
        raise UserInputError(
            f"`{_quote(word)}`: a one-letter keyword would match nearly every name. Nothing was changed."
        )
    if len(keyword) > 63:
        raise UserInputError(f"`{_quote(word)}`: a keyword is at most 63 characters (one DNS label).")
    return keyword


def _term_word(kind: WatchKind) -> str:
    return "domain" if kind is WatchKind.LOOKALIKE else "word"


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


def parse_duration(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`: a duration from a minute to a year; UserInputError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise UserInputError(
            f"Unknown duration `{_quote(text)}`: use minutes, hours, days or weeks, "
            "e.g. `30m`, `12h`, `7d`, `2w`. Nothing was changed."
        )
    duration = int(match.group(1)) * _UNITS[match.group(2)]
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise UserInputError(f"`{_quote(text)}` is out of range: from `1m` to `52w`. Nothing was changed.")
    return duration


def _mute(verb: str, words: list[str]) -> MuteCommand:
    timed = verb == "mute" and len(words) == 3
    if len(words) != 2 and not timed:
        usage = "<indicator> <dataset> [<duration>]" if verb == "mute" else "<indicator> <dataset>"
        raise UserInputError(
            f"`/monitor {verb} {usage}`, e.g. `/monitor {verb} example.com whois"
            f"{' 7d' if verb == 'mute' else ''}`. Datasets: {', '.join(DATASET_NAMES)}."
        )
    dataset = parse_dataset(words[1].removeprefix("dataset="))
    duration = parse_duration(words[2]) if timed else None
    return MuteCommand(parse_indicator(words[0]), dataset, muted=verb == "mute", duration=duration)


def _misp(words: list[str]) -> MispCommand:
    usage = "`/monitor misp <event number or UUID>` (add `all` for attributes not marked for detection)"
    every = bool(words) and words[-1].lower() == "all"
    if every:
        words = words[:-1]
    if len(words) != 1:
        raise UserInputError(f"Say which MISP event, one at a time: {usage}.")
    return MispCommand(words[0], all_attributes=every)


def _silence_watch(
    verb: str, kind: WatchKind, word: str, words: list[str]
) -> WatchMuteCommand | WatchSnoozeCommand:
    """`mute|unmute|snooze lookalikes <domain> [<duration>]` (`keyword <word>` alike)."""
    timed = verb != "unmute" and len(words) == 2
    if len(words) != 1 and not timed:
        after = "" if verb == "unmute" else " [<duration>]"
        raise UserInputError(
            f"`/monitor {verb} {word} <{_term_word(kind)}>{after}`, one watch at a time, e.g. "
            f"`/monitor {verb} {word} {'example.com' if kind is WatchKind.LOOKALIKE else 'examplebank'}"
            f"{'' if verb == 'unmute' else ' 7d'}`. Nothing was changed."
        )
    terms = parse_watch(kind, words[:1], confirmed=True).terms
    if len(terms) != 1:
        raise UserInputError(f"`/monitor {verb}` takes one watch at a time. Nothing was changed.")
    term = terms[0]
    duration = parse_duration(words[1]) if timed else None
    if verb == "snooze":
        return WatchSnoozeCommand(kind, term, duration or DEFAULT_WATCH_SNOOZE)
    return WatchMuteCommand(kind, term, muted=verb == "mute", duration=duration)


def _one(text: str, verb: str) -> Indicator:
    if len(text.split()) != 1:
        raise UserInputError(f"`/monitor {verb}` takes one indicator at a time.")
    return parse_indicator(text)


def _quote(text: str) -> str:
    """User input quoted in an error: short, one line, no backticks, mrkdwn controls or
    invisible characters (a bidi override would reorder the message around it)."""
    return escape_in_code(" ".join(text.split())[:40])
