"""Where a button was pressed and who pressed it, from what Slack itself says.

A click's payload carries the place twice over: `container` (the message the button is
on) and `channel`/`message`/`user` beside it. Those are Slack's; a button's `value` is
what the bot wrote into the button and the client hands back, so it never names the
place. A value that names a channel must name the one the button was pressed in, and a
payload whose fields disagree about the place is refused: either way nothing changes.

A modal has no place of its own: what it acts on is kept in its `private_metadata`,
sealed with the signing secret (`FormSeal`) and bound to the user who opened it, so a
forged or borrowed form is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from bot.core.results import Caller

# What a refused press says, to the one who pressed only.
ELSEWHERE = "This button belongs to another channel's message: nothing was changed."
UNPLACED = "Slack did not say where this button was pressed: nothing was changed."
FORGED_FORM = (
    "This form was not opened by Watchpost for you: nothing was changed. Open it again from the alert."
)


class Misplaced(Exception):
    """A press whose payload or value disagrees with where it was pressed."""


@dataclass(frozen=True)
class PressedAt:
    """The message a button was pressed on, as Slack says: its channel and ts, the thread
    it is in, whether only the presser saw it, and who pressed."""

    team_id: str
    channel_id: str
    user_id: str
    message_ts: str
    thread_ts: str | None
    ephemeral: bool

    @property
    def caller(self) -> Caller:
        return Caller(team_id=self.team_id, channel_id=self.channel_id, user_id=self.user_id)


def pressed_at(body: dict[str, Any]) -> PressedAt:
    """The place of a block_actions payload; Misplaced when Slack's own fields disagree
    (the container's channel and message against `channel` and `message`) or name none."""
    container = _mapping(body.get("container"))
    channel = _mapping(body.get("channel"))
    message = _mapping(body.get("message"))
    user = _mapping(body.get("user"))
    channel_id = _agreed(container.get("channel_id"), channel.get("id"))
    message_ts = _agreed(container.get("message_ts"), message.get("ts"))
    if not channel_id:
        raise Misplaced(UNPLACED)
    thread = message.get("thread_ts") or message_ts
    return PressedAt(
        team_id=str(_mapping(body.get("team")).get("id") or user.get("team_id") or ""),
        channel_id=channel_id,
        user_id=str(user.get("id") or ""),
        message_ts=message_ts,
        thread_ts=str(thread) if thread else None,
        ephemeral=bool(container.get("is_ephemeral")) or not message,
    )


def check_value(value: str, place: PressedAt) -> None:
    """Misplaced if the button's value names a channel other than the one it was pressed in."""
    named = named_channel(value)
    if named is not None and named != place.channel_id:
        raise Misplaced(ELSEWHERE)


def named_channel(value: str) -> str | None:
    """The channel a button's value names (`{"c": …}`), if it names one."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    if isinstance(decoded, dict) and "c" in decoded:
        return str(decoded["c"])
    return None


def _agreed(first: object, second: object) -> str:
    """The one value two of Slack's fields give (either may be missing); Misplaced if they differ."""
    given = {str(v) for v in (first, second) if v}
    if len(given) > 1:
        raise Misplaced(ELSEWHERE)
    return given.pop() if given else ""


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class FormTarget:
    """The alert message a modal acts on, and the user it was opened for."""

    channel_id: str
    message_ts: str
    user_id: str


class FormSeal:
    """`private_metadata` that only this app could have written: the target as JSON, a dot,
    and an HMAC-SHA256 of that JSON keyed with (a key derived from) the signing secret."""

    def __init__(self, signing_secret: str) -> None:
        # Derived, so the seal never equals a request signature made with the same secret.
        self._key = hmac.new(signing_secret.encode(), b"watchpost modal metadata", hashlib.sha256).digest()

    def seal(self, target: FormTarget) -> str:
        text = json.dumps({"c": target.channel_id, "ts": target.message_ts, "u": target.user_id})
        return f"{text}.{self._mac(text)}"

    def open(self, metadata: str, *, user_id: str) -> FormTarget:
        """The target sealed into `metadata` for `user_id`; Misplaced if the seal does not
        hold (forged, altered, unsealed) or the form was opened for someone else."""
        text, _, mac = metadata.rpartition(".")
        if not text or not hmac.compare_digest(self._mac(text), mac):
            raise Misplaced(FORGED_FORM)
        try:
            decoded = json.loads(text)
            target = FormTarget(str(decoded["c"]), str(decoded["ts"]), str(decoded["u"]))
        except (ValueError, KeyError, TypeError):
            raise Misplaced(FORGED_FORM) from None
        if target.user_id != user_id:
            raise Misplaced(FORGED_FORM)
        return target

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
