"""The Certificate Transparency settings: the published list by default, empty = off."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.core.errors import ConfigError


def test_ct_settings_default_to_the_published_list_every_minute() -> None:
    settings = Settings.from_env({})
    assert settings.ct_log_list_url == "https://www.gstatic.com/ct/log_list/v3/log_list.json"
    assert settings.ct_poll_seconds == 60


def test_ct_settings_empty_list_url_turns_the_reader_off() -> None:
    settings = Settings.from_env({"WATCHPOST_CT_LOG_LIST_URL": " ", "WATCHPOST_CT_POLL_SECONDS": "15"})
    assert settings.ct_log_list_url == "" and settings.ct_poll_seconds == 15


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WATCHPOST_CT_LOG_LIST_URL": "ftp://logs.example/list.json"}, "WATCHPOST_CT_LOG_LIST_URL"),
        ({"WATCHPOST_CT_POLL_SECONDS": "0"}, "WATCHPOST_CT_POLL_SECONDS must be at least 1"),
        ({"WATCHPOST_CT_POLL_SECONDS": "soon"}, "WATCHPOST_CT_POLL_SECONDS must be a whole number"),
    ],
)
def test_ct_settings_refuse_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_ct_list_url_password_is_masked() -> None:
    settings = Settings.from_env({"WATCHPOST_CT_LOG_LIST_URL": "https://ops:hunter22@lists.example/ct.json"})
    assert "hunter22" not in settings.describe()["ct_log_list_url"]
    assert "hunter22" in settings.secrets()


def test_certstream_url_is_off_by_default_and_must_be_a_websocket_url() -> None:
    assert Settings.from_env({}).certstream_url == ""
    stream = Settings.from_env({"WATCHPOST_CERTSTREAM_URL": " wss://certstream.example/ "})
    assert stream.certstream_url == "wss://certstream.example/"
    with pytest.raises(ConfigError, match="WATCHPOST_CERTSTREAM_URL must be a ws:// or wss:// URL"):
        Settings.from_env({"WATCHPOST_CERTSTREAM_URL": "https://certstream.example/"})
