"""Which datasets the operator's settings turn on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.alerts.pipeline import AlertPolicy
from bot.config import Settings
from bot.core.observations import IndicatorKind, Outcome
from bot.monitoring.datasets.model import BY_NAME, DATASET_NAMES, DESCRIPTORS, ORIGIN_ASN_FIELD
from bot.monitoring.datasets.registry import BUILDERS, build_datasets
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import DnsAnswer


class NoDns:
    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        return DnsAnswer(Outcome.NXDOMAIN)


@pytest.mark.parametrize(
    ("env", "off_for_domains", "off_for_ips"),
    [
        pytest.param({}, set(), {"certificates"}, id="defaults"),
        pytest.param(
            {"WATCHPOST_CRTSH_URL": "", "WATCHPOST_INTERNETDB_URL": ""},
            {"certificates", "subdomains"},
            {"certificates", "services"},
            id="sources off",
        ),
        pytest.param(
            {"WATCHPOST_ACTIVE_PROBES": "1", "WATCHPOST_CRTSH_URL": ""},
            {"certificates", "subdomains"},
            set(),
            id="active probes without crt.sh",
        ),
    ],
)
async def test_registry_builds_what_settings_enable(
    env: dict[str, str], off_for_domains: set[str], off_for_ips: set[str]
) -> None:
    """Every dataset for the kinds its descriptor names, in descriptor order, less those
    whose sources the settings turn off (a DNS-only dataset is always on)."""
    registry = build_datasets(Settings.from_env(env), NoDns())
    try:
        for kind, off in ((IndicatorKind.DOMAIN, off_for_domains), (IndicatorKind.IP, off_for_ips)):
            expected = [d.name for d in DESCRIPTORS if kind in d.kinds and d.name not in off]
            assert [d.name for d in registry.datasets if d.applies_to(kind)] == expected
    finally:
        await registry.aclose()


async def test_registry_datasets_apply_to_the_kinds_their_descriptors_name() -> None:
    registry = build_datasets(Settings.from_env({"WATCHPOST_ACTIVE_PROBES": "1"}), NoDns())
    try:
        assert [d.name for d in registry.datasets] == list(DATASET_NAMES)
        for dataset in registry.datasets:
            kinds = {kind for kind in IndicatorKind if dataset.applies_to(kind)}
            assert kinds == BY_NAME[dataset.name].kinds, dataset.name
    finally:
        await registry.aclose()


def test_registry_has_one_builder_per_descriptor_in_order() -> None:
    """Every dataset has a descriptor (name, section, sources) and the registry builds them
    in the descriptors' order: one registry line per dataset, none missing."""
    assert [descriptor for descriptor, _ in BUILDERS] == list(DESCRIPTORS)


async def test_registry_collects_origin_asns_only_for_a_stage_that_needs_them() -> None:
    settings = replace(Settings.from_env({}), summarise_same_asn=True)
    assert ORIGIN_ASN_FIELD in AlertPolicy.from_settings(summarise_same_asn=True).needs
    for needs, expected in ((None, True), (frozenset(), False), (frozenset({ORIGIN_ASN_FIELD}), True)):
        registry = build_datasets(settings, NoDns(), needs=needs)
        try:
            resolutions = registry.datasets[0]
            assert isinstance(resolutions, ResolutionsDataset)
            assert (resolutions._origin_asn is not None) is expected
        finally:
            await registry.aclose()
