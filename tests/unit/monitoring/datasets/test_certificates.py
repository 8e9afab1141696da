"""A certificate as the `certificates` dataset's fact value."""

from __future__ import annotations

from bot.monitoring.datasets.certificates import certificate_fact_value
from bot.monitoring.sources.crtsh import parse_crtsh
from tests.unit.monitoring.sources.test_crtsh import crtsh_row


def test_certificate_fact_value_is_readable_and_stable() -> None:
    cert = parse_crtsh(
        [crtsh_row(1, "evil-example.com\n*.evil-example.com", "04A1")], "evil-example.com"
    ).certificates[0]
    assert certificate_fact_value(cert) == (
        "R3 serial 04a1 (2024-01-01..2024-03-31) names: *.evil-example.com, evil-example.com"
    )
