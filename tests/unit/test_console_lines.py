"""What the console takes as a command: /monitor and /unmonitor, as in Slack; bare text is
refused with a hint (a mistyped button number must not add a monitor)."""

from __future__ import annotations

import pytest

from bot.surfaces.console import NotACommand, command_text


@pytest.mark.parametrize(
    ("line", "text"),
    [("/monitor list", "list"), ("/unmonitor evil.com", "remove evil.com"), ("   ", None)],
)
def test_command_text_takes_slash_commands(line: str, text: str | None) -> None:
    assert command_text(line) == text


def test_command_text_refuses_bare_text_with_a_hint() -> None:
    with pytest.raises(NotACommand) as refused:
        command_text("evil.com")
    assert "/monitor evil.com" in str(refused.value)


def test_command_text_refuses_an_unknown_slash_command() -> None:
    with pytest.raises(NotACommand, match="Unknown command /monitr"):
        command_text("/monitr list")
