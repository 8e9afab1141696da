"""The digest's parent message, thread notes and email text: within Slack's limits
whatever the size of the day, and untrusted text never becomes markup."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from bot.core.limits import block_kit_violations
from bot.core.message import Message
from bot.core.observations import ChangeKind
from bot.core.text import render_text
from bot.digests.build import Digest, build_digest, daily_window, so_far_window
from bot.digests.render import MAX_NOTES, build_digest_email, build_digest_message
from bot.digests.store import ChannelHealth, StaleDataset
from tests.unit.digests.test_build import BERLIN, NINE, change, failure, utc

WINDOW = daily_window(date(2026, 3, 29), NINE, BERLIN)  # the 23-hour day
T = utc(2026, 3, 28, 10)
HOSTILE = "<!channel> <https://evil.example|click> & `tick`"


def everything(message: Message) -> list[Message]:
    return [message, *message.thread_messages]


def raw_text(message: Message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def typical() -> Digest:
    records = [
        change("98.126.38.107", T, field="domain", new="www.interfaxru.com", source="mnemonic"),
        change("98.126.38.107", T + timedelta(hours=1), field="domain", new="mail.interfaxru.com"),
        change(
            "evil.example.com",
            T + timedelta(hours=2),
            dataset="dns_records",
            kind=ChangeKind.CHANGED,
            field="TXT",
            old="v=spf1 -all",
            new=HOSTILE,
        ),
    ]
    failures = [
        failure("98.126.38.107", T, message=HOSTILE),
        failure("98.126.38.107", T + timedelta(hours=5, minutes=30)),
    ]
    return build_digest(records, failures, window=WINDOW, now=WINDOW.end)


def test_digest_message_summarises_the_day() -> None:
    message = build_digest_message(typical())
    assert block_kit_violations(message) == []
    text = render_text(Message(message.text, message.blocks))
    assert "Watchpost digest · Sun 29 Mar 2026" in text
    assert (
        "3 changes on 2 indicators in the 23 hours from Sat 28 Mar 09:00 CET to Sun 29 Mar 09:00 CEST" in text
    )
    assert "resolutions\n2 changes on 1 indicator\n➕ 2  ➖ 0  ✏️ 0" in text
    assert "mnemonic` (resolutions): 2 failed lookups on 1 indicator, 11:00–16:30 (5 h 30 min)" in text
    assert (
        "In the thread: 2 CSV files (one per dataset) and a note per indicator · times in Europe/Berlin"
        in text
    )
    assert message.text == "Watchpost digest 2026-03-29: 3 changes on 2 indicators; 1 source failing"
    (notes,) = message.thread_messages
    assert block_kit_violations(notes) == []
    lines = render_text(notes).splitlines()
    assert lines[0].startswith(
        "• `98.126.38.107` (ip): 2 changes · resolutions ➕2 · ➕ `domain` `www.interfaxru.com`"
    )
    assert lines[0].endswith("· 11:00–12:00")


def test_digest_message_escapes_untrusted_text() -> None:
    digest = build_digest_message(typical())
    for message in everything(digest):
        raw = raw_text(message)
        assert "<!channel>" not in raw and "<https://" not in raw
    # The hostile TXT value is shown, escaped, in the thread's note on its indicator.
    assert any("&lt;!channel&gt;" in raw_text(note) for note in digest.thread_messages)


def test_digest_message_of_a_quiet_day_says_every_source_answered() -> None:
    digest = build_digest([], [], window=WINDOW, now=WINDOW.end)
    message = build_digest_message(digest)
    text = render_text(message)
    assert "No changes in the 23 hours" in text
    assert "Every source answered: no failed lookups in this window." in text
    assert message.thread_messages == [] and block_kit_violations(message) == []


def test_digest_message_so_far_has_its_own_title() -> None:
    now = utc(2026, 3, 29, 12, 15)
    digest = build_digest(
        [change("evil.example.com", now)], [], window=so_far_window(now, NINE, BERLIN), now=now
    )
    text = render_text(build_digest_message(digest))
    assert "Watchpost digest so far · Sun 29 Mar 14:15" in text
    assert "in the 5 h 15 min from Sun 29 Mar 09:00 CEST to Sun 29 Mar 14:15 CEST" in text


@pytest.mark.parametrize("indicators", [1, 60, 3000])
def test_digest_message_stays_within_slack_limits_on_a_huge_day(indicators: int) -> None:
    records = [
        change(
            f"host{n}.{HOSTILE[:9]}evil-{'x' * 40}.example.com",
            T + timedelta(seconds=n),
            dataset=f"dataset{n % 14}",
            field="TXT" * 20,
            new=HOSTILE * 50,
        )
        for n in range(indicators)
        for _ in range(3)
    ]
    failures = [
        failure(f"host{n}.example.com", T, source=f"source{n % 30}", message=HOSTILE * 40) for n in range(200)
    ]
    health = ChannelHealth(
        stale=tuple(StaleDataset(f"host{n}.example.com", "whois", None, HOSTILE) for n in range(100)),
        last_checked=(),
    )
    digest = build_digest(records, failures, window=WINDOW, now=WINDOW.end, health=health)
    message = build_digest_message(digest)
    assert len(message.blocks) <= 12
    for part in everything(message):
        assert block_kit_violations(part) == []
        assert "<!channel>" not in raw_text(part)
    notes = "\n".join(render_text(m) for m in message.thread_messages)
    assert notes.count("\n• ") + notes.startswith("• ") == min(indicators, MAX_NOTES)
    if indicators > MAX_NOTES:
        assert f"…and {indicators - MAX_NOTES:,} more indicators: every change is in the CSV files." in notes
    assert sum(f.rows for f in digest.files) == 3 * indicators


def test_digest_email_is_defanged_plain_text() -> None:
    subject, body = build_digest_email(typical(), "C0CHANNEL")
    assert subject == "Watchpost digest 2026-03-29 for C0CHANNEL: 3 changes on 2 indicators"
    assert "98[.]126[.]38[.]107 (ip): 2 changes; resolutions +2; added domain www[.]interfaxru[.]com" in body
    assert "mnemonic (resolutions): 2 failed lookups on 1 indicator, 11:00–16:30 (5 h 30 min)" in body
    assert "watchpost-2026-03-29-dns_records.csv (1 row)" in body
    assert "www.interfaxru.com" not in body
