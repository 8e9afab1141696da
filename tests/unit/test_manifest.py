"""manifest.yml declares what the bot listens to and needs, so one paste creates the app."""

from __future__ import annotations

import re

from tests.e2e.environment import REPO

MANIFEST = (REPO / "manifest.yml").read_text()


def listed(key: str) -> list[str]:
    """The items of a YAML list under `key:` (one level, `- item  # comment`)."""
    block = re.search(rf"^(\s*){key}:\n((?:\1\s+- .*\n)+)", MANIFEST, re.MULTILINE)
    assert block, f"no list under {key}"
    return [line.split("#")[0].strip()[2:].strip() for line in block.group(2).splitlines()]


def test_manifest_declares_commands_events_scopes_and_home() -> None:
    commands = re.findall(r"- command: (\S+)", MANIFEST)
    assert commands == ["/monitor", "/unmonitor"]
    assert listed("bot_events") == ["app_home_opened"]
    assert {"commands", "chat:write", "files:write", "channels:read", "channels:history"} <= set(
        listed("bot")
    )
    assert "home_tab_enabled: true" in MANIFEST and "is_enabled: true" in MANIFEST
    assert len(re.findall(r"url: https://watchpost.example.com/slack/events", MANIFEST)) == 4
