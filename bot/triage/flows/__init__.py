"""Triage's use cases: a delivery acknowledged, marked false positive, snoozed, expected,
its suppressions lifted (deliveries.py); a monitor's mutes and the channel's suppressions
(mutes.py)."""
