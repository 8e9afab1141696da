"""Alerts: their routing (model), the policy pipeline of named stages (pipeline/), their
stores, their messages (Block Kit, JSON, STIX) and their deliveries (delivery/: the Slack
outbox worker and the HTTP receivers)."""
