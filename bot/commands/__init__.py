"""The user-facing surface: the /monitor grammar and the flows behind each verb."""
