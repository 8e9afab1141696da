"""Alerts as SQL: alerts and their changes, the Slack outbox, the receiver queue."""
