"""WHOIS replies of 100+ registries (tests/data/whois/), table-driven through the parser,
and a sample through the real WHOIS TCP server on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from bot.core.errors import SourceError, SourceRefused
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.diff import diff_observation
from bot.monitoring.sources.whois import WhoisClient, parse_whois
from bot.monitoring.sources.whois_text import read_date, says_not_registered, valid_email, valid_host
from tests.fakes.whois_corpus import WhoisCase, by_field, field_agreement, load_cases
from tests.fakes.whois_server import FakeWhoisServer

CASES = load_cases()
StartWhois = Callable[..., FakeWhoisServer]
_NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_the_table_covers_over_a_hundred_tlds_registered_and_not() -> None:
    registered = {case.tld for case in CASES if case.facts}
    free = {case.tld for case in CASES if case.not_registered}
    assert len(registered) >= 100 and len(free) >= 100
    assert sum(case.family == "ccTLD" for case in CASES if case.not_registered) >= 60


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_whois_reply_gives_the_facts_it_says(case: WhoisCase) -> None:
    if case.error is not None:
        with pytest.raises(SourceError) as raised:
            parse_whois(case.domain, case.text, case.server)
        # Never "registered", never an empty record: an error naming the registry.
        assert case.error in str(raised.value)
        # A refusal (throttled, quota, access) is its own kind, retried: never "not registered".
        assert isinstance(raised.value, SourceRefused) == case.refusal
        assert raised.value.transient
        return
    assert by_field(parse_whois(case.domain, case.text, case.server)) == case.expected()


def test_field_agreement_per_family() -> None:
    figures = field_agreement(CASES, parse_whois)
    for family, agreement in figures.items():
        assert agreement.share >= 0.95, (family, agreement.wrong)


SAMPLE_TLDS = set("com org de eu it tw hk nl ch rs nz ai jp uk sg pt cl".split())
SAMPLE = [case for case in CASES if case.name.split(".")[0] in SAMPLE_TLDS or case.error is not None]


@pytest.mark.parametrize("case", SAMPLE, ids=lambda case: case.name)
async def test_whois_reply_over_tcp_through_the_dataset(case: WhoisCase, whois_server: StartWhois) -> None:
    server = whois_server({case.domain: case.text})
    observation = await WhoisDataset(WhoisClient(server.address, 2.0), None, None).collect(
        case.domain, IndicatorKind.DOMAIN
    )
    if case.error is not None:
        # Unreadable or refused: the dataset fails, so the diff keeps every field as it was.
        assert observation.failed and str(server.address) in observation.failures[0].message
        assert ("refused the query" in observation.failures[0].message) == case.refusal
        assert not diff_observation(None, observation, now=_NOW, previous_check_at=None).baseline
        return
    assert not observation.failures
    assert by_field(observation.facts) == case.expected()


def test_name_servers_in_another_order_are_the_same_facts() -> None:
    case = next(c for c in CASES if c.name == "it.registered.txt")
    lines = case.text.split("\n")
    start = lines.index("Nameservers") + 1
    lines[start : start + 3] = reversed(lines[start : start + 3])
    assert parse_whois(case.domain, "\n".join(lines)) == parse_whois(case.domain, case.text)


@pytest.mark.parametrize(
    ("text", "tld", "day"),
    [
        ("10.03.2008 12:31:19", "rs", date(2008, 3, 10)),  # day first, never 3 October
        ("2000-08-29 00:00:00 (UTC+8)", "tw", date(2000, 8, 28)),  # the zone honoured
        ("2026-11-09 23:59:59 (UTC+8)", "tw", date(2026, 11, 9)),
        ("2002-12-04 00:00:00+02", "ua", date(2002, 12, 3)),
        ("2010-07-04 12:00:00 +03:00", "ee", date(2010, 7, 4)),
        ("2002-10-22 23:48:23 CLST", "cl", date(2002, 10, 23)),
        ("2025/06/01 01:05:07 (JST)", "jp", date(2025, 5, 31)),
        ("09/01/2003 00:00:00", "pt", date(2003, 1, 9)),
        ("06/01/2005", "us", date(2005, 6, 1)),  # slashes month first unless the registry says so
        ("04-02-2004", "hk", date(2004, 2, 4)),
        ("30.6.2014 11:02:29", "fi", date(2014, 6, 30)),
        ("2011. 05. 09.", "kr", date(2011, 5, 9)),
        ("19990518 #142485", "br", date(1999, 5, 18)),
        ("14-Feb-1999", "uk", date(1999, 2, 14)),
        ("2001-Aug-23.", "tr", date(2001, 8, 23)),
        ("July  1 2002", "is", date(2002, 7, 1)),
        ("Tue Dec 12 2000", "be", date(2000, 12, 12)),
        ("08 Jul 2004", "th", date(2004, 7, 8)),
        ("1970-01-01", "com", None),  # before the first domain: junk
        ("9999-12-31", "com", None),
        ("never", "com", None),
    ],
)
def test_read_date(text: str, tld: str, day: date | None) -> None:
    assert read_date(text, tld) == day


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("NS1.Example.COM.", "ns1.example.com"),
        ("creation", None),
        ("updated", None),
        ("192.0.2.1", None),
        ("ns1.xn--p1ai", "ns1.xn--p1ai"),
        ("ns.пример.рф", "ns.xn--e1afmkfd.xn--p1ai"),
        ("ns1.example.com/path", None),
    ],
)
def test_valid_host(text: str, host: str | None) -> None:
    assert valid_host(text) == host


def test_valid_email() -> None:
    assert valid_email("Owner@Example.ORG") == "owner@example.org"
    assert valid_email("Please query the RDDS service of the Registrar of Record") is None
    assert valid_email("owner at example.org") is None


def test_junk_name_servers_are_refused_as_on_nl() -> None:
    text = (
        "Domain name: junk-ns.nl\nStatus:      active\n\nRegistrar:\n   Example Registrar B.V.\n\n"
        "Domain nameservers:\n   ns1.example-dns.nl\n   ns2.example-dns.nl\n\n"
        "Creation Date: 2001-05-17\n\nUpdated Date: 2024-02-20\n\nRecord maintained by: NL Domain Registry\n"
    )
    servers = by_field(parse_whois("junk-ns.nl", text))["name_server"]
    assert servers == ["ns1.example-dns.nl", "ns2.example-dns.nl"]  # not "creation", "updated"


@pytest.mark.parametrize(
    "phrase",
    [
        "Domain Status: No Object Found",
        "query_status: 220 Available",
        'No match for "X.COM".',
        "NOT FOUND",
        "Status: free",
        "%% NOT FOUND",
        "No entries found for the selected source(s).",
        "The queried object does not exist: DOMAIN NOT FOUND",
        "We do not have an entry in our database matching your query.",
        "%ERROR:101: no entries found",
    ],
)
def test_not_registered_phrasings(phrase: str) -> None:
    assert says_not_registered(phrase)
    assert parse_whois("free-zz91.example", phrase + "\n") == parse_whois("free-zz91.example", "NOT FOUND\n")


def test_no_registered_reply_reads_as_free() -> None:
    assert [case.name for case in CASES if case.facts and says_not_registered(case.text)] == []


def test_a_free_phrase_beside_registration_data_is_still_registered() -> None:
    # A footer that says "not found" must not turn a record with its dates and servers into a free one.
    case = next(c for c in CASES if c.name == "de.registered.txt")
    text = case.text + "Creation Date: 2001-01-01\n% If a domain is NOT FOUND, it may be free.\nNOT FOUND\n"
    assert ["not registered"] != by_field(parse_whois(case.domain, text)).get("status")


@pytest.mark.parametrize("filler", ["\n", " \n", "\t\n", "%\n"])
def test_a_reply_of_blank_lines_is_read_in_linear_time(filler: str) -> None:
    # ^\s* under MULTILINE ran on across blank lines: 20,000 of them took minutes.
    started = time.monotonic()
    with pytest.raises(SourceError, match="no WHOIS fields"):
        parse_whois("x.com", filler * 20_000, "whois.example")
    assert time.monotonic() - started < 10
