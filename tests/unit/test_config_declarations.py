"""Settings declared once: one `Setting` per variable fills one `Settings` field, and a room
declares its own settings beside its code (the same-ASN stage's flag)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from bot.alerts.pipeline import same_asn
from bot.cli import every_setting
from bot.config import CORE_SETTINGS, RULES, Setting, Settings, declarations, explain
from bot.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_config_declarations_fill_every_field_once_and_name_every_variable_once() -> None:
    table = every_setting()
    filled = [setting.field for setting in table]
    assert sorted(filled) == sorted(f.name for f in dataclasses.fields(Settings))
    assert len({setting.env for setting in table}) == len(table)
    assert all(setting.meaning for setting in table)


def test_config_declarations_a_stage_declares_its_own_setting_beside_its_code() -> None:
    assert [s.env for s in same_asn.SETTINGS] == ["WATCHPOST_SUMMARISE_SAME_ASN"]
    assert "WATCHPOST_SUMMARISE_SAME_ASN" not in (ROOT / "bot" / "config.py").read_text()
    assert every_setting() == (*declarations(), *same_asn.SETTINGS) and declarations() == CORE_SETTINGS
    env = {"WATCHPOST_SUMMARISE_SAME_ASN": "yes"}
    settings = Settings.from_env(env, declared=every_setting())
    assert settings.summarise_same_asn
    shown = {v.name: v for v in explain(settings, env, declared=every_setting())}
    assert shown["WATCHPOST_SUMMARISE_SAME_ASN"][1:3] == ("1", "environment")
    assert "same-ASN summarising on" in settings.summary()[1]


def test_config_declarations_secrets_follow_the_declaration() -> None:
    secret = [s.env for s in every_setting() if s.secret]
    assert {"SLACK_BOT_TOKEN", "DATABASE_URL", "WATCHPOST_API_TOKENS", "WATCHPOST_WEBHOOK_URLS"} <= set(
        secret
    )
    assert "WATCHPOST_PORT" not in secret and "WATCHPOST_SUMMARISE_SAME_ASN" not in secret


def test_config_declarations_blank_counts_as_unset_where_the_default_then_applies() -> None:
    env = {"WATCHPOST_HOST": " ", "WATCHPOST_LOG_LEVEL": "", "WATCHPOST_SMTP_STARTTLS": ""}
    settings = Settings.from_env(env)
    assert (settings.host, settings.log_level, settings.smtp_starttls) == ("127.0.0.1", "INFO", True)
    shown = {v.name: v for v in explain(settings, env)}
    assert shown["WATCHPOST_HOST"][1:3] == ("127.0.0.1", "default")
    # Where blank means something else (off), it is read: the value comes from the environment.
    off = Settings.from_env({"WATCHPOST_MNEMONIC_URL": ""})
    assert off.mnemonic_url == ""
    assert {v.name: v for v in explain(off, {"WATCHPOST_MNEMONIC_URL": ""})}["WATCHPOST_MNEMONIC_URL"][
        2
    ] == "environment"


def test_config_declarations_blank_where_it_is_not_allowed_is_refused() -> None:
    with pytest.raises(ConfigError, match="WATCHPOST_PORT must be a whole number, got ''"):
        Settings.from_env({"WATCHPOST_PORT": " "})


def test_config_declarations_rules_between_settings_are_named_steps() -> None:
    assert [rule.__name__ for rule in RULES] == [
        "smtp_password_needs_a_user",
        "email_digest_needs_a_server_and_sender",
        "smtp_login_needs_starttls",
        "webhooks_need_a_secret",
    ]


def test_config_declarations_no_function_of_the_configuration_over_80_lines() -> None:
    tree = ast.parse((ROOT / "bot" / "config.py").read_text())
    long = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []


_WEBHOOK_SECRET = {"WATCHPOST_WEBHOOK_SECRET": "signing-secret-of-16+"}
# How each secret variable is written with `{s}` (the secret) in it, beside what it needs.
_SECRET_SAMPLES: dict[str, tuple[str, dict[str, str]]] = {
    "DATABASE_URL": ("postgresql://watchpost:{s}@db/watchpost", {}),
    "SLACK_API_URL": ("https://proxy:{s}@slack.example/api/", {}),
    "WATCHPOST_CERTSTREAM_URL": ("wss://reader:{s}@certstream.example/", {}),
    "WATCHPOST_WEBHOOK_URL": ("https://hooks.example/{s}", _WEBHOOK_SECRET),
    "WATCHPOST_WEBHOOK_URLS": ("C0INTEL=https://hooks.example/{s}", _WEBHOOK_SECRET),
    "WATCHPOST_API_TOKENS": ("soar={s}", {}),
    "WATCHPOST_SMTP_PASSWORD": ("{s}", {"WATCHPOST_SMTP_USER": "watchpost"}),
}


@pytest.mark.parametrize("setting", [s for s in every_setting() if s.secret], ids=lambda s: s.env)
def test_config_declarations_every_secret_is_masked_and_scrubbed(setting: Setting) -> None:
    secret = f"zq-{setting.env.lower().replace('_', '-')}-7731"
    default = "https://user:{s}@host.example/" if setting.env.endswith("_URL") else "{s}"
    text, needs = _SECRET_SAMPLES.get(setting.env, (default, {}))
    env = {**needs, setting.env: text.format(s=secret)}
    table = every_setting()
    settings = Settings.from_env(env, declared=table)
    # A repr ends up in tracebacks and logs: it shows what `describe` shows.
    shown = str(settings.describe(table)) + str(explain(settings, env, declared=table)) + repr(settings)
    assert secret not in shown
    assert any(secret in value for value in settings.secrets(table))
