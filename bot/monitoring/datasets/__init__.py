"""One module per dataset, each behind the `Dataset` protocol (base.py) and described by a
`DatasetDescriptor` (bot/monitoring/datasets/model.py); registry.py builds them from the settings.
Adding a dataset: its descriptor, its module and one registry line (docs/contributing.md)."""

from bot.monitoring.datasets.model import DATASET_NAMES

__all__ = ["DATASET_NAMES"]
