"""Escaping for Slack mrkdwn: untrusted text can never mention @channel or forge a link."""

from __future__ import annotations

import re

from bot.core.scripts import domain_to_unicode, mixed_scripts


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


_SLACK_ID = re.compile(r"[A-Z][A-Z0-9]{2,31}")


def mention(user_id: str) -> str:
    """A user mention, only for what looks like a Slack user id; anything else shown as code."""
    return f"<@{user_id}>" if _SLACK_ID.fullmatch(user_id) and user_id[0] in "UW" else code(user_id, limit=40)


def channel_link(channel_id: str) -> str:
    """A channel link, only for what looks like a Slack channel id."""
    return (
        f"<#{channel_id}>" if _SLACK_ID.fullmatch(channel_id) and channel_id[0] in "CGD" else code(channel_id)
    )


def indicator_code(value: str, *, limit: int = 300) -> str:
    """An indicator in mrkdwn, as code: an internationalised name in Unicode with its
    punycode beside it, and a name that mixes scripts in one label flagged as such:
    `` `pаypal.com` (`xn--pypal-4ve.com`) :warning: mixed scripts: Latin + Cyrillic ``."""
    if value.isascii() and "xn--" not in value:
        return code(value, limit=limit)
    unicode = domain_to_unicode(value)
    shown = (
        code(value, limit=limit)
        if unicode == value
        else f"{code(unicode, limit=limit)} ({code(value, limit=limit)})"
    )
    mixed = mixed_scripts(value)
    return shown + (f" :warning: mixed scripts: {' + '.join(mixed)}" if mixed else "")


def indicator_text(value: str, *, defanged: bool = False) -> str:
    """The same for plain text (headers, notification fallbacks): `пример.рф (xn--e1afmkfd.xn--p1ai)`,
    dots as `[.]` when `defanged`, and `⚠ mixed scripts: Latin + Cyrillic` when a label mixes them."""
    shown = defang if defanged else str
    if value.isascii() and "xn--" not in value:
        return shown(value)
    unicode = domain_to_unicode(value)
    text = shown(value) if unicode == value else f"{shown(unicode)} ({shown(value)})"
    mixed = mixed_scripts(value)
    return text + (f" ⚠ mixed scripts: {' + '.join(mixed)}" if mixed else "")


def count(number: int, singular: str, plural: str | None = None) -> str:
    """`1 log`, `2 logs`, `1,204 entries`: a number with its noun in the right form."""
    return f"{number:,} {singular if number == 1 else (plural or singular + 's')}"
