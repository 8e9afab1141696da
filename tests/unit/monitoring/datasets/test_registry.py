"""Which datasets the operator's settings turn on."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.model.observations import IndicatorKind, Outcome
from bot.monitoring.datasets import DATASET_NAMES
from bot.monitoring.datasets.registry import build_datasets
from bot.monitoring.dns import DnsAnswer


class NoDns:
    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        return DnsAnswer(Outcome.NXDOMAIN)


@pytest.mark.parametrize(
    ("env", "domain_datasets", "ip_datasets"),
    [
        pytest.param({}, list(DATASET_NAMES[:5]), ["resolutions", "whois", "services"], id="defaults"),
        pytest.param(
            {"WATCHPOST_CRTSH_URL": "", "WATCHPOST_INTERNETDB_URL": ""},
            ["resolutions", "dns_records", "whois"],
            ["resolutions", "whois"],
            id="sources off",
        ),
        pytest.param(
            {"WATCHPOST_ACTIVE_PROBES": "1", "WATCHPOST_CRTSH_URL": ""},
            ["resolutions", "dns_records", "whois"],
            ["resolutions", "whois", "certificates", "services"],
            id="active probes without crt.sh",
        ),
    ],
)
async def test_registry_builds_what_settings_enable(
    env: dict[str, str], domain_datasets: list[str], ip_datasets: list[str]
) -> None:
    registry = build_datasets(Settings.from_env(env), NoDns())
    try:
        assert [d.name for d in registry.datasets if d.applies_to(IndicatorKind.DOMAIN)] == domain_datasets
        assert [d.name for d in registry.datasets if d.applies_to(IndicatorKind.IP)] == ip_datasets
    finally:
        await registry.aclose()
