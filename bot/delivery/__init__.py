"""Getting alerts out: the Slack outbox worker, the Transport protocol, email, and the HTTP
receivers (signed webhooks, MISP, TheHive) on one queue (receivers.py)."""
