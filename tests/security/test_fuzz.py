"""Fuzzing (hypothesis) of everything that reads untrusted text: the indicator parser and
the /monitor grammar, every source parser, and what turns their output into Slack
messages and CSV cells. Each parser either answers or raises its own error (UserInputError,
SourceError): never anything else, never a crash, never an unsafe message."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.alerts.messages.alerts import build_alert_message
from bot.commands.grammar import parse_command
from bot.commands.messages.replies import build_error_message
from bot.core.errors import SourceError, UserInputError
from bot.core.indicators import MAX_INDICATORS_PER_COMMAND, parse_indicator, parse_indicators
from bot.core.limits import block_kit_violations
from bot.core.mrkdwn import code, escape
from bot.core.observations import Change, ChangeKind, IndicatorKind
from bot.digests.build import FORMULA_STARTS, neutralise_cell, render_csv
from bot.imports.messages import build_import_refused_message, build_imported_message
from bot.imports.model import ItemOutcome, read_document
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.asn import as_name, origin_asn
from bot.monitoring.sources.circl import parse_cof
from bot.monitoring.sources.crtsh import parse_crtsh
from bot.monitoring.sources.internetdb import parse_internetdb
from bot.monitoring.sources.mnemonic import parse_mnemonic_page
from bot.monitoring.sources.rdap import network_facts
from bot.monitoring.sources.virustotal import parse_virustotal_page
from bot.monitoring.sources.whois import parse_whois
from tests.faults.figures import FIGURES

fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNSAFE = re.compile(r"<(?:!|@|#|https?:|mailto:)", re.IGNORECASE)

# Text an attacker would try: Slack markup, defanging, separators, confusables, controls.
PIECES = [
    "evil",
    "com",
    ".",
    "[.]",
    "(.)",
    "hxxp://",
    "https://",
    "/",
    ":",
    "443",
    "@",
    "*",
    "<!channel>",
    "<https://x|y>",
    "&",
    "`",
    "'",
    '"',
    ";",
    ",",
    " ",
    "\n",
    "\t",
    "\u0000",
    "\u202e",
    "\u200b",
    "а",
    "ｅ",
    "。",
    "xn--",
    "-",
    "_",
    "10",
    "127.0.0.1",
    "98.126.38.107",
    "[",
    "]",
    "::",
    "ffff",
    "%",
    "\\",
    "=",
]
hostile_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(PIECES), max_size=25).map("".join),
    st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=40).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)


def count(name: str) -> None:
    FIGURES.tried(f"fuzz: {name}")


def safe_message_text(text: str) -> bool:
    return not UNSAFE.search(text) and not any(
        unicodedata.category(c) in ("Cc", "Cf") and c != "\n" for c in text
    )


# IANA's special-purpose registry marks these blocks inside 2001::/23 globally reachable;
# the Python 3.11 here calls all of 2001::/23 not global.
IPV6_GLOBAL_IN_2001_23 = [
    ipaddress.ip_network(n)
    for n in (
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
    )
]
# Never monitorable, whatever `is_global` says (it calls 3fff::/20 global).
DOCUMENTATION = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
]


@fuzz
@given(hostile_text)
@example("2001:db8::1")  # documentation: refused
@example("[2001:db8:1::53]:443")
@example("3fff::1")  # documentation since RFC 9637; Python still calls it global
@example("2001:3::1")  # AMT, inside 2001::/23 yet global: accepted
def test_fuzz_indicator_parser_answers_or_explains(text: str) -> None:
    count("indicator parser")
    try:
        indicator = parse_indicator(text)
    except UserInputError as exc:
        message = build_error_message(str(exc))
        assert safe_message_text(message.text) and block_kit_violations(message) == []
        return
    value = indicator.value
    assert value.isascii() and value == value.lower() and len(value) <= 253 and " " not in value
    assert parse_indicator(value) == indicator  # canonical: parsing it again changes nothing
    if indicator.kind is IndicatorKind.IP:
        address = ipaddress.ip_address(value)
        assert address.is_global or any(address in network for network in IPV6_GLOBAL_IN_2001_23), value
        assert not any(address in network for network in DOCUMENTATION), value


@fuzz
@given(st.lists(hostile_text, max_size=60).map(" ".join))
def test_fuzz_many_indicators_all_or_nothing(text: str) -> None:
    count("indicator lists")
    try:
        found = parse_indicators(text)
    except UserInputError as exc:
        assert safe_message_text(build_error_message(str(exc)).text)
        return
    assert 0 < len(found) <= MAX_INDICATORS_PER_COMMAND and len(set(found)) == len(found)


@fuzz
@given(
    hostile_text,
    st.sampled_from(
        [
            "", "remove ", "mute ", "unmute ", "history ", "status ", "check ", "lookalikes ", "keyword ",
            "remove lookalikes ", "status keyword ", "keyword confirm ", "misp ",
        ]
    ),
)  # fmt: skip
@example("0 \x08", "mute ")  # found by this test: a raw control character echoed in the error
@example("x \u202eevil", "mute ")
@example("\u202eab", "keyword ")
@example("xn--zz.co.uk", "lookalikes ")
def test_fuzz_command_grammar(text: str, verb: str) -> None:
    count("command grammar")
    try:
        parse_command(verb + text)
    except UserInputError as exc:
        assert safe_message_text(build_error_message(str(exc)).text)


MISP_TYPES = ["domain", "hostname", "ip-dst", "ip-src|port", "domain|ip", "url", "md5"]
misp_attributes = st.fixed_dictionaries(
    {
        "type": st.sampled_from(MISP_TYPES),
        "value": st.one_of(hostile_text, json_values),
        "to_ids": json_values,
    }
)
stix_patterns = st.one_of(
    hostile_text,
    st.builds(
        lambda kind, op, value: f"[{kind}:value {op} '{value}']",
        st.sampled_from(["domain-name", "ipv4-addr", "ipv6-addr", "url", "file", "x-evil"]),
        st.sampled_from(["=", "!=", "LIKE", "IN", "MATCHES", "ISSUBSET"]),
        hostile_text,
    ),
)
documents = st.one_of(
    st.builds(
        lambda attributes, uuid: {"Event": {"uuid": uuid, "info": "<!channel>", "Attribute": attributes}},
        st.lists(misp_attributes, max_size=6),
        st.sampled_from(["5f8e2d1c-0b6a-4c3e-9f1d-2a7b8c9d0e1f", "nope", ""]),
    ),
    st.builds(
        lambda patterns: {
            "type": "bundle",
            "id": "bundle--6ba7b810-9dad-41d1-80b4-00c04fd430c8",
            "objects": [{"type": "indicator", "id": f"indicator--{p[:30]}", "pattern": p} for p in patterns],
        },
        st.lists(stix_patterns, max_size=5),
    ),
    json_values,
)


@fuzz
@given(documents)
def test_fuzz_import_reader(document: Any) -> None:
    """A hostile MISP event or STIX bundle: read or refused with a UserInputError, and what
    the reply shows of it is safe (no mention, no link, within Block Kit's limits)."""
    count("import reader")
    try:
        imported = read_document(document)
    except UserInputError as exc:
        assert safe_message_text(build_error_message(str(exc)).text)
        return
    for item in imported.items:
        assert (item.indicator is not None) == (item.outcome is ItemOutcome.ACCEPTED)
    if imported.errors:
        message = build_import_refused_message(imported)
    else:
        message = build_imported_message(imported, [(i.value, True) for i in imported.indicators])
    assert block_kit_violations(message) == []
    assert safe_message_text(message.text)
    assert not any(UNSAFE.search(json.dumps(block)) for block in message.blocks)


def assert_normalised(records: list[PassiveDnsRecord]) -> None:
    """What every passive DNS parser promises of its rows (bot.monitoring.sources.passive_dns)."""
    for r in records:
        assert r.rrname == r.rrname.lower() and (r.rrname == "." or not r.rrname.endswith(".")), r
        assert r.rrtype and r.rrtype == r.rrtype.strip().upper() and r.rdata, r
        if r.rrtype in ("A", "AAAA"):
            assert ipaddress.ip_address(r.rdata).compressed == r.rdata, r
        assert all(seen is None or seen.utcoffset() == timedelta(0) for seen in (r.first_seen, r.last_seen))


@fuzz
@given(json_values, st.sampled_from(["evil.com", "xn--80ak6aa92e.com"]))
def test_fuzz_crtsh_parser(payload: Any, domain: str) -> None:
    count("crt.sh parser")
    try:
        result = parse_crtsh(payload, domain)
    except SourceError:
        return
    assert all(name == domain or name.endswith("." + domain) for name in result.names)


@fuzz
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            json_values.map(json.dumps),
            st.fixed_dictionaries(
                {"rrname": st.text(max_size=20), "rrtype": st.text(max_size=5), "rdata": json_values},
                optional={"time_first": json_values, "time_last": json_values},
            ).map(json.dumps),
        ),
        max_size=10,
    ).map("\n".join)
)
def test_fuzz_passive_dns_cof_parser(text: str) -> None:
    count("CIRCL COF parser")
    try:
        result = parse_cof(text, "98.126.38.107")
    except SourceError:
        return
    assert_normalised(result.records)
    assert all("98.126.38.107" in (r.rrname, r.rdata) for r in result.records)  # the query's rows only


