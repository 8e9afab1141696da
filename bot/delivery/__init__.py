"""Getting alerts out: the Slack outbox worker, the Transport protocol, signed webhooks, email."""
