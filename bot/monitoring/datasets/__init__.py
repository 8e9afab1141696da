"""One module per dataset, each behind the `Dataset` protocol (base.py) and described by a
`DatasetDescriptor` (bot/model/datasets.py); registry.py builds them from the settings.
Adding a dataset: its descriptor, its module and one registry line (docs/contributing.md)."""

from bot.model.datasets import DATASET_NAMES

__all__ = ["DATASET_NAMES"]