@fuzz
@given(
    json_values
    | st.fixed_dictionaries(
        {"responseCode": st.just(200), "data": st.lists(json_values, max_size=5)},
        optional={"count": json_values},
    )
)
def test_fuzz_mnemonic_parser(payload: Any) -> None:
    count("Mnemonic parser")
    try:
        page = parse_mnemonic_page(payload)
    except SourceError:
        return
    assert_normalised(page.records)
    assert page.rows == len(payload["data"]) == len(page.records) + page.skipped  # every row counted once


@fuzz
@given(json_values | st.fixed_dictionaries({"data": json_values}, optional={"meta": json_values}))
def test_fuzz_virustotal_parser(payload: Any) -> None:
    count("VirusTotal parser")
    try:
        page = parse_virustotal_page(payload)
    except SourceError:
        return
    assert_normalised(page.records)
    assert {r.rrtype for r in page.records} <= {"A", "AAAA"}
    assert len(page.records) + page.skipped == len(payload["data"])


@fuzz
@given(
    json_values
    | st.fixed_dictionaries(
        {"ports": st.lists(json_values, max_size=5)},
        optional={k: json_values for k in ("hostnames", "cpes", "tags", "vulns")},
    )
)
def test_fuzz_internetdb_parser(payload: Any) -> None:
    count("InternetDB parser")
    try:
        host = parse_internetdb(payload)
    except SourceError:
        return
    assert all(0 <= port <= 65535 for port in host.ports)
    assert all(name and name == name.lower() for name in host.hostnames)


