"""One module per dataset, all behind the Dataset protocol in base.py. Adding a dataset
means writing its module and adding it to `build_datasets`."""

from __future__ import annotations

from bot.config import Settings
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import DnsClient

DATASET_NAMES = ("resolutions", "dns_records", "whois", "certificates", "subdomains", "services")


def build_datasets(settings: Settings, dns: DnsClient) -> list[Dataset]:
    """The datasets the operator's settings enable, in alert order."""
    return [ResolutionsDataset(dns), DnsRecordsDataset(dns)]
