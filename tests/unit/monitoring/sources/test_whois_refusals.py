"""WHOIS that knows a refusal from an answer: throttling and service notices are errors, in
the registries' languages; parsing is bounded in time; older layouts, dates and name
servers are read as each registry writes them."""

from __future__ import annotations

import time
from datetime import date

import pytest

from bot.core.errors import SourceRefused
from bot.monitoring.sources.whois import parse_whois
from bot.monitoring.sources.whois_library import LibraryParser
from bot.monitoring.sources.whois_text import LATEST_EXPIRY, own_record, read_date, refusal_notice
from tests.fakes.whois_corpus import by_field, load_cases

CASES = {case.name: case for case in load_cases()}
NOT_REGISTERED = {"status": ["not registered"]}

# -- refusals -------------------------------------------------------------------------------

REFUSALS = [
    "%% Too many requests...",  # AFNIC
    "Your connection limit exceeded. Please slow down and try again later.",  # CZ.NIC
    "% Error: 55000000002 Connection refused; access control limit reached.",  # DENIC
    "query_status: 440 Request Denied",
    "% Query rate limit exceeded. Reduced information.",  # registro.br
    "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS",
    "# Too many connections.",
    "You have exceeded your daily query quota.",
    "The WHOIS server is temporarily unavailable, please retry later.",
    "Service under maintenance.",
    "Your IP address has been blocked.",
    "%% Trop de requêtes, veuillez réessayer plus tard.",
    "%% Limite de requêtes atteinte.",
    "% Zu viele Anfragen. Bitte versuchen Sie es später erneut.",
    "% Abfragelimit überschritten.",
    "Demasiadas consultas. Inténtelo de nuevo más tarde.",
    "Límite de consultas excedido.",
    "Troppe richieste: riprovare più tardi.",
    "Limite di interrogazioni superato.",
    "% Muitas consultas. Tente novamente mais tarde.",
    "Příliš mnoho dotazů, zkuste to prosím později.",
    "Prekročený limit dotazov, skúste to neskôr.",
    "Przekroczono limit zapytań. Spróbuj ponownie później.",
    "Превышен лимит запросов. Повторите попытку позже.",
    "Слишком много запросов",
    "アクセス数が制限を超えました。しばらくしてから再度お試しください。",
    "查询过于频繁，请稍后再试。",
    "查詢過於頻繁，請稍後再試。",
    "조회 한도를 초과하였습니다. 잠시 후 다시 시도하십시오.",
]


@pytest.mark.parametrize("notice", REFUSALS)
def test_refusal_followed_by_no_entries_is_a_refusal_not_a_verdict(notice: str) -> None:
    # AFNIC's shape: the notice, then the "no such domain" line it also prints.
    reply = f"%% This is the registry's WHOIS server.\n\n{notice}\n\n%% No entries found.\n"
    with pytest.raises(SourceRefused, match="refused the query") as raised:
        parse_whois("busy-shop.example", reply, "whois.registry.example")
    assert raised.value.transient
    assert "whois.registry.example" in raised.value.message


def test_a_throttled_reply_with_fields_left_out_is_a_refusal() -> None:
    # registro.br still answers when throttled, without the fields it withholds: reading it
    # as the record would report them removed.
    reply = (
        "% Query rate limit exceeded. Reduced information.\n\ndomain:      rio-acai.com.br\n"
        "nserver:     ns1.carioca-dns.example\nnserver:     ns2.carioca-dns.example\n"
        "created:     20100315 #6123456\nexpires:     20270315\n"
    )
    with pytest.raises(SourceRefused, match="Reduced information"):
        parse_whois("rio-acai.com.br", reply, "whois.registro.br")


@pytest.mark.parametrize("tld", ["fr", "re", "pm", "tf", "wf", "yt"])
def test_afnic_throttling_is_a_refusal_on_each_afnic_tld(tld: str) -> None:
    reply = CASES["fr.throttled.unreadable.txt"].text
    with pytest.raises(SourceRefused):
        parse_whois(f"paris-croissant.{tld}", reply, "whois.nic.fr")


@pytest.mark.parametrize(
    "boilerplate",
    [
        # Nominet's footer: it names the limits, nobody exceeded them.
        "restrictions on: (A) use of the data for advertising (C) exceeding query rate or volume\nlimits.",
        "enable high volume, automated, electronic processes that apply to the registry",
        "Access to the WHOIS database may be restricted or limited at any time.",
        "The registrar is responsible for maintenance of the records.",
    ],
)
def test_boilerplate_that_mentions_limits_is_no_refusal(boilerplate: str) -> None:
    assert refusal_notice(boilerplate) is None
    reply = f'No match for "FREE-ZZ91.EXAMPLE".\n{boilerplate}\n'
    assert by_field(parse_whois("free-zz91.example", reply)) == NOT_REGISTERED


