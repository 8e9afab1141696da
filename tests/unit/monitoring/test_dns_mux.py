"""The fast DNS path's wire handling against dnspython itself: queries are byte for byte
what `dns.message.make_query` builds, and `read_reply` gives, for any reply, what a full
`dns.message.from_wire` parse and dnspython's CNAME-chain rules give."""

from __future__ import annotations

from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.core.observations import Outcome
from bot.monitoring.dns import DnsAnswer, normalise_records
from bot.monitoring.dns_mux import system_nameservers
from bot.monitoring.dns_wire import (
    RandomIds,
    ServerError,
    Truncated,
    build_query,
    matches_question,
    parse_question,
    read_reply,
)

IN = dns.rdataclass.IN


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [("evil.example", "A"), ("Host1.Example.", "TXT"), ("107.38.126.98.in-addr.arpa", "PTR")],
)
def test_query_is_what_dnspython_makes(name: str, rdtype: str) -> None:
    expected = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    expected.id = 0xBEEF
    _, _, question = parse_question(name, rdtype)
    assert build_query(0xBEEF, question) == expected.to_wire()


def test_reply_must_carry_the_question_asked() -> None:
    _, _, question = parse_question("evil.example", "A")
    reply = dns.message.make_response(dns.message.make_query("EVIL.example", "A")).to_wire()
    assert matches_question(reply, question)  # names compare case-insensitively
    other_type = dns.message.make_response(dns.message.make_query("evil.example", "AAAA")).to_wire()
    other_name = dns.message.make_response(dns.message.make_query("evil.example.net", "A")).to_wire()
    assert not matches_question(other_type, question)
    assert not matches_question(other_name, question)
    assert not matches_question(reply[:20], question)


def test_ids_are_random_16_bit() -> None:
    ids = RandomIds(block=64)
    drawn = [ids.next() for _ in range(1000)]
    assert all(0 <= i < 65536 for i in drawn)
    assert len(set(drawn)) > 900


def test_system_nameservers_come_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search corp.example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    assert [(ns.host, ns.port) for ns in system_nameservers(str(conf))] == [
        ("192.0.2.53", 53),
        ("2001:db8::53", 53),
    ]
    conf.write_text("search corp.example\n")
    with pytest.raises(ConfigError, match="WATCHPOST_DNS_NAMESERVERS"):
        system_nameservers(str(conf))


# -- read_reply against dnspython --------------------------------------------------------------


def reference(wire: bytes, qname: dns.name.Name, rdtype: int) -> DnsAnswer | str:
    """What dnspython makes of a reply: a full parse, then the resolver's rules."""
    try:
        # As dnspython's resolver reads UDP replies: a truncated one is asked again over TCP.
        message = dns.message.from_wire(wire, raise_on_truncation=True)
    except dns.message.Truncated:
        return "truncated"
    except (dns.exception.DNSException, ValueError):
        return "malformed"
    rcode = message.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return dns.rcode.to_text(rcode)
    name = qname
    for _ in range(17):
        rrset = message.get_rrset(message.answer, name, IN, rdtype)
        if rrset:
            if rcode == dns.rcode.NXDOMAIN:
                break
            return DnsAnswer(Outcome.RECORDS, normalise_records(rrset))
        alias = message.get_rrset(message.answer, name, IN, dns.rdatatype.CNAME)
        if not alias or rdtype == dns.rdatatype.CNAME:
            break
        name = alias[0].target  # type: ignore[attr-defined]
    else:
        return "malformed"
    if rcode == dns.rcode.NXDOMAIN and name == qname:
        return DnsAnswer(Outcome.NXDOMAIN)
    return DnsAnswer(Outcome.NO_DATA)


def lean(wire: bytes, qname: dns.name.Name, rdtype: int) -> DnsAnswer | str:
    try:
        return read_reply(wire, qname, rdtype)
    except Truncated:
        return "truncated"
    except ServerError as exc:
        return exc.kind


_LABEL = st.one_of(
    st.sampled_from([b"evil", b"www", b"mail", b"EVIL", b"ns1", b"xn--80ak6aa92e", b"_dmarc", b"*"]),
    st.binary(min_size=1, max_size=12),  # escapes, dots, quotes, high bytes
)
_NAME = st.lists(_LABEL, min_size=0, max_size=4).map(lambda labels: dns.name.Name([*labels, b""]))
_TYPES = ["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR"]


