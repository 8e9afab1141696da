"""The v3 log list: which logs are read, under which identity, and which URLs are refused."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from bot.core.errors import SourceError
from bot.watches.ct.log_list import parse_log_list, url_allowed

KEY = b"0Y0\x13\x06\x07*\x86H\xce=\x02\x01" + bytes(66)  # shape only: the list parser never loads it
KEY_B64 = base64.b64encode(KEY).decode()
LOG_ID = base64.b64encode(hashlib.sha256(KEY).digest()).decode()
LIST_URL = "https://www.gstatic.com/ct/log_list/v3/log_list.json"


def log(url: str, state: str = "usable", **extra: Any) -> dict[str, Any]:
    return {"description": url, "url": url, "key": KEY_B64, "log_id": LOG_ID, "state": {state: {}}, **extra}


def tiled(monitoring: str, submission: str, state: str = "usable") -> dict[str, Any]:
    return {
        "key": KEY_B64,
        "log_id": LOG_ID,
        "monitoring_url": monitoring,
        "submission_url": submission,
        "state": {state: {"timestamp": "2026-01-01T00:00:00Z"}},
    }


def test_usable_and_qualified_logs_of_both_apis_are_read() -> None:
    document = {
        "operators": [
            {
                "logs": [
                    log("https://ct.example/logs/a2026h1"),
                    log("https://ct.example/logs/b/", "qualified"),
                    log("https://ct.example/logs/old/", "retired"),
                    log("https://ct.example/logs/ro/", "readonly"),
                ],
                "tiled_logs": [tiled("https://oak-mon.example/2026h1/", "https://oak.example/2026h1/")],
            }
        ]
    }

    logs = parse_log_list(document, LIST_URL).logs

    assert [(item.identity, item.api, item.state) for item in logs] == [
        ("https://ct.example/logs/a2026h1/", "rfc6962", "usable"),
        ("https://ct.example/logs/b/", "rfc6962", "qualified"),
        ("https://oak-mon.example/2026h1/", "static", "usable"),
    ]
    assert logs[2].origin == "oak.example/2026h1" and logs[0].origin == ""
    assert logs[0].key == KEY and logs[0].log_id == hashlib.sha256(KEY).digest()


def test_bad_entries_are_left_out_with_the_reason() -> None:
    document = {
        "operators": [
            {
                "logs": [
                    log("http://ct.example/plain/"),
                    log("https://10.1.2.3/ct/"),
                    {"url": 5, "state": {"usable": {}}},
                ]
            },
            {"logs": [log("https://ct.example/x/", log_id=base64.b64encode(bytes(32)).decode())]},
            {"logs": [log("https://ct.example/y/", key="%%%")]},
            "not an operator",
        ]
    }

    parsed = parse_log_list(document, LIST_URL)

    assert parsed.logs == ()
    assert len(parsed.problems) == 5
    assert any("log_id is not the SHA-256" in p for p in parsed.problems)
    assert any("key is not base64" in p for p in parsed.problems)


def test_a_log_without_a_key_is_read_unverified() -> None:
    entry = log("https://ct.example/nokey/")
    del entry["key"]
    (parsed,) = parse_log_list({"operators": [{"logs": [entry]}]}, LIST_URL).logs
    assert parsed.key == b"" and parsed.log_id == hashlib.sha256(KEY).digest()


@pytest.mark.parametrize("document", [[], {"operators": "none"}, {"version": "1"}])
def test_not_a_log_list(document: Any) -> None:
    with pytest.raises(SourceError, match="not a v3 log list"):
        parse_log_list(document, LIST_URL)


@pytest.mark.parametrize(
    ("list_url", "url", "allowed"),
    [
        (LIST_URL, "https://ct.googleapis.com/logs/us1/argon2026h1/", True),
        (LIST_URL, "http://ct.googleapis.com/logs/", False),  # plain http to another host
        (LIST_URL, "https://127.0.0.1/ct/", False),
        (LIST_URL, "https://[::1]/ct/", False),
        (LIST_URL, "https://user:pw@ct.example/", False),
        (LIST_URL, "https://ct.example/?q=1", False),
        (LIST_URL, "file:///etc/passwd", False),
        ("http://127.0.0.1:8080/list.json", "http://127.0.0.1:8080/argon/", True),  # loopback tests
        ("http://127.0.0.1:8080/list.json", "http://127.0.0.1:9090/oak/", True),
        ("http://lists.example:8080/list.json", "http://other.example:8080/oak/", False),
        ("http://127.0.0.1:8080/list.json", "https://10.0.0.7/ct/", True),  # an internal list's logs
        ("https://lists.internal.example/ct.json", "https://192.168.1.1/ct/", False),
    ],
)
def test_url_allowed(list_url: str, url: str, allowed: bool) -> None:
    assert url_allowed(list_url, url) is allowed
