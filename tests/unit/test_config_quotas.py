"""WATCHPOST_QUOTAS: the format, the defaults, and start-up refusing a malformed value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import DEFAULT_QUOTAS, QuotaLimit, Settings, parse_quotas
from bot.core.errors import ConfigError


def test_defaults_match_the_public_tiers() -> None:
    quotas = Settings.from_env({}).quotas
    assert quotas["virustotal"] == (QuotaLimit(4, 60.0), QuotaLimit(500, 86400.0))
    assert quotas["mnemonic"] == (QuotaLimit(1000, 86400.0),)
    assert quotas["crtsh"] == (QuotaLimit(60, 60.0),)
    assert "rdap" not in quotas  # no published quota: none client-side
    assert "virustotal=4/minute+500/day" in DEFAULT_QUOTAS


@pytest.mark.parametrize(
    ("raw", "source", "limits"),
    [
        ("mnemonic=100/hour", "mnemonic", (QuotaLimit(100, 3600.0),)),
        ("rdap=10/second+1000/hour", "rdap", (QuotaLimit(10, 1.0), QuotaLimit(1000, 3600.0))),
        (" crtsh = 5 / minute ", "crtsh", (QuotaLimit(5, 60.0),)),
        ("VirusTotal=1000/day", "virustotal", (QuotaLimit(1000, 86400.0),)),
    ],
)
def test_items_override_the_defaults(raw: str, source: str, limits: tuple[QuotaLimit, ...]) -> None:
    quotas = parse_quotas(raw)
    assert quotas[source] == limits
    assert quotas["crtsh" if source != "crtsh" else "mnemonic"]  # the other defaults stay


def test_zero_turns_a_source_off_and_unlimited_lifts_a_default() -> None:
    settings = Settings.from_env({"WATCHPOST_QUOTAS": "crtsh=0,mnemonic=unlimited,virustotal=0/minute"})
    assert not settings.source_enabled("crtsh")
    assert not settings.source_enabled("virustotal")
    assert settings.source_enabled("mnemonic") and "mnemonic" not in settings.quotas
    assert settings.source_enabled("circl")  # never had a quota


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("mnemonic=1000/week", "'1000/week'"),
        ("mnemonic=1000", "'1000'"),
        ("virustotal=4/minute+", "''"),
        ("shodan=1/second", "'shodan=1/second'"),
        ("crtsh", "'crtsh'"),
        ("crtsh=-1/minute", "'-1/minute'"),
        ("crtsh=1.5/minute", "'1.5/minute'"),
    ],
)
def test_a_malformed_item_is_refused_by_name(raw: str, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"WATCHPOST_QUOTAS": raw})
    assert str(refused.value).startswith("WATCHPOST_QUOTAS")
    assert named in str(refused.value)


def test_start_up_stops_on_a_malformed_quota(tmp_path: object) -> None:
    env = {"WATCHPOST_QUOTAS": "mnemonic=1000/day,crtsh=lots", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "configuration error: WATCHPOST_QUOTAS" in done.stderr and "'crtsh=lots'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_quotas_in_effect_are_printed() -> None:
    shown = Settings.from_env({"WATCHPOST_QUOTAS": "crtsh=0"}).describe()["quotas"]
    assert shown == "crtsh=0,mnemonic=1000/day,virustotal=4/minute+500/day"
