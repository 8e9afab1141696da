"""Replies to imports (bot/imports/messages.py): what is monitored, what was left out and why,
and every item that cannot be read, within Block Kit's limits however big the event."""

from __future__ import annotations

from bot.core.indicators import Indicator
from bot.core.limits import block_kit_violations
from bot.core.observations import IndicatorKind
from bot.core.text import render_text
from bot.imports.messages import build_import_refused_message, build_imported_message
from bot.imports.model import ImportItem, IndicatorImport, ItemOutcome, Source

TAG = "misp:5f8e2d1c-0b6a-4c3e-9f1d-2a7b8c9d0e1f"


def accepted(value: str) -> ImportItem:
    return ImportItem("domain attribute", value, ItemOutcome.ACCEPTED, Indicator(value, IndicatorKind.DOMAIN))


def test_imported_message_names_monitors_tag_left_out_and_the_all_command() -> None:
    imported = IndicatorImport(
        Source.MISP,
        "MISP event 42 (Phishing wave)",
        (
            accepted("login-bank-secure.com"),
            ImportItem(
                "ip-dst attribute", "10.0.0.5", ItemOutcome.LEFT_OUT, reason="a private address (10.0.0.0/8)"
            ),
        ),
        TAG,
        not_for_detection=3,
    )
    text = render_text(
        build_imported_message(imported, [("login-bank-secure.com", True)], again="/monitor misp 42 all")
    )
    assert "MISP event 42 (Phishing wave): now monitoring `login-bank-secure.com` in this channel." in text
    assert f"Tagged `{TAG}`" in text and "Left out (1):" in text
    assert "• `10.0.0.5`: a private address (10.0.0.0/8)" in text
    assert "3 domain, IP or URL attributes not marked for detection (`to_ids`) were not read" in text
    assert "`/monitor misp 42 all` reads them too" in text


def test_import_messages_stay_within_block_kit_limits_for_a_big_event() -> None:
    items = [accepted(f"host{n}.evil-infra-{n % 7}.com") for n in range(1000)]
    items += [
        ImportItem("url attribute", f"http://10.0.{n}.1/x", ItemOutcome.LEFT_OUT, reason="a private address")
        for n in range(250)
    ]
    imported = IndicatorImport(Source.MISP, "MISP event 7", tuple(items), TAG)
    message = build_imported_message(imported, [(i.value, True) for i in imported.indicators])
    assert block_kit_violations(message) == []
    assert "…and 210 more" in render_text(message)
    errors = tuple(
        ImportItem(
            f"domain attribute {n}", f"bad{n}[.]com", ItemOutcome.ERROR, reason="`x` is written defanged"
        )
        for n in range(300)
    )
    refused = build_import_refused_message(IndicatorImport(Source.MISP, "MISP event 7", errors, TAG))
    assert block_kit_violations(refused) == []
    assert "300 items of MISP event 7 cannot be read, so nothing was monitored" in render_text(refused)
