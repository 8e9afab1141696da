"""Lookalike and keyword watches as SQL: watches, findings and their suppressions."""
