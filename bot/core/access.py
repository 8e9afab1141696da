"""Who may do what: a monitor is removed or muted by whoever added it or by a Watchpost
admin; a channel holds at most so many monitors; one user sends at most so many commands
a minute (a `RateLimiter`, bot/storage/rate_limits.py: shared by every process through
the database on PostgreSQL, in memory otherwise)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.results import Caller


@dataclass(frozen=True)
class AccessPolicy:
    """`admins`: Slack user ids that may change any monitor (WATCHPOST_ADMINS);
    `channel_quota`: the most monitors one channel may hold (WATCHPOST_CHANNEL_QUOTA)."""

    admins: frozenset[str] = frozenset()
    channel_quota: int | None = None

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def owner_filter(self, caller: Caller) -> str | None:
        """Whose monitors and watches `caller` may change: only their own (their id), or
        anyone's (None: an admin, or a trusted caller such as an API token)."""
        return None if caller.trusted or self.is_admin(caller.user_id) else caller.user_id

    def may_change(self, caller: Caller, *owners: str | None) -> bool:
        """Whether `caller` may change what these people own (a monitor's adder, a
        suppression's creator): an admin or a trusted caller may change anything."""
        return self.owner_filter(caller) is None or caller.user_id in owners
