"""Watching indicators: datasets and their sources, the diff, the alert policy, the
runner and the scheduler."""
