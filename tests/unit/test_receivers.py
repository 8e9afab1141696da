"""The receivers' pure parts: value kinds, the MISP origin tag, idempotency keys, TheHive's
duplicate rule and alert body, and the receiver settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.alerts.delivery.misp import monitor_tag, new_values, sighting_source
from bot.alerts.delivery.receivers import value_kind
from bot.alerts.delivery.thehive import alert_body, data_type, is_duplicate
from bot.alerts.store.alerts import AlertRecord
from bot.alerts.store.receivers import PendingDelivery, ReceiverRoute, misp_origin
from bot.config import ConfigError, Settings, declarations
from bot.core.observations import Change, ChangeKind, IndicatorKind

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def delivery(receiver: str, channel: str | None = "C0INTEL", *changes: Change) -> PendingDelivery:
    alert = AlertRecord(7, 1, "98.126.38.107", IndicatorKind.IP, "b" * 32, T0, changes=changes)
    return PendingDelivery(1, receiver, alert, "T0WATCH", channel, 0, T0)


def change(field: str, old: str | None, new: str | None) -> Change:
    kind = ChangeKind.ADDED if new is not None else ChangeKind.REMOVED
    return Change("resolutions", kind, field, old, new, "mnemonic")


@pytest.mark.parametrize(
    ("value", "kind", "hive"),
    [
        ("98.126.38.107", "ip", "ip"),
        ("2001:db8::1", "ip", "ip"),
        ("evil-infra.com", "domain", "domain"),
        ("www.interfaxru.com", "domain", "fqdn"),
        ("https://evil-infra.com/login", "url", "url"),
        ("NameCheap, Inc.", "other", "other"),
        ("AS20473", "other", "other"),
    ],
)
def test_receivers_value_kinds(value: str, kind: str, hive: str) -> None:
    assert value_kind(value) == kind and data_type(value) == hive


def test_receivers_misp_origin_is_the_first_misp_tag() -> None:
    assert misp_origin(()) is None
    assert misp_origin(("case:42", "misp:5f3c2a10-0000-4000-8000-000000000001", "misp:other")) == (
        "5f3c2a10-0000-4000-8000-000000000001"
    )
    assert misp_origin(("misp:",)) is None


def test_receivers_idempotency_key_per_alert_channel_and_receiver() -> None:
    keys = {
        delivery(receiver, channel).idempotency_key
        for receiver in ("webhook", "misp", "thehive")
        for channel in ("C0INTEL", "C0OTHER", None)
    }
    assert len(keys) == 9
    assert delivery("webhook").idempotency_key == f"{'b' * 32}-C0INTEL"  # as webhooks always had it
    assert sighting_source(delivery("misp")) == f"watchpost:{'b' * 32}-C0INTEL-misp"
    assert monitor_tag(delivery("misp")) == 'watchpost:monitor="T0WATCH/C0INTEL/98.126.38.107"'


def test_receivers_route_takes_listed_channels_or_all() -> None:
    assert ReceiverRoute("misp", channels=None).takes("C1")
    assert not ReceiverRoute("misp", channels=frozenset({"C2"})).takes("C1")


def test_receivers_misp_new_values_once_without_the_monitored_one() -> None:
    found = list(
        new_values(
            delivery(
                "misp",
                "C0INTEL",
                change("domain", None, "www.interfaxru.com"),
                change("domain", "old.example", None),
                change("domain", None, "www.interfaxru.com"),
                change("registrar", None, "NameCheap, Inc."),
            )
        )
    )
    assert found == [
        ("www.interfaxru.com", "domain", "resolutions domain"),
        ("NameCheap, Inc.", "other", "resolutions registrar"),
    ]


def test_receivers_thehive_alert_body_and_duplicate_rule() -> None:
    body = alert_body(
        delivery(
            "thehive", "C0INTEL", change("domain", None, "www.x.com"), change("domain", "gone.com", None)
        )
    )
    assert body["sourceRef"] == f"{'b' * 32}-C0INTEL-thehive"
    assert body["date"] == int(T0.timestamp() * 1000)
    assert [o["data"] for o in body["observables"]] == ["98.126.38.107", "www.x.com", "gone.com"]
    assert "| resolutions | domain | gone.com |  |" in body["description"]
    duplicate = {
        "type": "CreateError",
        "message": "Alert watchpost:watchpost:x already exist in organisation o",
    }
    assert is_duplicate(400, duplicate)
    assert not is_duplicate(400, {"type": "CreateError", "message": "Observable already exists"})
    assert not is_duplicate(500, duplicate)


def test_receivers_settings_on_when_url_and_key_and_keys_masked() -> None:
    settings = Settings.from_env(
        {
            "WATCHPOST_MISP_URL": "https://127.0.0.1:8443",
            "WATCHPOST_MISP_KEY": "misp-key-123",
            "WATCHPOST_MISP_VERIFY_TLS": "false",
            "WATCHPOST_THEHIVE_URL": "http://localhost:9000",
            "WATCHPOST_THEHIVE_CHANNELS": "C0INTEL, C0CASE",
        }
    )
    assert settings.misp_on and not settings.thehive_on and not settings.misp_verify_tls
    assert settings.thehive_channels == ("C0INTEL", "C0CASE")
    assert "misp-key-123" not in str(settings.describe()) and "misp-key-123" in settings.secrets()
    shown = {d.env: d.shown(settings) for d in declarations()}
    assert shown["WATCHPOST_MISP_KEY"] == "********" and shown["WATCHPOST_MISP_VERIFY_TLS"] == "off"
    assert "receivers MISP" in " ".join(settings.summary())


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"WATCHPOST_MISP_URL": "misp.example.org"}, "WATCHPOST_MISP_URL must be an http"),
        ({"WATCHPOST_THEHIVE_URL": "https://user:pw@hive"}, "must not carry a user name"),
        ({"WATCHPOST_MISP_CHANNELS": "general"}, "not a Slack channel id"),
        ({"WATCHPOST_MISP_VERIFY_TLS": "maybe"}, "on or off"),
    ],
)
def test_receivers_settings_refuse_bad_values(env: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        Settings.from_env(env)
