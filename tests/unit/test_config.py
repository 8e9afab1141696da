"""The operator contract: parsing, defaults, clear errors, masked secrets."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.config import HostPort, Settings, explain
from bot.core.errors import ConfigError
from bot.core.logs import SecretScrubber
from bot.core.walls import ShareScope

CONFIG_SOURCE = (Path(__file__).resolve().parents[2] / "bot" / "config.py").read_text()


def test_config_defaults_match_the_contract(tmp_path: Path) -> None:
    settings = Settings.from_env({"WATCHPOST_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'watchpost.db'}"
    assert settings.files_dir == tmp_path / "data" / "files" and settings.host == "127.0.0.1"
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


def test_config_data_location_default_and_a_database_already_here(tmp_path: Path) -> None:
    elsewhere = Settings.from_env({}, cwd=tmp_path)
    assert elsewhere.database_url == f"sqlite:///{elsewhere.data_dir / 'watchpost.db'}"
    assert elsewhere.data_dir.name == "watchpost"  # the user's data folder, e.g. ~/.local/share
    (tmp_path / "watchpost.db").write_bytes(b"")
    here = Settings.from_env({}, cwd=tmp_path)
    assert here.database_url == f"sqlite:///{tmp_path / 'watchpost.db'}"
    explicit = Settings.from_env({"DATABASE_URL": "sqlite:////srv/w.db"}, cwd=tmp_path)
    assert explicit.database_url == "sqlite:////srv/w.db"


def test_config_explain_lists_variables_with_value_source_and_meaning(tmp_path: Path) -> None:
    env = {
        "WATCHPOST_DATA_DIR": str(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-never-shown",
        "DATABASE_URL": "postgresql://watchpost:pg-pass-9@db/watchpost",
        "WATCHPOST_CHECK_INTERVAL": "600",
    }
    settings = Settings.from_env(env, cwd=tmp_path)
    shown = {
        v.name: v for v in explain(settings, env, system_nameservers=lambda: [HostPort("10.0.0.53", 53)])
    }
    assert shown["SLACK_BOT_TOKEN"].value == "********" and shown["SLACK_BOT_TOKEN"].source == "environment"
    assert shown["DATABASE_URL"].value == "postgresql://watchpost:********@db/watchpost"
    assert shown["WATCHPOST_CHECK_INTERVAL"][1:3] == ("600", "environment")
    assert shown["WATCHPOST_DIGEST_TIME"][1:3] == ("09:00", "default")
    assert shown["WATCHPOST_DNS_NAMESERVERS"][1:3] == ("10.0.0.53:53", "derived: /etc/resolv.conf")
    assert shown["WATCHPOST_FILES_DIR"][1:3] == (str(tmp_path / "files"), "derived: WATCHPOST_DATA_DIR")
    assert shown["WATCHPOST_ADMINS"].value == "" and shown["WATCHPOST_WHOIS_SERVER"].value == ""
    assert all(v.meaning for v in shown.values())
    assert "xoxb-never-shown" not in str(shown) and "pg-pass-9" not in str(shown)
    # Every variable the configuration reads is listed.
    read = set(re.findall(r'"((?:WATCHPOST|SLACK)_[A-Z_]+|DATABASE_URL)"', CONFIG_SOURCE))
    assert read <= set(shown), read - set(shown)


def test_config_sources_off_say_why_virustotal_without_a_key_is_off() -> None:
    settings = Settings.from_env({"WATCHPOST_CIRCL_URL": ""})
    off = settings.sources_off()
    assert off["virustotal"] == "no key: WATCHPOST_VIRUSTOTAL_KEY is unset"
    assert off["circl"] == "no URL: WATCHPOST_CIRCL_URL is empty"
    assert "virustotal (no key: WATCHPOST_VIRUSTOTAL_KEY is unset)" in settings.summary()[0]
    keyed = Settings.from_env({"WATCHPOST_VIRUSTOTAL_KEY": "k" * 64})
    assert "virustotal" not in keyed.sources_off() and "virustotal" in keyed.summary()[0].split(";")[0]
    quiet = Settings.from_env({"WATCHPOST_VIRUSTOTAL_KEY": "k" * 64, "WATCHPOST_QUOTAS": "virustotal=0"})
    assert quiet.sources_off()["virustotal"] == "quota 0 in WATCHPOST_QUOTAS"


def test_config_explain_takes_an_empty_nameserver_list_as_unset(tmp_path: Path) -> None:
    """Compose passes `WATCHPOST_DNS_NAMESERVERS=` when it is unset: /etc/resolv.conf is used."""
    env = {"WATCHPOST_DATA_DIR": str(tmp_path), "WATCHPOST_DNS_NAMESERVERS": ""}
    settings = Settings.from_env(env, cwd=tmp_path)
    shown = {
        v.name: v for v in explain(settings, env, system_nameservers=lambda: [HostPort("10.0.0.53", 53)])
    }
    assert shown["WATCHPOST_DNS_NAMESERVERS"][1:3] == ("10.0.0.53:53", "derived: /etc/resolv.conf")


def test_config_command_names_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main(["config"]) == 0
    finally:  # the command sets up logging for a process: give the test run its own back
        root.handlers[:], root.level = handlers, level
    assert f"watchpost: database SQLite {tmp_path / 'team.db'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raw", "scope"),
    [
        (None, ShareScope.CHANNEL),
        ("", ShareScope.CHANNEL),
        (" Workspace ", ShareScope.WORKSPACE),
        ("channel", ShareScope.CHANNEL),
    ],
)
def test_config_share_scope_parses(raw: str | None, scope: ShareScope) -> None:
    env = {} if raw is None else {"WATCHPOST_SHARE_SCOPE": raw}
    assert Settings.from_env(env).share_scope is scope


@pytest.mark.parametrize("raw", ["team", "global", "workspaces", "all"])
def test_config_share_scope_refuses_anything_else_with_the_choices(raw: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"WATCHPOST_SHARE_SCOPE": raw})
    message = str(refused.value)
    assert "WATCHPOST_SHARE_SCOPE" in message and "channel" in message and "workspace" in message
    assert repr(raw) in message


def test_config_share_scope_is_explained(tmp_path: Path) -> None:
    env = {"WATCHPOST_DATA_DIR": str(tmp_path), "WATCHPOST_SHARE_SCOPE": "workspace"}
    shown = {v.name: v for v in explain(Settings.from_env(env, cwd=tmp_path), env)}
    assert shown["WATCHPOST_SHARE_SCOPE"][1:3] == ("workspace", "environment")
    default = {v.name: v for v in explain(Settings.from_env({}, cwd=tmp_path), {})}
    assert default["WATCHPOST_SHARE_SCOPE"][1:3] == ("channel", "default")
