"""An alert's words (pure): its Slack message, its JSON and its STIX bundle."""
