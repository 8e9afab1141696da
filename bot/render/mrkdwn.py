"""Escaping for Slack mrkdwn: untrusted text can never mention @channel or forge a link."""

from __future__ import annotations


def escape(text: str) -> str:
    """Escape exactly what Slack treats as control characters: &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, *, limit: int = 300) -> str:
    """Untrusted text as inline code: escaped, backticks neutralised, shortened, one line."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return "`" + escape(flat).replace("`", "ˋ") + "`"


def defang(value: str) -> str:
    """Dots of a domain or IPv4 as [.] so Slack does not turn them into links."""
    return value.replace(".", "[.]")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
