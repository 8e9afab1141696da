"""Kept for the dataset modules: the values now live in bot/observations.py."""

from bot.observations import (
    Change,
    ChangeKind,
    Fact,
    IndicatorKind,
    Observation,
    Outcome,
    SourceFailure,
)

__all__ = ["Change", "ChangeKind", "Fact", "IndicatorKind", "Observation", "Outcome", "SourceFailure"]
