"""Who may do what: a monitor is removed or muted by whoever added it or by a Watchpost
admin; a channel holds at most so many monitors; one user sends at most so many commands
a minute (a `RateLimiter`, bot/storage/rate_limits.py: shared by every process through
the database on PostgreSQL, in memory otherwise)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AccessPolicy:
    """`admins`: Slack user ids that may change any monitor (WATCHPOST_ADMINS);
    `channel_quota`: the most monitors one channel may hold (WATCHPOST_CHANNEL_QUOTA)."""

    admins: frozenset[str] = frozenset()
    channel_quota: int | None = None

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def owner_filter(self, user_id: str) -> str | None:
        """Whose monitors `user_id` may change: only their own (their id), or anyone's (None)."""
        return None if self.is_admin(user_id) else user_id