@fuzz
@given(
    json_values
    | st.fixed_dictionaries(
        {"objectClassName": st.just("ip network")},
        optional={
            k: json_values
            for k in ("name", "handle", "country", "startAddress", "endAddress", "cidr0_cidrs", "entities")
        },
    )
)
@example({"objectClassName": "ip network", "cidr0_cidrs": 1})  # found by this test: a TypeError
def test_fuzz_rdap_parser(payload: Any) -> None:
    count("RDAP parser")
    try:
        facts = network_facts(payload)
    except SourceError:
        return
    assert {f.field for f in facts} <= {"network_name", "handle", "country", "cidr", "org"}
    assert all(f.value and f.source == "rdap" for f in facts)
    assert all(f.value == f.value.upper() for f in facts if f.field == "country")


whois_lines = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "Registrar",
                "Registrant Organization",
                "Registrant Email",
                "Name Server",
                "Domain Status",
                "Creation Date",
                "Registry Expiry Date",
                "Updated Date",
                "Domain Name",
                "refer",
                "% NOTICE",
            ]
        ),
        hostile_text,
    ).map(lambda kv: f"{kv[0]}: {kv[1]}"),
    max_size=15,
).map("\r\n".join)


@fuzz
@given(whois_lines | st.text(max_size=300))
def test_fuzz_whois_parser(text: str) -> None:
    count("WHOIS parser")
    try:
        facts = parse_whois("evil.com", text)
    except SourceError:
        return
    assert facts


@fuzz
@given(st.lists(hostile_text, max_size=4))
def test_fuzz_team_cymru_txt_parser(records: list[str]) -> None:
    count("Team Cymru parser")
    asn = origin_asn(tuple(records))
    assert asn is None or asn >= 0
    name = as_name(tuple(records))
    assert name is None or (name and name == " ".join(name.split()))  # one line, spaces collapsed


@fuzz
@given(
    st.lists(
        st.tuples(st.sampled_from(["TXT", "NS", "registrar", "subdomain", "A"]), hostile_text),
        min_size=1,
        max_size=30,
    )
)
def test_fuzz_alerts_show_untrusted_values_safely(values: list[tuple[str, str]]) -> None:
    count("alert rendering")
    changes = [
        Change("dns_records", ChangeKind.ADDED, field, None, value or "x", "dns") for field, value in values
    ]
    message = build_alert_message("evil.com", IndicatorKind.DOMAIN, changes, detected_at=datetime.now(UTC))
    for shown in (message, *message.thread_messages):
        assert block_kit_violations(shown) == []
        assert not UNSAFE.search(shown.text + json.dumps(shown.blocks))


@fuzz
@given(hostile_text)
def test_fuzz_mrkdwn_escaping(text: str) -> None:
    count("mrkdwn escaping")
    for shown in (escape(text), code(text)):
        assert "<" not in shown and ">" not in shown
        assert not re.search(r"&(?!amp;|lt;|gt;)", shown)
    assert code(text).count("`") == 2


@fuzz
@given(st.lists(st.lists(hostile_text, min_size=1, max_size=4), max_size=5))
def test_fuzz_csv_cells_never_start_a_formula(rows: list[list[str]]) -> None:
    count("CSV cells")
    assert not neutralise_cell(rows[0][0] if rows else "=1").startswith(FORMULA_STARTS)
    parsed = list(csv.reader(io.StringIO(render_csv(rows, header=["a"]).decode(), newline="")))
    for row in parsed:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS)
