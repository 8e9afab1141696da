"""Command replies: history within limits, who muted what, five response_url posts at most."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.commands.messages.replies import build_history_message, build_muted_message, fit_responses
from bot.core.limits import block_kit_violations
from bot.core.message import Message, section
from tests.unit.samples import NOW, added, raw_controls


def test_history_lists_newest_first_within_limits() -> None:
    records = [(NOW - timedelta(hours=i), added("domain", f"h{i}.evil.com")) for i in range(500)]
    message = build_history_message("98.126.38.107", records, day=None, dataset=None, limited=True)
    assert block_kit_violations(message) == []
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert text.index("h0.evil.com") < text.index("h1.evil.com")
    assert "…and 460 older changes" in text and "narrow it" in text


def test_mute_message_names_the_user_only_if_it_is_an_id() -> None:
    assert "<@U0ANALYST>" in json.dumps(
        build_muted_message("a.com", "whois", muted=True, user_id="U0ANALYST").blocks
    )
    assert raw_controls(build_muted_message("a.com", "whois", muted=False, user_id="<!everyone>")) == []


def test_fit_responses_keeps_response_url_to_five_posts() -> None:
    messages = [Message(f"baseline {i}", [section(f"b{i}.{n}") for n in range(12)]) for i in range(50)]
    fitted = fit_responses(messages, 4)
    assert len(fitted) == 4 and fitted[:3] == messages[:3]
    assert block_kit_violations(fitted[3]) == []
    assert "…and 43 more" in json.dumps(fitted[3].blocks, ensure_ascii=False)
    assert fit_responses(messages[:2], 4) == messages[:2]
