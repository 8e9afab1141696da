"""The MISP part of the operator contract: off by default, the key a secret wherever shown."""

from __future__ import annotations

import pytest

from bot.config import Secret, Settings, explain
from bot.core.errors import ConfigError

KEY = "Zx9misp-automation-key-7d2f4a1b"
ON = {"WATCHPOST_MISP_URL": "https://misp.intel.example.org/", "WATCHPOST_MISP_KEY": KEY}


def test_config_misp_is_off_by_default() -> None:
    settings = Settings.from_env({})
    assert (settings.misp_url, settings.misp_key, settings.misp_verify_tls) == ("", Secret(""), True)
    assert "MISP off" in settings.summary()[1]


def test_config_misp_key_is_masked_wherever_shown() -> None:
    settings = Settings.from_env({**ON, "WATCHPOST_MISP_VERIFY_TLS": "off"})
    assert settings.misp_url == "https://misp.intel.example.org"
    assert settings.misp_key == Secret(KEY) and not settings.misp_verify_tls
    assert KEY in settings.secrets()
    shown = {v.name: v for v in explain(settings, {**ON, "WATCHPOST_MISP_VERIFY_TLS": "off"})}
    assert shown["WATCHPOST_MISP_KEY"].value == "********"
    assert shown["WATCHPOST_MISP_URL"].value == "https://misp.intel.example.org"
    assert shown["WATCHPOST_MISP_VERIFY_TLS"].value == "off"
    assert KEY not in str(settings.describe()) and KEY not in repr(settings)
    assert KEY not in " ".join(settings.summary()) and "MISP on (TLS not verified)" in settings.summary()[1]
    with_password = Settings.from_env({**ON, "WATCHPOST_MISP_URL": "https://u:hunter2pw@misp.example.org"})
    assert "hunter2pw" not in str(with_password.describe()) and "hunter2pw" in with_password.secrets()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"WATCHPOST_MISP_URL": "misp.example.org"}, "WATCHPOST_MISP_URL must be an http"),
        ({"WATCHPOST_MISP_URL": "ftp://misp.example.org"}, "WATCHPOST_MISP_URL must be an http"),
        ({"WATCHPOST_MISP_URL": "https://misp.example.org/?x=1"}, "base URL"),
        ({"WATCHPOST_MISP_KEY": "two words"}, "WATCHPOST_MISP_KEY must be one token"),
        ({"WATCHPOST_MISP_VERIFY_TLS": "maybe"}, "WATCHPOST_MISP_VERIFY_TLS must be on or off"),
    ],
)
def test_config_misp_refuses_what_cannot_work(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env({**ON, **changes})
    assert KEY not in str(caught.value)
