"""The check engine's use cases: monitors added, removed, listed, checked and their
history (monitors.py); `/monitor health` (health.py)."""
