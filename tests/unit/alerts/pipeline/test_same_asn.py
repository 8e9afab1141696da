"""Same-ASN churn: kept for history, no alert; a new ASN alerts with its addresses."""

from __future__ import annotations

import pytest

from bot.alerts.pipeline.same_asn import summarise_same_asn_churn
from bot.core.errors import SourceError
from bot.core.observations import Change, ChangeKind
from bot.monitoring.sources.asn import CachedOrigin


def change(field: str, new: str | None, old: str | None = None, dataset: str = "resolutions") -> Change:
    kind = ChangeKind.CHANGED if old and new else ChangeKind.ADDED if new else ChangeKind.REMOVED
    return Change(dataset, kind, field, old, new, "dns")


@pytest.mark.parametrize(
    ("changes", "alerting"),
    [
        pytest.param(
            [change("A", "45.77.10.21"), change("A", None, "45.77.10.20")], [], id="churn inside the ASN"
        ),
        pytest.param(
            [change("A", "104.16.1.1"), change("asn", "AS13335")],
            ["104.16.1.1", "AS13335"],
            id="new ASN alerts",
        ),
        pytest.param(
            [change("CNAME", "cdn.example.net"), change("A", "45.77.10.21")],
            ["cdn.example.net"],
            id="other fields still alert",
        ),
        pytest.param(
            [change("A", "45.77.10.21", dataset="whois")], ["45.77.10.21"], id="other datasets untouched"
        ),
    ],
)
def test_noise_same_asn_churn(changes: list[Change], alerting: list[str]) -> None:
    result = summarise_same_asn_churn(changes)
    assert len(result) == len(changes)  # nothing is dropped: history and the digest keep it
    assert [c.value for c in result if c.alert] == alerting


async def test_noise_origin_cache_remembers_answers_not_errors() -> None:
    calls: list[str] = []
    now = [0.0]

    async def lookup(ip: str) -> str | None:
        calls.append(ip)
        if ip == "45.77.10.99":
            raise SourceError("asn", "SERVFAIL")
        return "AS20473"

    cached = CachedOrigin(lookup, ttl=60, clock=lambda: now[0])
    assert [await cached("45.77.10.20"), await cached("45.77.10.20")] == ["AS20473", "AS20473"]
    for _ in range(2):
        with pytest.raises(SourceError):
            await cached("45.77.10.99")
    now[0] = 61
    await cached("45.77.10.20")
    assert calls == ["45.77.10.20", "45.77.10.99", "45.77.10.99", "45.77.10.20"]
