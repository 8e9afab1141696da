"""Pure builders: Block Kit messages for replies, alerts, investigations and App Home; mrkdwn; JSON bodies."""
