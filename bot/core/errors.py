"""The error tree.

WatchpostError
├── UserInputError   shown to the user (ephemeral in Slack); nothing was changed
│   ├── IndicatorError  an indicator could not be parsed or is not monitorable
│   └── NotPermitted    the monitor is someone else's (its creator or an admin may change it)
├── SourceError      a data source failed; never becomes a change
│   └── SourceRefused   it answered with a refusal (throttled, over quota, try later), not data
└── ConfigError      the operator's configuration is wrong; the bot does not start
"""

from __future__ import annotations


class WatchpostError(Exception):
    """Base of every error Watchpost raises on purpose."""


class UserInputError(WatchpostError):
    """Bad input from a user: the message is safe to show them as is."""


class IndicatorError(UserInputError):
    """An indicator that cannot be monitored, with the reason in the message."""


class SourceError(WatchpostError):
    """A data source failed (timeout, SERVFAIL, HTTP 5xx/429, unparseable reply).

    `transient` errors are retried on the next check; neither kind ever becomes a change.
    """

    def __init__(self, source: str, message: str, *, transient: bool = True) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message
        self.transient = transient


class SourceRefused(SourceError):
    """The source refused the query instead of answering it: rate-limited, over a quota,
    access denied, busy or under maintenance. Always transient; never a verdict (a WHOIS
    "too many requests" followed by "no entries found" is not "not registered")."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(source, message, transient=True)


class ConfigError(WatchpostError):
    """Invalid operator configuration (environment variables)."""


class NotPermitted(UserInputError):
    """The user may not change these monitors: `owners` maps each indicator to who added it."""

    def __init__(self, owners: dict[str, str]) -> None:
        super().__init__("Only whoever added a monitor, or a Watchpost admin, may change it.")
        self.owners = owners
