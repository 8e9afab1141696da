"""Lists sort as people expect: numbers inside names by value."""

from __future__ import annotations

from bot.commands.messages.replies import build_list_message
from bot.core.order import natural_key
from bot.core.text import render_text


def test_natural_key_orders_numbers_by_value() -> None:
    names = [
        "h10.evil.com",
        "h2.evil.com",
        "H1.evil.com",
        "h11.evil.com",
        "10.0.0.1",
        "9.9.9.9",
        "h2.evil.com",
    ]
    assert sorted(names, key=natural_key) == [
        "9.9.9.9",
        "10.0.0.1",
        "H1.evil.com",
        "h2.evil.com",
        "h2.evil.com",
        "h10.evil.com",
        "h11.evil.com",
    ]


def test_list_message_is_in_natural_order() -> None:
    rows = [(f"h{n}.evil.com", "domain", None, ()) for n in (1, 10, 11, 2)]
    shown = render_text(build_list_message(rows))
    positions = [shown.index(f"`h{n}.evil.com`") for n in (1, 2, 10, 11)]
    assert positions == sorted(positions)
