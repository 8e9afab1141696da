"""The operator contract: parsing, defaults, clear errors, masked secrets."""

from __future__ import annotations

import logging

import pytest

from bot.config import HostPort, Settings
from bot.errors import ConfigError
from bot.logs import SecretScrubber


def test_config_defaults_match_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///watchpost.db"
    assert settings.port == 3000 and settings.check_interval == 3600
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.mnemonic_url == "https://api.mnemonic.no/pdns/v3/" and settings.circl_url == ""
    assert not settings.active_probes and settings.api_tokens == ()


def test_config_parses_every_shape() -> None:
    settings = Settings.from_env(
        {
            "WATCHPOST_DNS_NAMESERVERS": "127.0.0.1:5353, [::1]:53 ,9.9.9.9",
            "WATCHPOST_WHOIS_SERVER": "127.0.0.1:4343",
            "SLACK_API_URL": "http://127.0.0.1:8080/api",
            "WATCHPOST_API_TOKENS": "a-token-1, b-token-2",
            "WATCHPOST_ACTIVE_PROBES": "1",
            "WATCHPOST_DIGEST_TIME": "7:30",
            "WATCHPOST_TIMEZONE": "Europe/Berlin",
            "WATCHPOST_MNEMONIC_URL": "",
        }
    )
    assert settings.dns_nameservers == (
        HostPort("127.0.0.1", 5353),
        HostPort("::1", 53),
        HostPort("9.9.9.9", 53),
    )
    assert settings.whois_server == HostPort("127.0.0.1", 4343)
    assert settings.slack_api_url == "http://127.0.0.1:8080/api/"
    assert [t.reveal() for t in settings.api_tokens] == ["a-token-1", "b-token-2"]
    assert (
        settings.active_probes
        and settings.digest_time.hour == 7
        and str(settings.timezone) == "Europe/Berlin"
    )
    assert settings.mnemonic_url == ""  # an empty URL turns the source off


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WATCHPOST_PORT": "http"}, "WATCHPOST_PORT"),
        ({"WATCHPOST_CHECK_INTERVAL": "0"}, "WATCHPOST_CHECK_INTERVAL"),
        ({"WATCHPOST_DIGEST_TIME": "25:00"}, "WATCHPOST_DIGEST_TIME"),
        ({"WATCHPOST_TIMEZONE": "Mars/Olympus"}, "WATCHPOST_TIMEZONE"),
        ({"WATCHPOST_DNS_NAMESERVERS": "127.0.0.1:99999"}, "WATCHPOST_DNS_NAMESERVERS"),
        ({"WATCHPOST_DNS_TIMEOUT": "soon"}, "WATCHPOST_DNS_TIMEOUT"),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_config_secrets_never_print() -> None:
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-very-secret", "WATCHPOST_MNEMONIC_KEY": "mn-key-123"}
    )
    shown = repr(settings) + str(settings.describe())
    assert "xoxb-very-secret" not in shown and "mn-key-123" not in shown
    assert set(settings.secrets()) >= {"xoxb-very-secret", "mn-key-123"}


def test_log_scrubber_removes_secrets_from_messages_and_tracebacks() -> None:
    scrubber = SecretScrubber(["xoxb-very-secret"])
    try:
        raise RuntimeError("auth failed for xoxb-very-secret")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "token %s", ("xoxb-very-secret",), sys.exc_info()
        )
    scrubber.filter(record)
    assert "xoxb-very-secret" not in record.getMessage()
    assert record.exc_text is not None and "xoxb-very-secret" not in record.exc_text


def test_dns_canary_default_off_and_bad() -> None:
    assert Settings.from_env({}).dns_canary == "example.com"
    named = Settings.from_env({"WATCHPOST_DNS_CANARY": "Canary.Example.ORG."})
    assert named.dns_canary == "canary.example.org"
    assert Settings.from_env({"WATCHPOST_DNS_CANARY": "off"}).dns_canary == ""
    with pytest.raises(ConfigError, match="WATCHPOST_DNS_CANARY"):
        Settings.from_env({"WATCHPOST_DNS_CANARY": "not a name"})


def test_rdap_bootstrap_url_default_and_override() -> None:
    assert Settings.from_env({}).rdap_bootstrap_url == "https://data.iana.org/rdap/"
    assert Settings.from_env({"WATCHPOST_RDAP_BOOTSTRAP_URL": ""}).rdap_bootstrap_url == ""
    local = Settings.from_env({"WATCHPOST_RDAP_BOOTSTRAP_URL": "http://127.0.0.1:8080/rdap/"})
    assert local.rdap_bootstrap_url == "http://127.0.0.1:8080/rdap/"