def _rdata_text(rdtype: str, draw: st.DrawFn) -> dns.rdata.Rdata:
    kind = dns.rdatatype.from_text(rdtype)
    if rdtype == "A":
        return dns.rdata.from_text(IN, kind, draw(st.sampled_from(["192.0.2.1", "198.51.100.7", "10.0.0.1"])))
    if rdtype == "AAAA":
        return dns.rdata.from_text(
            IN, kind, draw(st.sampled_from(["2001:db8::1", "::ffff:192.0.2.1", "fe80::"]))
        )
    if rdtype == "TXT":
        strings = draw(st.lists(st.binary(max_size=40), min_size=1, max_size=3))
        wire = b"".join(bytes([len(s)]) + s for s in strings)
        return dns.rdata.from_wire(IN, kind, wire, 0, len(wire))
    name = draw(_NAME)
    if rdtype == "MX":
        return dns.rdata.from_text(IN, kind, f"{draw(st.integers(0, 65535))} {name.to_text()}")
    if rdtype == "SOA":
        return dns.rdata.from_text(IN, kind, f"{name.to_text()} {draw(_NAME).to_text()} 1 2 3 4 5")
    return dns.rdata.from_text(IN, kind, name.to_text())


@st.composite
def _replies(draw: st.DrawFn) -> tuple[bytes, dns.name.Name, int]:
    qname = draw(_NAME.filter(lambda n: len(n.labels) > 1))
    qtype = draw(st.sampled_from(_TYPES))
    query = dns.message.QueryMessage(id=draw(st.integers(0, 65535)))  # make_query draws a random id
    query.flags = dns.flags.RD
    query.find_rrset(
        query.question, qname, IN, dns.rdatatype.from_text(qtype), create=True, force_unique=True
    )
    if draw(st.booleans()):
        query.use_edns(0, 0, 1232)
    response = dns.message.make_response(query)
    response.set_rcode(draw(st.sampled_from([0, 0, 0, 3, 3, 2, 5, 1])))
    owners = [qname, qname, draw(_NAME)]
    for _ in range(draw(st.integers(0, 4))):
        rtype = draw(st.sampled_from([qtype, qtype, "CNAME", *_TYPES]))
        owner = draw(st.sampled_from(owners))
        rrset = dns.rrset.RRset(owner, IN, dns.rdatatype.from_text(rtype))
        for _ in range(draw(st.integers(1, 3))):
            rdata = _rdata_text(rtype, draw)
            rrset.add(rdata, 300)
            if rtype == "CNAME":
                owners.append(rdata.target)  # type: ignore[attr-defined]
        response.answer.append(rrset)
    if draw(st.booleans()):
        response.authority.append(dns.rrset.from_text(qname.parent(), 300, IN, "SOA", "ns. host. 1 2 3 4 5"))
    if draw(st.integers(0, 7)) == 0:
        response.flags |= dns.flags.TC
    wire = response.to_wire(want_shuffle=False)  # dnspython shuffles with `random` otherwise
    cut = draw(st.sampled_from([None] * 8 + [5, 13, len(wire) - 1, len(wire) - 7]))
    if cut is not None and 0 < cut < len(wire):
        wire = wire[:cut]
    elif draw(st.integers(0, 9)) == 0:
        wire += b"\x00"  # trailing junk
    return wire, qname, dns.rdatatype.from_text(qtype)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_replies())
def test_read_reply_agrees_with_dnspython(reply: tuple[bytes, dns.name.Name, int]) -> None:
    wire, qname, rdtype = reply
    assert lean(wire, qname, rdtype) == reference(wire, qname, rdtype)


def test_read_reply_extended_rcode_is_an_error() -> None:
    query = dns.message.make_query("evil.example", "A", use_edns=0)
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.BADVERS)  # 16: its upper bits travel in the OPT record
    wire = response.to_wire()
    assert (
        lean(wire, query.question[0].name, dns.rdatatype.A)
        == "BADVERS"
        == reference(wire, query.question[0].name, dns.rdatatype.A)
    )


def test_read_reply_compressed_and_escaped_names() -> None:
    qname = dns.name.from_text("evil.example")
    response = dns.message.make_response(dns.message.make_query(qname, "MX"))
    response.answer.append(
        dns.rrset.from_text(
            qname, 300, IN, "MX", "10 Mail.EVIL.example.", r"20 we\.ird\032name.evil.example."
        )
    )
    wire = response.to_wire()  # the exchanges point back at the question's name
    assert lean(wire, qname, dns.rdatatype.MX) == reference(wire, qname, dns.rdatatype.MX)
    assert lean(wire, qname, dns.rdatatype.MX) == DnsAnswer(
        Outcome.RECORDS, ("10 mail.evil.example", r"20 we\.ird\032name.evil.example")
    )
