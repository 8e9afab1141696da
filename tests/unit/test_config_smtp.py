"""The SMTP half of the operator contract: email off by default, on only when complete."""

from __future__ import annotations

import pytest

from bot.config import Secret, Settings
from bot.core.errors import ConfigError

COMPLETE = {
    "WATCHPOST_SMTP_HOST": "smtp.example.org",
    "WATCHPOST_SMTP_USER": "watchpost",
    "WATCHPOST_SMTP_PASSWORD": "s3cret-smtp",
    "WATCHPOST_DIGEST_EMAIL_FROM": "watchpost@example.org",
    "WATCHPOST_DIGEST_EMAIL_TO": "soc@example.org, intel@example.org",
}


def test_config_email_is_off_by_default() -> None:
    settings = Settings.from_env({})
    assert not settings.digest_email
    assert (settings.smtp_port, settings.smtp_starttls, settings.digest_email_to) == (587, True, ())


def test_config_email_on_with_the_password_masked() -> None:
    settings = Settings.from_env({**COMPLETE, "WATCHPOST_SMTP_PORT": "2525"})
    assert settings.digest_email
    assert settings.digest_email_to == ("soc@example.org", "intel@example.org")
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_user) == (
        "smtp.example.org",
        2525,
        "watchpost",
    )
    assert settings.smtp_password == Secret("s3cret-smtp")
    assert "s3cret-smtp" not in str(settings.describe())
    assert "s3cret-smtp" in settings.secrets()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"WATCHPOST_SMTP_HOST": ""}, "WATCHPOST_SMTP_HOST must be set", id="no host"),
        pytest.param(
            {"WATCHPOST_DIGEST_EMAIL_FROM": ""}, "WATCHPOST_DIGEST_EMAIL_FROM must be set", id="no sender"
        ),
        pytest.param(
            {"WATCHPOST_SMTP_PORT": "smtp"}, "WATCHPOST_SMTP_PORT must be a whole number", id="port text"
        ),
        pytest.param({"WATCHPOST_SMTP_PORT": "0"}, "WATCHPOST_SMTP_PORT must be at least 1", id="port zero"),
        pytest.param(
            {"WATCHPOST_SMTP_PORT": "70000"}, "WATCHPOST_SMTP_PORT must be at most 65535", id="port big"
        ),
        pytest.param(
            {"WATCHPOST_SMTP_STARTTLS": "maybe"}, "WATCHPOST_SMTP_STARTTLS must be on or off", id="tls?"
        ),
        pytest.param(
            {"WATCHPOST_SMTP_STARTTLS": "off"},
            "WATCHPOST_SMTP_STARTTLS is off: refusing",
            id="password in clear",
        ),
        pytest.param(
            {"WATCHPOST_SMTP_USER": ""}, "WATCHPOST_SMTP_PASSWORD is set but WATCHPOST_SMTP_USER", id="user?"
        ),
        pytest.param(
            {"WATCHPOST_DIGEST_EMAIL_TO": "soc@example.org, not-an-address"},
            "WATCHPOST_DIGEST_EMAIL_TO: not an email address: 'not-an-address'",
            id="bad recipient",
        ),
        pytest.param(
            {"WATCHPOST_DIGEST_EMAIL_TO": "soc@example.org\r\nBcc: x@evil.example"},
            "WATCHPOST_DIGEST_EMAIL_TO: not an email address",
            id="header injection",
        ),
        pytest.param(
            {"WATCHPOST_DIGEST_EMAIL_FROM": "Watchpost <w@example.org>"},
            "WATCHPOST_DIGEST_EMAIL_FROM: not an email address",
            id="display name",
        ),
    ],
)
def test_config_email_errors_name_the_variable(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")) as error:
        Settings.from_env({**COMPLETE, **changes})
    assert "s3cret-smtp" not in str(error.value)


def test_config_email_without_login_may_skip_starttls() -> None:
    env = {
        **COMPLETE,
        "WATCHPOST_SMTP_USER": "",
        "WATCHPOST_SMTP_PASSWORD": "",
        "WATCHPOST_SMTP_STARTTLS": "off",
    }
    settings = Settings.from_env(env)
    assert settings.digest_email and not settings.smtp_starttls
