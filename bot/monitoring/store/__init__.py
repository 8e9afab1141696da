"""The check engine as SQL: monitors, checks and their cadence, quiet checks, change
history, quotas, resolver verdicts, requested checks."""
