"""Watchpost: watch attacker infrastructure and tell the channel when it moves."""

__version__ = "0.1.0"
