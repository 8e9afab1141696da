"""Every HTTP source and its datasets against the fake servers on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Secret
from bot.core.errors import SourceError
from bot.core.observations import Fact, FactState, IndicatorKind, Observation, SourceFailure, SourceRead
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.datasets.certificates import CertificatesDataset
from bot.monitoring.datasets.services import ServicesDataset
from bot.monitoring.datasets.subdomains import SubdomainsDataset
from bot.monitoring.diff import diff_observation
from bot.monitoring.sources.circl import CirclPassiveDns
from bot.monitoring.sources.crtsh import CrtShClient
from bot.monitoring.sources.internetdb import InternetDbClient
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.monitoring.sources.virustotal import VirusTotalPassiveDns
from tests.fakes.http_sources import (
    CIRCL_PASSWORD,
    CIRCL_USER,
    MNEMONIC_KEY,
    VIRUSTOTAL_KEY,
    FakeClock,
    FakeHttpSources,
)

IP, DOMAIN = IndicatorKind.IP, IndicatorKind.DOMAIN
JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)
HANG_TIMEOUT = 0.2
# Only the hanging fake is meant to hit the timeout; the others get time to answer on a busy machine.
ANSWER_TIMEOUT = 10.0


def _timeout_for(fault: str) -> float:
    return HANG_TIMEOUT if fault == "hang" else ANSWER_TIMEOUT


# Every way a reply can fail, as (fault, what the SourceError message says).
FAULTS = [
    ("500", "HTTP 500"),
    ("429", "HTTP 429"),
    ("malformed", "malformed JSON"),
    ("empty", "malformed JSON"),
    ("hang", f"no answer within {HANG_TIMEOUT:g}s"),
    ("404", "HTTP 404"),
]


@pytest_asyncio.fixture
async def closing() -> AsyncIterator[Callable[[Any], Any]]:
    """Register clients to close at the end of the test."""
    clients: list[Any] = []

    def register(client: Any) -> Any:
        clients.append(client)
        return client

    yield register
    for client in clients:
        await client.close()


async def _source_error(call: Awaitable[object]) -> SourceError:
    with pytest.raises(SourceError) as caught:
        await call
    return caught.value


# -- Mnemonic --------------------------------------------------------------------------


async def test_mnemonic_lookup_of_an_ip_returns_normalised_records(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret("")))
    records = await source.lookup("98.126.38.107", IP)
    assert records == [
        PassiveDnsRecord("evil-example.com", "A", "98.126.38.107", JAN, FEB, "mnemonic"),
        PassiveDnsRecord("login.evil-example.com", "A", "98.126.38.107", FEB, MAR, "mnemonic"),
    ]
    (request,) = http_sources.requests_for("mnemonic")
    assert request.path == "/mnemonic/pdns/v3/98.126.38.107"
    assert request.query == {"offset": "0", "limit": "500"}
    assert "argus-api-key" not in request.headers  # no key: the public quota


async def test_mnemonic_lookup_of_a_domain_sends_the_key_and_canonicalises_rdata(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(MNEMONIC_KEY)))
    records = await source.lookup("evil-example.com", DOMAIN)
    assert [(r.rrname, r.rrtype, r.rdata) for r in records] == [
        ("evil-example.com", "A", "98.126.38.107"),
        ("evil-example.com", "AAAA", "2001:db8::1"),
        ("evil-example.com", "NS", "ns1.bad-dns.net"),
    ]
    assert http_sources.requests_for("mnemonic")[0].headers["argus-api-key"] == MNEMONIC_KEY


def _many_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "query": f"host{n}.evil-example.com.",
            "answer": "203.0.113.9",
            "rrtype": "a",
            "firstSeenTimestamp": 1704067200000,
            "lastSeenTimestamp": 1706745600000,
        }
        for n in range(count)
    ]


async def test_mnemonic_pages_through_every_row(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.mnemonic_rows["203.0.113.9"] = _many_rows(25)
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), page_size=10))
    records = await source.lookup("203.0.113.9", IP)
    assert [r.rrname for r in records] == [f"host{n}.evil-example.com" for n in range(25)]
    pages = [(r.query["offset"], r.query["limit"]) for r in http_sources.requests_for("mnemonic")]
    assert pages == [("0", "10"), ("10", "10"), ("20", "10")]


async def test_mnemonic_stops_at_the_row_cap(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.mnemonic_rows["203.0.113.9"] = _many_rows(25)
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), page_size=10, max_rows=12))
    records = await source.lookup("203.0.113.9", IP)
    assert len(records) == 12
    pages = [(r.query["offset"], r.query["limit"]) for r in http_sources.requests_for("mnemonic")]
    assert pages == [("0", "10"), ("10", "2")]


@pytest.mark.parametrize(("status", "says"), [(402, "quota"), (403, "key"), (401, "key")])
async def test_mnemonic_quota_or_key_refusal_is_permanent(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], status: int, says: str
) -> None:
    http_sources.inject("mnemonic", "status", status=status)
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(MNEMONIC_KEY)))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.source == "mnemonic"
    assert error.transient is False
    assert says in error.message and f"HTTP {status}" in error.message


async def test_mnemonic_wrong_key_never_shows_the_key(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "mnemonic-wrong-key-31337"
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(wrong)))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.transient is False and "HTTP 401" in error.message
    assert http_sources.requests_for("mnemonic")[0].headers["argus-api-key"] == wrong  # it was sent...
    for text in (str(error), repr(error), repr(source), caplog.text):  # ...and shown nowhere
        assert wrong not in text
    assert repr(source) == (
        f"MnemonicPassiveDns(base_url={http_sources.url('mnemonic')!r}, api_key=Secret('********'))"
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"responseCode": 503, "data": [], "messages": [{"message": "busy"}]}',
        '{"responseCode": 200, "count": 1}',
        '[{"query": "evil-example.com."}]',
    ],
)
async def test_mnemonic_reply_of_another_shape_is_an_error(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], body: str
) -> None:
    http_sources.inject("mnemonic", "body", body=body)
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret("")))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.source == "mnemonic" and error.transient


@pytest.mark.parametrize(("fault", "says"), FAULTS)
async def test_mnemonic_failures_become_source_errors(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], fault: str, says: str
) -> None:
    http_sources.inject("mnemonic", fault)
    source = closing(
        MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), timeout=_timeout_for(fault))
    )
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.source == "mnemonic"
    assert says in error.message


async def test_retry_after_is_honoured_before_any_new_request(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    clock = FakeClock()
    http_sources.inject("mnemonic", "429", retry_after="30", times=1)
    source = closing(MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), clock=clock))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert "retry after 30s" in error.message
    clock.advance(29)
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.message == "rate limited, retrying in 2s"
    assert len(http_sources.requests_for("mnemonic")) == 1  # nothing was sent while blocked
    clock.advance(1.5)
    assert len(await source.lookup("98.126.38.107", IP)) == 2
    assert len(http_sources.requests_for("mnemonic")) == 2


# -- CIRCL -----------------------------------------------------------------------------


def _circl(http_sources: FakeHttpSources, password: str = CIRCL_PASSWORD, **kwargs: Any) -> CirclPassiveDns:
    return CirclPassiveDns(http_sources.url("circl"), CIRCL_USER, Secret(password), **kwargs)


async def test_circl_lookup_of_an_ip_keeps_rows_about_it(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    source = closing(_circl(http_sources))
    records = await source.lookup("98.126.38.107", IP)
    # String numbers and an rdata list are read; the list's other IP and an unrelated
    # row are dropped; the two lines that are not COF objects are skipped.
    assert records == [
        PassiveDnsRecord("evil-example.com", "A", "98.126.38.107", JAN, FEB, "circl"),
        PassiveDnsRecord("cdn.evil-example.com", "A", "98.126.38.107", FEB, MAR, "circl"),
    ]
    assert "skipped 2 unreadable COF lines" in caplog.text
    (request,) = http_sources.requests_for("circl")
    assert request.path == "/circl/pdns/query/98.126.38.107"
    assert request.headers["authorization"].startswith("Basic ")


async def test_circl_lookup_of_a_domain_matches_rrname_or_rdata(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(_circl(http_sources))
    records = await source.lookup("evil-example.com", DOMAIN)
    assert records == [
        PassiveDnsRecord("evil-example.com", "NS", "ns1.bad-dns.net", JAN, MAR, "circl"),
        PassiveDnsRecord("www.evil-example.com", "CNAME", "evil-example.com", FEB, MAR, "circl"),
    ]


async def test_circl_empty_reply_is_no_data(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(_circl(http_sources))
    assert await source.lookup("192.0.2.200", IP) == []


async def test_circl_wrong_password_is_permanent_and_never_shown(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "circl-wrong-password-31337"
    source = closing(_circl(http_sources, password=wrong))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.transient is False
    assert error.message == "credentials refused (HTTP 401): check user and password"
    for text in (str(error), repr(error), repr(source), caplog.text):
        assert wrong not in text
        assert CIRCL_PASSWORD not in text


async def test_circl_reply_of_only_bad_lines_is_an_error(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.inject(
        "circl", "body", body="<html>\nService Unavailable\n</html>\n", content_type="text/html"
    )
    source = closing(_circl(http_sources))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.message == "reply is not COF NDJSON (3 unreadable lines)"


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("500", "HTTP 500"),
        ("429", "HTTP 429"),
        ("malformed", "not COF NDJSON"),
        ("hang", f"no answer within {HANG_TIMEOUT:g}s"),
        ("404", "HTTP 404"),
    ],
)
async def test_circl_failures_become_source_errors(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], fault: str, says: str
) -> None:
    http_sources.inject("circl", fault)
    source = closing(_circl(http_sources, timeout=_timeout_for(fault)))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.source == "circl" and says in error.message


# -- VirusTotal ------------------------------------------------------------------------


def _vt(http_sources: FakeHttpSources, key: str = VIRUSTOTAL_KEY, **kwargs: Any) -> VirusTotalPassiveDns:
    return VirusTotalPassiveDns(http_sources.url("virustotal"), Secret(key), **kwargs)


async def test_virustotal_lookup_of_an_ip(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(_vt(http_sources))
    records = await source.lookup("98.126.38.107", IP)
    assert records == [
        PassiveDnsRecord("evil-example.com", "A", "98.126.38.107", None, MAR, "virustotal"),
        PassiveDnsRecord("login.evil-example.com", "A", "98.126.38.107", None, FEB, "virustotal"),
    ]
    (request,) = http_sources.requests_for("virustotal")
    assert request.path == "/virustotal/api/v3/ip_addresses/98.126.38.107/resolutions"
    assert request.query == {"limit": "40"}
    assert request.headers["x-apikey"] == VIRUSTOTAL_KEY


async def test_virustotal_lookup_of_a_domain(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(_vt(http_sources))
    records = await source.lookup("evil-example.com", DOMAIN)
    assert [(r.rrname, r.rrtype, r.rdata) for r in records] == [
        ("evil-example.com", "A", "98.126.38.107"),
        ("evil-example.com", "AAAA", "2001:db8::1"),
    ]
    assert (
        http_sources.requests_for("virustotal")[0].path
        == "/virustotal/api/v3/domains/evil-example.com/resolutions"
    )


async def test_virustotal_follows_the_cursor_up_to_max_pages(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.virustotal_resolutions["98.126.38.107"] *= 2  # four rows
    source = closing(_vt(http_sources, page_size=1, max_pages=3))
    records = await source.lookup("98.126.38.107", IP)
    assert [r.rrname for r in records] == ["evil-example.com", "login.evil-example.com", "evil-example.com"]
    assert [r.query.get("cursor") for r in http_sources.requests_for("virustotal")] == [None, "1", "2"]


async def test_virustotal_unknown_indicator_is_no_data(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(_vt(http_sources))
    assert await source.lookup("never-seen.test", DOMAIN) == []


async def test_virustotal_wrong_key_is_permanent_and_never_shown(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "vt-wrong-key-31337"
    source = closing(_vt(http_sources, key=wrong))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.transient is False and "HTTP 401" in error.message
    for text in (str(error), repr(error), repr(source), caplog.text):
        assert wrong not in text


async def test_virustotal_without_a_key_sends_nothing(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    source = closing(_vt(http_sources, key=""))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert (error.message, error.transient) == ("no API key configured", False)
    assert http_sources.requests_for("virustotal") == []


async def test_virustotal_rate_limit_fails_fast_past_the_burst(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    clock = FakeClock()
    source = closing(_vt(http_sources, max_wait=0, clock=clock, sleep=clock.sleep))
    results = await asyncio.gather(
        *(source.lookup("98.126.38.107", IP) for _ in range(6)), return_exceptions=True
    )
    errors = [result for result in results if isinstance(result, SourceError)]
    assert len(errors) == 2
    assert all(error.message.startswith("quota") and error.transient for error in errors)
    assert len(http_sources.requests_for("virustotal")) == 4  # the public tier's 4 a minute


async def test_virustotal_rate_limit_queues_within_max_wait(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    clock = FakeClock()
    source = closing(_vt(http_sources, burst=1, max_wait=60, clock=clock, sleep=clock.sleep))
    for _ in range(3):
        assert len(await source.lookup("98.126.38.107", IP)) == 2
    assert clock.sleeps == [pytest.approx(15), pytest.approx(15)]  # one request per 15 s
    assert len(http_sources.requests_for("virustotal")) == 3


@pytest.mark.parametrize(("fault", "says"), FAULTS)
async def test_virustotal_failures_become_source_errors(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], fault: str, says: str
) -> None:
    http_sources.inject("virustotal", fault)
    source = closing(_vt(http_sources, timeout=_timeout_for(fault)))
    error = await _source_error(source.lookup("98.126.38.107", IP))
    assert error.source == "virustotal" and says in error.message


# -- crt.sh: certificates and subdomains -----------------------------------------------

EXPECTED_CERTIFICATES = frozenset(
    {
        Fact(
            "certificate",
            "R3 serial 04a1b2c3d4e5f6 (2024-01-01..2024-03-31) names: *.evil-example.com, evil-example.com",
        ),
        Fact(
            "certificate",
            "WR1 serial 0a0b0c (2024-02-10..2024-05-10) names: login.evil-example.com, mail.evil-example.com",
        ),
        Fact("certificate", "R3 serial ff01 (2024-03-01..2024-05-30) names: *.api.evil-example.com"),
    }
)
EXPECTED_SUBDOMAINS = frozenset(
    Fact("subdomain", name)
    for name in ("api.evil-example.com", "login.evil-example.com", "mail.evil-example.com")
)


async def test_crtsh_query_reaches_the_server_as_a_percent_escape(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    crtsh = closing(CrtShClient(http_sources.url("crtsh")))
    await crtsh.certificates("evil-example.com")
    (request,) = http_sources.requests_for("crtsh")
    assert request.path == "/crtsh/"
    assert request.raw_query == "q=%25.evil-example.com&output=json&exclude=expired"
    assert request.query["q"] == "%.evil-example.com"


async def test_certificates_of_a_domain_dedupe_precert_and_cert(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    dataset = CertificatesDataset(closing(CrtShClient(http_sources.url("crtsh"))), None)
    observation = await dataset.collect("evil-example.com", DOMAIN)
    assert observation.reads == (SourceRead.of("crtsh", {"certificate"}, EXPECTED_CERTIFICATES),)
    assert replace(observation, reads=()) == Observation("certificates", EXPECTED_CERTIFICATES, frozenset())
    assert {fact.source for fact in observation.facts} == {"crtsh"}


async def test_subdomains_of_a_domain_are_names_strictly_under_it(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    dataset = SubdomainsDataset(closing(CrtShClient(http_sources.url("crtsh"))))
    observation = await dataset.collect("evil-example.com", DOMAIN)
    assert observation.reads == (SourceRead.of("crtsh", {"subdomain"}, EXPECTED_SUBDOMAINS),)
    assert replace(observation, reads=()) == Observation("subdomains", EXPECTED_SUBDOMAINS, frozenset())


async def test_domain_without_certificates_is_empty_and_add_only(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    crtsh = closing(CrtShClient(http_sources.url("crtsh")))
    certificates = await CertificatesDataset(crtsh, None).collect("quiet.test", DOMAIN)
    subdomains = await SubdomainsDataset(crtsh).collect("quiet.test", DOMAIN)
    # CT history drops expired certificates, so absence is never news: nothing is "known".
    assert (certificates.facts, certificates.known_fields, certificates.failed) == (
        frozenset(),
        frozenset(),
        False,
    )
    assert (subdomains.facts, subdomains.known_fields, subdomains.failed) == (frozenset(), frozenset(), False)


async def test_concurrent_datasets_share_one_crtsh_request(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.delays["crtsh"] = 0.05
    crtsh = closing(CrtShClient(http_sources.url("crtsh"), cache_ttl=0))  # no memo: only coalescing
    certificates, subdomains = await asyncio.gather(
        CertificatesDataset(crtsh, None).collect("evil-example.com", DOMAIN),
        SubdomainsDataset(crtsh).collect("Evil-Example.com.", DOMAIN),
    )
    assert certificates.facts == EXPECTED_CERTIFICATES
    assert subdomains.facts == EXPECTED_SUBDOMAINS
    assert len(http_sources.requests_for("crtsh")) == 1
    await crtsh.certificates("evil-example.com")  # done and not memoised: asks again
    assert len(http_sources.requests_for("crtsh")) == 2


async def test_crtsh_reply_is_memoised_for_its_ttl(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    clock = FakeClock()
    crtsh = closing(CrtShClient(http_sources.url("crtsh"), cache_ttl=60, clock=clock))
    await CertificatesDataset(crtsh, None).collect("evil-example.com", DOMAIN)
    clock.advance(59)
    assert (await SubdomainsDataset(crtsh).collect("evil-example.com", DOMAIN)).facts == EXPECTED_SUBDOMAINS
    assert len(http_sources.requests_for("crtsh")) == 1
    clock.advance(2)
    await crtsh.certificates("evil-example.com")
    assert len(http_sources.requests_for("crtsh")) == 2


async def test_crtsh_failure_is_shared_by_concurrent_datasets(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.inject("crtsh", "500")
    crtsh = closing(CrtShClient(http_sources.url("crtsh")))
    certificates, subdomains = await asyncio.gather(
        CertificatesDataset(crtsh, None).collect("evil-example.com", DOMAIN),
        SubdomainsDataset(crtsh).collect("evil-example.com", DOMAIN),
    )
    assert certificates.failures == (SourceFailure("crtsh", "HTTP 500", frozenset({"certificate"})),)
    assert subdomains.failures == (SourceFailure("crtsh", "HTTP 500", frozenset({"subdomain"})),)
    assert len(http_sources.requests_for("crtsh")) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_request(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    http_sources.delays["crtsh"] = 0.1
    crtsh = closing(CrtShClient(http_sources.url("crtsh")))
    impatient = asyncio.create_task(crtsh.certificates("evil-example.com"))
    patient = asyncio.create_task(crtsh.certificates("evil-example.com"))
    await asyncio.sleep(0.02)
    impatient.cancel()
    result = await patient
    assert len(result.certificates) == 3
    assert impatient.cancelled()
    assert len(http_sources.requests_for("crtsh")) == 1


@pytest.mark.parametrize(
    ("fault", "says"),
    [*FAULTS, ("body", "reply is not a JSON array of certificates")],
)
async def test_crtsh_failures_keep_both_datasets_unknown(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], fault: str, says: str
) -> None:
    http_sources.inject("crtsh", fault, body='{"error": "too many results"}')
    crtsh = closing(CrtShClient(http_sources.url("crtsh"), timeout=_timeout_for(fault)))
    for dataset in (CertificatesDataset(crtsh, None), SubdomainsDataset(crtsh)):
        observation = await dataset.collect("evil-example.com", DOMAIN)
        assert observation.facts == frozenset()
        assert observation.known_fields == frozenset()
        assert observation.failed
        (failure,) = observation.failures
        assert failure.source == "crtsh" and says in failure.message


# -- certificates of an IP: the opt-in TLS probe ---------------------------------------


class FakeTlsProbe:
    def __init__(self, result: list[Fact] | SourceError | None = None) -> None:
        self.result = result
        self.asked: list[str] = []

    async def certificate_facts(self, ip: str) -> list[Fact]:
        self.asked.append(ip)
        if isinstance(self.result, SourceError):
            raise self.result
        if self.result is None:
            await asyncio.sleep(10)
            return []
        return self.result


async def test_certificates_of_an_ip_need_the_probe(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    crtsh = closing(CrtShClient(http_sources.url("crtsh")))
    assert not CertificatesDataset(crtsh, None).applies_to(IP)
    assert CertificatesDataset(crtsh, None).applies_to(DOMAIN)
    assert CertificatesDataset(crtsh, FakeTlsProbe([])).applies_to(IP)


async def test_certificates_of_an_ip_come_from_the_probe(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    served = [
        Fact("tls_subject", "CN=evil-example.com", "tls"),
        Fact("tls_issuer", "CN=R3,O=Let's Encrypt,C=US", "tls"),
        Fact("tls_fingerprint", "ab" * 32, "tls"),
    ]
    probe = FakeTlsProbe(served)
    dataset = CertificatesDataset(closing(CrtShClient(http_sources.url("crtsh"))), probe)
    observation = await dataset.collect("98.126.38.107", IP)
    # tls_san is known too: a certificate without SANs now means the old SANs went away.
    assert [read.source for read in observation.reads] == ["tls"]
    assert replace(observation, reads=()) == Observation(
        "certificates",
        frozenset(served),
        frozenset({"tls_subject", "tls_issuer", "tls_fingerprint", "tls_san"}),
        single_valued=frozenset({"tls_subject", "tls_issuer", "tls_fingerprint"}),
    )
    assert probe.asked == ["98.126.38.107"]
    assert http_sources.requests_for("crtsh") == []


@pytest.mark.parametrize(
    ("probe", "failure"),
    [
        (FakeTlsProbe(SourceError("tls", "handshake failed")), SourceFailure("tls", "handshake failed")),
        (FakeTlsProbe(None), SourceFailure("tls", "no certificate within 0.1s")),
    ],
)
async def test_certificates_of_an_ip_probe_failure_is_an_observation_failure(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], probe: FakeTlsProbe, failure: SourceFailure
) -> None:
    dataset = CertificatesDataset(closing(CrtShClient(http_sources.url("crtsh"))), probe, probe_timeout=0.1)
    observation = await dataset.collect("98.126.38.107", IP)
    assert observation.failed and observation.known_fields == frozenset()
    (got,) = observation.failures
    assert (got.source, got.message) == (failure.source, failure.message)
    assert got.fields == {"tls_subject", "tls_issuer", "tls_fingerprint", "tls_san"}


# -- InternetDB: services --------------------------------------------------------------


async def test_services_of_an_ip(http_sources: FakeHttpSources, closing: Callable[[Any], Any]) -> None:
    dataset = ServicesDataset(closing(InternetDbClient(http_sources.url("internetdb"))))
    observation = await dataset.collect("98.126.38.107", IP)
    assert observation.facts == {
        Fact("port", "22"),
        Fact("port", "80"),
        Fact("port", "443"),
        Fact("hostname", "evil-example.com"),
        Fact("cpe", "cpe:/a:nginx:nginx"),
        Fact("cpe", "cpe:/o:canonical:ubuntu_linux"),
        Fact("tag", "self-signed"),
        Fact("vuln", "CVE-2023-44487"),
    }
    assert observation.known_fields == {"port", "hostname", "cpe", "tag", "vuln"}
    assert not observation.failures
    (request,) = http_sources.requests_for("internetdb")
    assert request.path == "/internetdb/98.126.38.107"
    assert dataset.applies_to(IP) and not dataset.applies_to(DOMAIN)


async def test_services_no_information_keeps_the_last_state(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any]
) -> None:
    dataset = ServicesDataset(closing(InternetDbClient(http_sources.url("internetdb"))))
    observation = await dataset.collect("192.0.2.200", IP)
    assert observation.facts == frozenset() and observation.known_fields == frozenset()
    assert [(f.source, f.message) for f in observation.failures] == [
        ("internetdb", "no information available")
    ]
    # What the diff makes of it: nothing removed, the open port stays open.
    now = datetime(2024, 3, 2, tzinfo=UTC)
    previous = {("port", "443"): FactState("port", "443", "internetdb", JAN)}
    result = diff_observation(previous, observation, now=now, previous_check_at=MAR)
    assert result.changes == [] and result.state == previous


@pytest.mark.parametrize(
    ("fault", "says"),
    [*FAULTS, ("body", "reply is not an InternetDB host")],
)
async def test_services_failures_keep_every_field_unknown(
    http_sources: FakeHttpSources, closing: Callable[[Any], Any], fault: str, says: str
) -> None:
    http_sources.inject("internetdb", fault, body='{"ip": "98.126.38.107"}')
    dataset = ServicesDataset(
        closing(InternetDbClient(http_sources.url("internetdb"), timeout=_timeout_for(fault)))
    )
    observation = await dataset.collect("98.126.38.107", IP)
    assert observation.facts == frozenset() and observation.known_fields == frozenset()
    (failure,) = observation.failures
    assert failure.source == "internetdb" and says in failure.message
    assert failure.fields == {"port", "hostname", "cpe", "tag", "vuln"}
