"""Collect, diff and store observations of monitored indicators."""
