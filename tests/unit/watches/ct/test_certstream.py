"""certstream-server-go's messages -> CtEntry (pure): made from real certificates by the
loopback server's own message builder, plus the messages that carry no certificate."""

from __future__ import annotations

import json

import pytest

from bot.watches.ct.certificates import certificate_facts
from bot.watches.ct.certstream import parse_update
from tests.fakes.certstream import messages
from tests.fakes.ct_log import CertificateAuthority


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.mark.parametrize("subscription", ["lite", "full"])
def test_a_certificate_update_reads_as_the_logs_reader_reads_the_certificate(
    authority: CertificateAuthority, subscription: str
) -> None:
    der = authority.certificate_for(
        ["WWW.Paypa1.com", "paypa1.com"], common_name="login.paypa1.com", serial=0x0A1B
    )
    sent = messages(der, log_url="https://ct.example/argon/", index=4242, seen=1_764_547_200.123)[
        subscription
    ]

    entry = parse_update(sent)

    assert entry is not None
    facts = certificate_facts(der)
    assert set(entry.names) == set(facts.names)  # the server lists the CN last
    assert (entry.serial, entry.issuer) == (facts.serial, facts.issuer) == ("a1b", "Loopback Trust Services")
    assert (entry.log, entry.index, entry.precertificate) == ("https://ct.example/argon/", 4242, False)
    assert entry.logged_at.isoformat() == "2025-12-01T00:00:00.123000+00:00"


def test_a_precertificate_update_is_a_precertificate(authority: CertificateAuthority) -> None:
    issued = authority.precertificate_for(["pre.example.org"])
    entry = parse_update(messages(issued.precertificate, precertificate=True)["lite"])
    assert entry is not None and entry.precertificate and entry.serial == f"{issued.serial:x}"


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"message_type": "heartbeat", "timestamp": 1764547200.0}),
        json.dumps({"message_type": "dns_entries", "data": ["paypa1.com"]}),
        json.dumps({"message_type": "certificate_update", "data": {"leaf_cert": {}}}),
        json.dumps({"message_type": "certificate_update", "data": "nonsense"}),
        "not json at all",
        b"\xff\xfe",
    ],
)
def test_messages_without_a_certificate_are_nothing(message: str | bytes) -> None:
    assert parse_update(message) is None