def test_no_answer_in_the_table_carries_a_refusal_notice() -> None:
    # Registered and free replies of 130 registries, footers and all: none reads as refused.
    carrying = [name for name, case in CASES.items() if refusal_notice(case.text) and not case.refusal]
    assert carrying == []


def test_a_full_record_with_a_notice_is_still_the_record() -> None:
    # A record that also says "try again later" somewhere is data, not a refusal.
    case = CASES["de.registered.txt"]
    facts = by_field(parse_whois(case.domain, case.text + "% If this fails, try again later.\n"))
    assert facts == case.expected()


# -- bounded parsing ------------------------------------------------------------------------


def jp_reply(padded_lines: int) -> str:
    """A JPRS reply whose contact block has `padded_lines` empty, padded values and no
    [Email] line: python-whois's .jp patterns take about 20 times longer per line."""
    padded = "".join(f"[Note {i}]" + " " * 24 + "\n" for i in range(padded_lines))
    return (
        "Domain Information:\n[Domain Name]                   KOMOREBI-SOBA.JP\n\n"
        "[Registrant]                    Komorebi Soba K.K.\n\n[Name Server]                   \n"
        "[Created on]                    2011/04/01\n[Expires on]                    2026/04/30\n"
        "[Status]                        Suspended\n\nContact Information:\n" + padded
    )


def test_a_jp_reply_crafted_to_backtrack_is_answered_in_time() -> None:
    # 12 padded lines: python-whois alone would run for days (6 lines took 100 s).
    started = time.monotonic()
    facts = by_field(parse_whois("komorebi-soba.jp", jp_reply(12), "whois.jprs.jp"))
    assert time.monotonic() - started < 10
    assert facts["expiration_date"] == ["2026-04-30"]


def test_a_runaway_library_parse_is_killed_at_its_deadline() -> None:
    # python-whois's .it parser on 9,000 "Registrant" lines runs for minutes.
    library = LibraryParser(deadline=0.5)
    try:
        reply = "Domain: roma-supplì.it\n" + "Registrant\n" * 9000 + "Expire Date: 2027-01-01\n"
        started = time.monotonic()
        facts = by_field(parse_whois("roma-suppli.it", reply, "whois.nic.it", library=library))
        assert time.monotonic() - started < 10
        assert library.killed == 1
        assert facts["expiration_date"] == ["2027-01-01"]  # the generic reader still read it
        # The next reply gets a fresh child and python-whois's reading again.
        case = CASES["it.registered.txt"]
        assert by_field(parse_whois(case.domain, case.text, library=library)) == case.expected()
        assert library.killed == 1
    finally:
        library.close()


# -- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tld", "day"),
    [
        ("04/06/2003", "lu", date(2003, 6, 4)),  # day first on .lu, .im, .sm: 4 June
        ("03/11/2026 00:59:59", "im", date(2026, 11, 3)),
        ("04/06/2003", "sm", date(2003, 6, 4)),
        ("2010-03-05 01:30:00 EAT", "ke", date(2010, 3, 4)),  # EAT is UTC+3
        ("2027-03-05 02:59:59 EAT", "ke", date(2027, 3, 4)),
        ("2020-01-01 00:30:00 WAT", "ng", date(2019, 12, 31)),  # WAT is UTC+1
    ],
)
def test_read_date_by_the_registry_convention(text: str, tld: str, day: date) -> None:
    assert read_date(text, tld) == day


def test_an_expiry_of_2999_is_kept_and_9999_is_not() -> None:
    assert read_date("2999-Dec-31.", "tr", latest=LATEST_EXPIRY) == date(2999, 12, 31)
    assert read_date("9999-12-31", "com", latest=LATEST_EXPIRY) is None
    assert read_date("2999-12-31", "com") is None  # as a creation date it is junk


# -- name servers and records ---------------------------------------------------------------


def test_a_name_server_under_the_domain_is_glue_and_kept() -> None:
    reply = (
        "Domain Name: glue-shop.example\nRegistrar: Example Registrar\n"
        "Name Server: ns1.glue-shop.example\nName Server: glue-shop.example\n"
        "Name Server: www.registrar.example\n"
    )
    assert by_field(parse_whois("glue-shop.example", reply))["name_server"] == ["ns1.glue-shop.example"]


def test_own_record_takes_the_queried_domain_of_several() -> None:
    text = CASES["com.multirecord.registered.txt"].text
    record = own_record(text, "harbour-lights.com")
    assert "MARKMONITOR" in record and "SHADY" not in record and "CHEAP DOMAINS" not in record
    assert own_record(text, "not-in-the-reply.com") == text
    single = CASES["com.registered.txt"].text
    assert own_record(single, CASES["com.registered.txt"].domain) == single
