"""Investigations under pressure: a huge indicator stays within Slack's limits and says
what was left out; an empty one says so."""

from __future__ import annotations

import json

import pytest

from bot.core.limits import block_kit_violations
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure
from bot.investigations.messages.investigation import build_investigation_message
from bot.monitoring.datasets.model import DESCRIPTORS, DatasetDescriptor
from bot.storage.views import SharedInfrastructure
from tests.unit.samples import EVIL, NOW, raw_controls


def observation(
    dataset: str, facts: list[tuple[str, str]], failures: tuple[SourceFailure, ...] = ()
) -> Observation:
    return Observation(dataset, frozenset(Fact(f, v, "src") for f, v in facts), frozenset(), failures)


def test_investigation_of_a_huge_indicator_stays_within_limits() -> None:
    observations = [
        observation("resolutions", [("pdns:A", f"45.77.{i // 256}.{i % 256}") for i in range(2000)]),
        observation("dns_records", [("TXT", EVIL * 20), ("NS", "ns1.bad-dns.net")]),
        observation("whois", [("registrant_org", EVIL), ("registrar", "Evil & Sons <registrar>")]),
        observation(
            "certificates", [("certificate", f"CN=R3 serial {i:040x} names: {EVIL}") for i in range(500)]
        ),
        observation("subdomains", [("subdomain", f"s{i}.evil.com") for i in range(3000)]),
        observation("services", [], (SourceFailure("internetdb", EVIL),)),
    ]
    shared = [
        SharedInfrastructure(f"m{i}.example.com", IndicatorKind.DOMAIN, "NS", "ns1.bad-dns.net", ("C0INTEL",))
        for i in range(100)
    ]
    message = build_investigation_message(
        "evil.com", IndicatorKind.DOMAIN, observations, shared, looked_up_at=NOW, monitored_in=("C0INTEL",)
    )
    assert block_kit_violations(message) == []
    assert raw_controls(message) == []
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "…and 1988 more" in text and "…and 75 more" in text
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 10 and all(b["action_id"].startswith("investigate") for b in buttons)


def test_investigation_without_data_says_so() -> None:
    message = build_investigation_message(
        "evil.com",
        IndicatorKind.DOMAIN,
        [observation("whois", [], (SourceFailure("whois", "connection refused"),))],
        [],
        looked_up_at=NOW,
    )
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "_nothing observed_" in text and "connection refused" in text
    assert "none found among the monitors this channel can see" in text and "Monitor evil.com" in text


def test_investigation_names_only_the_asking_channel_and_counts_the_others() -> None:
    """Other channels of the workspace may be private: counted, never named."""
    shared = [
        SharedInfrastructure("own.example", IndicatorKind.DOMAIN, "A", "45.77.10.20", ("C0HERE",), 1),
        SharedInfrastructure("theirs.example", IndicatorKind.DOMAIN, "A", "45.77.10.20", (), 3),
    ]
    message = build_investigation_message(
        "45.77.10.20",
        IndicatorKind.IP,
        [observation("resolutions", [("pdns:A", "x.example")])],
        shared,
        looked_up_at=NOW,
        monitored_in=(),
        monitored_elsewhere=1,
    )
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "monitored in another channel of this workspace" in text
    assert "`own.example` (in <#C0HERE>, another channel of this workspace)" in text
    assert "`theirs.example` (in 3 other channels of this workspace)" in text
    assert "<#" not in text.replace("<#C0HERE>", "")
    assert "Monitor 45.77.10.20" in text  # not monitored here: this channel may start to


def test_investigation_monitored_nowhere_it_may_see_says_not_here() -> None:
    message = build_investigation_message(
        "45.77.10.20", IndicatorKind.IP, [observation("resolutions", [])], [], looked_up_at=NOW
    )
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "not monitored here yet" in text and "Monitor 45.77.10.20" in text


def _header_line(message: object) -> str:
    return json.dumps(message.blocks[1], ensure_ascii=False)  # type: ignore[attr-defined]


def test_investigation_of_an_indicator_with_history_points_to_it() -> None:
    observations = [observation("resolutions", [("A", "98.126.38.107")])]
    stored = build_investigation_message(
        "evil.com", IndicatorKind.DOMAIN, observations, [], looked_up_at=NOW, history_stored=True
    )
    fresh = build_investigation_message("evil.com", IndicatorKind.DOMAIN, observations, [], looked_up_at=NOW)
    assert "nothing stored" not in _header_line(stored)
    assert "/monitor history evil.com" in _header_line(stored)
    assert "nothing stored" in _header_line(fresh)


def test_investigation_shows_one_source_failing_for_two_datasets_once() -> None:
    crtsh = SourceFailure("crt.sh", "HTTP 502 from crt.sh")
    message = build_investigation_message(
        "evil.com",
        IndicatorKind.DOMAIN,
        [observation("certificates", [], (crtsh,)), observation("subdomains", [], (crtsh,))],
        [],
        looked_up_at=NOW,
    )
    assert json.dumps(message.blocks, ensure_ascii=False).count("HTTP 502 from crt.sh") == 1


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda d: d.name)
def test_investigation_shows_every_dataset_in_its_section(descriptor: DatasetDescriptor) -> None:
    """A dataset cannot vanish from investigations: each field of each descriptor shows, in
    the section the descriptor names, and a failure with no facts still shows its section."""
    facts = [(field, f"value-of-{field}") for field in descriptor.fields]
    message = build_investigation_message(
        "evil.com", IndicatorKind.DOMAIN, [observation(descriptor.name, facts)], [], looked_up_at=NOW
    )
    texts = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    for field in descriptor.fields:
        title = descriptor.section_of(field).title
        assert [t for t in texts if t.startswith(f"*{title}*") and f"value-of-{field}" in t], field
    failed = observation(descriptor.name, [], (SourceFailure("somesource", "down"),))
    message = build_investigation_message("evil.com", IndicatorKind.DOMAIN, [failed], [], looked_up_at=NOW)
    texts = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert any(t.startswith(f"*{descriptor.section.title}*") and "somesource" in t for t in texts)
