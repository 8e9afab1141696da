"""Everything Slack: the Bolt app, request signatures, the Web API transport, and the listeners."""
