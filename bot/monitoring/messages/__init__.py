"""The check engine's own words (pure): source health."""
