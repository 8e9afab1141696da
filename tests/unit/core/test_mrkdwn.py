"""Mentions and channel links only for real ids; anything else shown as code."""

from __future__ import annotations

import pytest

from bot.core.mrkdwn import channel_link, mention


@pytest.mark.parametrize(("value", "shown"), [("U0ANALYST", "<@U0ANALYST>"), ("<!here>", "`&lt;!here&gt;`")])
def test_mention_only_for_user_ids(value: str, shown: str) -> None:
    assert mention(value) == shown
    assert channel_link("C0INTEL") == "<#C0INTEL>" and channel_link("!here") == "`!here`"
