"""The /monitor grammar, table-driven: what each text parses to, or the error it gets."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.commands.grammar import (
    AddCommand,
    CheckCommand,
    Command,
    DigestCommand,
    HelpCommand,
    HistoryCommand,
    LiftCommand,
    ListCommand,
    MuteCommand,
    RemoveCommand,
    StatusCommand,
    SuppressionsCommand,
    UnwatchCommand,
    WatchCommand,
    WatchMuteCommand,
    WatchSnoozeCommand,
    WatchStatusCommand,
    parse_command,
)
from bot.core.errors import UserInputError
from bot.core.indicators import parse_indicator
from bot.watches.model import WatchKind

IP = parse_indicator("98.126.38.107")
DOMAIN = parse_indicator("evil.com")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("98.126.38[.]107", AddCommand((IP,))),
        ("98.126.38.107, hxxps://evil[.]com/x", AddCommand((IP, DOMAIN))),
        ("remove evil.com", RemoveCommand((DOMAIN,))),
        ("LIST", ListCommand()),
        ("status evil.com", StatusCommand(DOMAIN)),
        ("check all", CheckCommand(None)),
        ("check evil[.]com", CheckCommand(DOMAIN)),
        ("history evil.com", HistoryCommand(DOMAIN)),
        ("history evil.com day=2026-11-20", HistoryCommand(DOMAIN, date(2026, 11, 20))),
        ("history dataset=WHOIS evil.com", HistoryCommand(DOMAIN, None, "whois")),
        (
            "history evil.com day=2026-11-20 dataset=resolutions",
            HistoryCommand(DOMAIN, date(2026, 11, 20), "resolutions"),
        ),
        ("mute evil.com whois", MuteCommand(DOMAIN, "whois", muted=True)),
        ("unmute 98.126.38.107 dataset=services", MuteCommand(IP, "services", muted=False)),
        ("mute evil.com whois 30m", MuteCommand(DOMAIN, "whois", True, timedelta(minutes=30))),
        ("mute evil.com whois 12H", MuteCommand(DOMAIN, "whois", True, timedelta(hours=12))),
        ("mute evil.com whois 7d", MuteCommand(DOMAIN, "whois", True, timedelta(days=7))),
        ("mute evil.com whois 2w", MuteCommand(DOMAIN, "whois", True, timedelta(weeks=2))),
        ("suppressions", SuppressionsCommand()),
        ("lift 12", LiftCommand(12)),
        ("lift #7", LiftCommand(7)),
        ("digest", DigestCommand()),
        ("help", HelpCommand()),
        ("help me", HelpCommand()),
    ],
)
def test_grammar_parses(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "Tell me what to monitor"),
        ("frobnicate evil.com", "Unknown command `frobnicate`"),
        ("remove", "Say what to stop monitoring"),
        ("list all", "takes nothing after it"),
        ("digest now", "takes nothing after it"),
        ("status", "Say which monitor"),
        ("status a.com b.com", "one indicator at a time"),
        ("check", "Say what to check"),
        ("history", "Say which monitor"),
        ("history a.com b.com", "Say which monitor"),
        ("history evil.com day=yesterday", "`day=yesterday` is not a date"),
        ("history evil.com day=2026-02-30", "is not a date"),
        ("history evil.com dataset=dns", "Unknown dataset `dns`"),
        ("history evil.com since=2026-01-01", "Unknown option `since=`"),
        ("history evil.com day=2026-01-01 day=2026-01-02", "given twice"),
        ("mute evil.com", "/monitor mute <indicator> <dataset>"),
        ("mute evil.com whois extra", "Unknown duration `extra`"),
        ("mute evil.com whois 7d extra", "/monitor mute <indicator> <dataset>"),
        ("mute evil.com whois 3y", "Unknown duration `3y`"),
        ("mute evil.com whois 0m", "out of range"),
        ("mute evil.com whois 60w", "out of range"),
        ("unmute evil.com whois 7d", "/monitor unmute <indicator> <dataset>"),
        ("lift", "`/monitor lift 12`"),
        ("lift twelve", "`/monitor lift 12`"),
        ("suppressions now", "takes nothing after it"),
        ("mute evil.com <!channel>", "Unknown dataset `&lt;!channel&gt;`"),
        ("unmute 10.0.0.1 whois", "private"),
        ("10.1.2.3", "private"),
    ],
)
def test_grammar_refuses_with_a_specific_reason(text: str, error: str) -> None:
    with pytest.raises(UserInputError) as raised:
        parse_command(text)
    assert error in str(raised.value)
    assert "<!" not in str(raised.value)


LOOKALIKE = WatchKind.LOOKALIKE
KEYWORD = WatchKind.KEYWORD


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("lookalikes interfax.ru", WatchCommand(LOOKALIKE, ("interfax.ru",))),
        (
            "lookalikes interfax[.]ru, kommersant.ru",
            WatchCommand(LOOKALIKE, ("interfax.ru", "kommersant.ru")),
        ),
        (
            "lookalikes www.bbc.co.uk",
            WatchCommand(
                LOOKALIKE,
                ("bbc.co.uk",),
                ("`www.bbc.co.uk` is watched as its registered domain `bbc.co.uk`.",),
            ),
        ),
        ("keyword sberbank Interfax", WatchCommand(KEYWORD, ("sberbank", "interfax"))),
        ("keyword Іnterfax", WatchCommand(KEYWORD, ("interfax",))),  # Cyrillic І folded
        ("keyword abc confirm", WatchCommand(KEYWORD, ("abc",))),
        ("keyword ab CONFIRM", WatchCommand(KEYWORD, ("ab",))),
        ("remove lookalikes interfax.ru", UnwatchCommand(LOOKALIKE, ("interfax.ru",))),
        ("remove keyword abc", UnwatchCommand(KEYWORD, ("abc",))),  # removing needs no confirmation
        ("status lookalikes interfax.ru", WatchStatusCommand(LOOKALIKE, "interfax.ru")),
        ("history keyword sberbank", WatchStatusCommand(KEYWORD, "sberbank", history=True)),
        ("mute lookalikes interfax.ru", WatchMuteCommand(LOOKALIKE, "interfax.ru", muted=True)),
        ("mute lookalikes www.interfax[.]ru", WatchMuteCommand(LOOKALIKE, "interfax.ru", muted=True)),
        (
            "mute keyword Sberbank 12h",
            WatchMuteCommand(KEYWORD, "sberbank", muted=True, duration=timedelta(hours=12)),
        ),
        ("mute keyword ab", WatchMuteCommand(KEYWORD, "ab", muted=True)),  # watched already: no confirm
        ("unmute lookalike interfax.ru", WatchMuteCommand(LOOKALIKE, "interfax.ru", muted=False)),
        ("snooze lookalikes interfax.ru", WatchSnoozeCommand(LOOKALIKE, "interfax.ru", timedelta(days=1))),
        ("snooze keywords sberbank 2w", WatchSnoozeCommand(KEYWORD, "sberbank", timedelta(weeks=2))),
    ],
)
def test_grammar_parses_watches(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("lookalikes", "Say what to watch"),
        ("lookalikes co.uk", "`co.uk` is a public suffix"),
        ("lookalikes github.io", "`github.io` is a public suffix"),
        ("lookalikes com", "`com` is a top-level domain"),
        ("lookalikes 98.126.38.107", "is not a domain"),
        ("keyword x", "one-letter keyword"),
        ("keyword x confirm", "one-letter keyword"),
        ("keyword abc", "say `/monitor keyword abc confirm`"),
        ("keyword sberbank ab", "say `/monitor keyword sberbank ab confirm`"),
        ("keyword a*b", "a keyword is letters, digits and hyphens"),
        ("status lookalikes", "Say which"),
        ("status lookalikes interfax.ru kommersant.ru", "one watch at a time"),
        ("mute lookalikes", "`/monitor mute lookalikes <domain> [<duration>]`"),
        ("mute lookalikes interfax.ru kommersant.ru", "Unknown duration `kommersant.ru`"),
        ("mute lookalikes interfax.ru,kommersant.ru", "one watch at a time"),
        ("mute lookalikes interfax.ru 7d extra", "one watch at a time"),
        ("mute keyword sberbank 3y", "Unknown duration `3y`"),
        ("unmute keyword sberbank 7d", "`/monitor unmute keyword <word>`"),
        ("mute lookalikes co.uk", "public suffix"),
        ("snooze lookalikes interfax.ru 60w", "out of range"),
        ("snooze evil.com", "A monitor is snoozed from its alert's Snooze button"),
        ("snooze", "`/monitor snooze lookalikes <domain> [<duration>]`"),
    ],
)
def test_grammar_refuses_bad_watches(text: str, error: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_command(text)
    assert error in str(caught.value)
