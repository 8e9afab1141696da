"""The small core every room shares: indicator values, observations and changes, the error
tree, logs and metrics, the walls between channels, the message value and its mrkdwn, the
action ids, and the Transport seam."""
