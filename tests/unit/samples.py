"""What the Block Kit builder tests share: a fixed now, hostile text, a change, and the
check that untrusted text never became a Slack mention or link."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.core.message import Message
from bot.core.observations import Change, ChangeKind

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EVIL = "<!channel> <https://evil.test|click> & <@U0BOSS> <!subteam^S123>"


def raw_controls(message: Message) -> list[str]:
    """Slack control sequences in a message other than our own user and channel mentions."""
    text = message.text + json.dumps(
        [b for b in message.blocks if b.get("type") != "actions"], ensure_ascii=False
    )
    return [part for part in text.split("<")[1:] if not part.startswith(("@U0ANALYST>", "#C0INTEL>"))]


def added(field: str, value: str, dataset: str = "resolutions") -> Change:
    return Change(dataset, ChangeKind.ADDED, field, None, value, "mnemonic", NOW, None)
