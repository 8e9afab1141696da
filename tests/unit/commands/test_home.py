"""The App Home: hundreds of monitors summarised within 100 blocks, hostile names escaped."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from bot.commands.messages.home import HomeRow, build_home_blocks
from bot.core.limits import MAX_BLOCKS_HOME, block_kit_violations
from bot.core.message import Message
from tests.unit.samples import EVIL, NOW, raw_controls


def test_home_with_many_monitors_summarises_within_100_blocks() -> None:
    def row(i: int) -> HomeRow:
        if i % 7 == 0:  # alerted today
            return HomeRow(f"host{i}.example.com", "domain", ("C0INTEL",), ("resolutions",), NOW, i)
        last = None if i % 3 == 0 else NOW - timedelta(days=1 + i % 30)
        return HomeRow(f"host{i}.example.com", "domain", ("C0INTEL",), (), last, i if last else 0)

    rows = [row(i) for i in range(400)]
    blocks = build_home_blocks(rows, now=NOW, timezone=ZoneInfo("Europe/Oslo"))
    assert block_kit_violations(Message("home", blocks), max_blocks=MAX_BLOCKS_HOME) == []
    assert len(blocks) == MAX_BLOCKS_HOME
    text = json.dumps(blocks, ensure_ascii=False)
    assert "…and 305 more, quieter" in text
    shown = [b["text"]["text"] for b in blocks[3:-2]]
    assert all("alerted today" in row for row in shown[:58])  # the 58 alerted today come first
    assert not any("no alerts yet" in row for row in shown)  # the quiet ones are summarised


def test_home_injection_in_indicator_names_is_escaped() -> None:
    blocks = build_home_blocks(
        [HomeRow(EVIL, "domain", ("C0INTEL", "<!here>"), (EVIL,), NOW, 1, (EVIL,))], now=NOW, timezone=UTC
    )
    assert raw_controls(Message("home", blocks)) == []
