"""Getting alerts out: the Slack outbox worker, email, and the HTTP receivers (signed
webhooks, MISP, TheHive) on one queue (receivers.py)."""
