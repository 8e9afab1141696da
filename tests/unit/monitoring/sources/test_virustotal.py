"""VirusTotal's resolutions pages in, normalised records and the cursor out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import SourceError
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.virustotal import parse_virustotal_page

FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


def test_parse_virustotal_page_reads_resolutions_and_cursor() -> None:
    payload = {
        "data": [
            {
                "attributes": {
                    "date": 1709251200,
                    "host_name": "Evil-Example.com.",
                    "ip_address": "98.126.38.107",
                }
            },
            {
                "attributes": {
                    "date": 1706745600,
                    "host_name": "evil-example.com",
                    "ip_address": "2001:0db8::0001",
                }
            },
            {"attributes": {"host_name": "evil-example.com"}},
        ],
        "meta": {"count": 90, "cursor": "Q3Vyc29y"},
    }
    page = parse_virustotal_page(payload)
    assert page.records == [
        PassiveDnsRecord("evil-example.com", "A", "98.126.38.107", None, MAR, "virustotal"),
        PassiveDnsRecord("evil-example.com", "AAAA", "2001:db8::1", None, FEB, "virustotal"),
    ]
    assert (page.cursor, page.skipped) == ("Q3Vyc29y", 1)


@pytest.mark.parametrize("payload", [[], {"data": "x"}, {"error": {"code": "X"}}, {"data": [{"id": "x"}]}])
def test_parse_virustotal_page_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError):
        parse_virustotal_page(payload)
