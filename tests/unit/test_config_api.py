"""The API and webhook half of the operator contract: named tokens, webhook URLs per
channel, the secret that signs them; refused when it cannot work, masked when shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, WebhookFormat, explain
from bot.core.errors import ConfigError

SECRET = "whsec-0123456789abcdef"


def test_config_api_tokens_named_or_bare() -> None:
    settings = Settings.from_env({"WATCHPOST_API_TOKENS": "soar=tok-1a2b3c, tok-bare ,c2VjcmV0IQ==, x=y=z"})
    assert [(t.name, t.reveal()) for t in settings.api_tokens] == [
        ("soar", "tok-1a2b3c"),
        ("token2", "tok-bare"),
        ("token3", "c2VjcmV0IQ=="),  # base64 padding is not a name
        ("x", "y=z"),
    ]
    shown = repr(settings) + str(settings.describe())
    assert "tok-1a2b3c" not in shown and "c2VjcmV0IQ==" not in shown and "soar" in shown
    assert {"tok-1a2b3c", "tok-bare", "c2VjcmV0IQ==", "y=z"} <= set(settings.secrets())
    assert settings.api_rate_limit == 600


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WATCHPOST_API_TOKENS": "a=one,a=two"}, "used twice"),
        ({"WATCHPOST_API_RATE_LIMIT": "0"}, "WATCHPOST_API_RATE_LIMIT"),
        ({"WATCHPOST_WEBHOOK_URL": "https://hooks.example.net/x"}, "WATCHPOST_WEBHOOK_SECRET"),
        ({"WATCHPOST_WEBHOOK_URL": "https://h.example.net/x", "WATCHPOST_WEBHOOK_SECRET": "short"}, "16"),
        ({"WATCHPOST_WEBHOOK_URL": "ftp://h.example.net/x", "WATCHPOST_WEBHOOK_SECRET": SECRET}, "http"),
        (
            {"WATCHPOST_WEBHOOK_URL": "https://u:p@h.example.net/", "WATCHPOST_WEBHOOK_SECRET": SECRET},
            "password",
        ),
        (
            {"WATCHPOST_WEBHOOK_URLS": "c123=https://h.example.net/", "WATCHPOST_WEBHOOK_SECRET": SECRET},
            "CHANNEL",
        ),
        ({"WATCHPOST_WEBHOOK_URLS": "https://h.example.net/", "WATCHPOST_WEBHOOK_SECRET": SECRET}, "CHANNEL"),
        (
            {
                "WATCHPOST_WEBHOOK_URLS": "C1X=https://a.example/,C1X=https://b.example/",
                "WATCHPOST_WEBHOOK_SECRET": SECRET,
            },
            "twice",
        ),
    ],
)
def test_config_api_and_webhook_errors_say_what_is_wrong(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named) as raised:
        Settings.from_env(env)
    assert "h.example.net" not in str(raised.value)  # a URL may carry a token: never echoed


def test_config_webhook_urls_are_secrets() -> None:
    settings = Settings.from_env(
        {
            "WATCHPOST_WEBHOOK_URL": "https://soar.example.net/hook?key=k-111",
            "WATCHPOST_WEBHOOK_URLS": "C0INTEL=https://a.example.net/k-222, C0OTHER=http://10.1.2.3:8080/k-333",
            "WATCHPOST_WEBHOOK_SECRET": SECRET,
        }
    )
    assert settings.webhook_url.reveal().endswith("k-111")
    assert [(c, u.reveal()) for c, u in settings.webhook_urls] == [
        ("C0INTEL", "https://a.example.net/k-222"),
        ("C0OTHER", "http://10.1.2.3:8080/k-333"),
    ]
    shown = repr(settings) + str(settings.describe())
    assert not any(secret in shown for secret in ("k-111", "k-222", "k-333", SECRET))
    assert {settings.webhook_url.reveal(), "https://a.example.net/k-222", SECRET} <= set(settings.secrets())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, WebhookFormat.JSON),
        ("", WebhookFormat.JSON),
        ("json", WebhookFormat.JSON),
        (" STIX ", WebhookFormat.STIX),
    ],
)
def test_config_webhook_format_parses(raw: str | None, expected: WebhookFormat) -> None:
    env = {} if raw is None else {"WATCHPOST_WEBHOOK_FORMAT": raw}
    settings = Settings.from_env(env)
    assert settings.webhook_format is expected
    assert settings.describe()["webhook_format"] == expected.value


@pytest.mark.parametrize("raw", ["stix2", "xml", "misp", "application/stix+json"])
def test_config_webhook_format_refuses_anything_else_with_the_choices(raw: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"WATCHPOST_WEBHOOK_FORMAT": raw})
    message = str(refused.value)
    assert "WATCHPOST_WEBHOOK_FORMAT" in message and "json" in message and "stix" in message
    assert repr(raw) in message


def test_config_webhook_format_is_explained(tmp_path: Path) -> None:
    env = {"WATCHPOST_DATA_DIR": str(tmp_path), "WATCHPOST_WEBHOOK_FORMAT": "stix"}
    shown = {v.name: v for v in explain(Settings.from_env(env, cwd=tmp_path), env)}
    assert shown["WATCHPOST_WEBHOOK_FORMAT"][1:3] == ("stix", "environment")
    default = {v.name: v for v in explain(Settings.from_env({}, cwd=tmp_path), {})}
    assert default["WATCHPOST_WEBHOOK_FORMAT"][1:3] == ("json", "default")
