"""Requests into values (pure): the slash command's parser for indicators, strict fields
and parameters, time filters in the team's zone, opaque cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.alerts.messages.payloads import iso
from bot.core.observations import IndicatorKind
from bot.surfaces.api.errors import ApiError
from bot.surfaces.api.payloads import (
    decode_cursor,
    encode_cursor,
    parse_add_request,
    parse_alert_query,
    parse_indicator_list,
    parse_monitor_filter,
)

BERLIN = ZoneInfo("Europe/Berlin")


@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_cursor_round_trips(after: int) -> None:
    assert decode_cursor(encode_cursor(after)) == after


@pytest.mark.parametrize(
    "cursor", ["", "abc", encode_cursor(5) + "x", "YTE6LTE", "YTI6NQ", "%%%", "YTE6" * 9]
)
def test_cursor_refuses_what_it_did_not_give_out(cursor: str) -> None:
    with pytest.raises(ApiError) as raised:
        decode_cursor(cursor)
    assert raised.value.status == 400 and raised.value.code == "invalid_cursor"


def test_indicators_as_a_list_or_as_slash_command_text() -> None:
    as_text = parse_indicator_list("98.126.38[.]107, hxxps://evil[.]com/x\nevil.com;`www.evil.com`")
    assert [i.value for i in as_text] == ["98.126.38.107", "evil.com", "www.evil.com"]
    as_list = parse_indicator_list(["98.126.38[.]107", "hxxps://evil[.]com/x", "EVIL.com"])
    assert [(i.value, i.kind) for i in as_list] == [
        ("98.126.38.107", IndicatorKind.IP),
        ("evil.com", IndicatorKind.DOMAIN),
    ]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ([], "invalid_request"),
        ("  ,, ", "invalid_request"),
        ([1, "evil.com"], "invalid_request"),
        ({"evil.com": 1}, "invalid_request"),
        (["evil.com", "192.168.1.1"], "invalid_indicators"),
        (["evil.com a.example"], "invalid_indicators"),  # one item is one indicator
        ([f"h{n}.example.net" for n in range(1001)], "too_many_indicators"),
    ],
)
def test_indicator_lists_are_refused_whole(value: object, code: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_indicator_list(value)
    assert raised.value.status == 400 and raised.value.code == code


def test_add_request_is_strict_about_its_fields() -> None:
    request = parse_add_request(
        {"channel": "C0INTEL", "indicators": ["evil.com"], "tags": ["apt-x", "apt-x"]}
    )
    assert request.team_id is None and request.tags == ("apt-x",)
    for body in (
        [],
        {"channel": "C0INTEL"},
        {"channel": "c0intel", "indicators": ["evil.com"]},
        {"channel": "C0INTEL", "indicators": ["evil.com"], "tags": ["has space"]},
        {"channel": "C0INTEL", "indicators": ["evil.com"], "tags": [f"t{n}" for n in range(21)]},
        {"channel": "C0INTEL", "indicators": ["evil.com"], "extra": True},
    ):
        with pytest.raises(ApiError) as raised:
            parse_add_request(body)
        assert raised.value.status == 400, body


def test_alert_query_day_is_the_teams_day_and_narrows_since_and_until() -> None:
    query = parse_alert_query({"day": "2026-11-20"}, timezone=BERLIN)
    assert query.start == datetime(2026, 11, 19, 23, tzinfo=UTC) and query.end == datetime(
        2026, 11, 20, 23, tzinfo=UTC
    )
    query = parse_alert_query(
        {"day": "2026-11-20", "since": "2026-11-20T12:00:00+01:00", "until": "2026-11-30T00:00:00Z"},
        timezone=BERLIN,
    )
    assert query.start == datetime(2026, 11, 20, 11, tzinfo=UTC) and query.end == datetime(
        2026, 11, 20, 23, tzinfo=UTC
    )
    query = parse_alert_query(
        {"indicator": "evil[.]com", "dataset": "whois", "channel": "C0INTEL", "limit": "200"}, timezone=UTC
    )
    assert (query.indicator, query.dataset, query.channel_id, query.limit, query.after_id) == (
        "evil.com",
        "whois",
        "C0INTEL",
        200,
        0,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"dataset": "dns"},
        {"limit": "201"},
        {"limit": "-1"},
        {"since": "0001-01-01T00:00:00+01:00"},
        {"day": "9999-12-31"},
        {"day": "20261120"},
        {"chanel": "C0INTEL"},
        {"indicator": "localhost"},
    ],
)
def test_alert_query_refuses_bad_parameters(params: dict[str, str]) -> None:
    with pytest.raises(ApiError) as raised:
        parse_alert_query(params, timezone=BERLIN)
    assert raised.value.status == 400


def test_monitor_filter_and_times() -> None:
    wanted = parse_monitor_filter({"kind": "ip", "tag": "report:2026-11", "indicator": "98.126.38[.]107"})
    assert wanted.kind == IndicatorKind.IP and wanted.indicator == "98.126.38.107"
    with pytest.raises(ApiError):
        parse_monitor_filter({"kind": "url"})
    assert iso(datetime(2026, 11, 20, 10, tzinfo=BERLIN)) == "2026-11-20T09:00:00Z" and iso(None) is None
