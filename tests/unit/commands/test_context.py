"""What the /monitor use cases share: whose monitors a caller may change, the refusal
naming who may instead, and failures (a command's, a follow-up's) answered as replies."""

from __future__ import annotations

import logging
from typing import cast

import pytest

from bot.commands.context import CommandContext, guarded
from bot.commands.grammar import Command, ListCommand, MuteCommand, RemoveCommand
from bot.core.access import AccessPolicy
from bot.core.errors import NotPermitted, UserInputError
from bot.core.indicators import parse_indicator
from bot.core.message import Message
from bot.core.results import Caller
from bot.storage.db import Database
from tests.fakes.clock import FakeClock

ADMINS = AccessPolicy(frozenset({"U0ADMIN"}))
EVIL = parse_indicator("evil.com")


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (Caller("T1", "C1", "U0BOB"), "U0BOB"),
        (Caller("T1", "C1", "U0ADMIN"), None),
        (Caller("T1", "C1", "api:ci", trusted=True), None),
    ],
)
def test_context_owner_filter_is_the_callers_own_unless_admin_or_trusted(
    caller: Caller, expected: str | None
) -> None:
    assert ADMINS.owner_filter(caller) == expected


def context(access: AccessPolicy) -> CommandContext:
    return CommandContext(cast(Database, None), FakeClock(), access)  # the refusal reads neither


@pytest.mark.parametrize(
    ("command", "access", "expected"),
    [
        (
            RemoveCommand((EVIL,)),
            ADMINS,
            "Only <@U0ALICE>, who added `evil.com` here or a Watchpost admin, can remove it. "
            "Nothing was changed.",
        ),
        (
            MuteCommand(EVIL, "whois", muted=False),
            AccessPolicy(),
            "Only <@U0ALICE>, who added `evil.com` here, can unmute it. Nothing was changed.",
        ),
        (
            ListCommand(),
            AccessPolicy(),
            "Only <@U0ALICE>, who added `evil.com` here, can change it. Nothing was changed.",
        ),
    ],
)
def test_context_not_permitted_names_the_owner_and_the_verb(
    command: Command, access: AccessPolicy, expected: str
) -> None:
    assert context(access).not_permitted(NotPermitted({"evil.com": "U0ALICE"}), command) == expected


def test_context_not_permitted_lists_each_owner_of_several() -> None:
    refused = NotPermitted({"a.com": "U0ALICE", "b.com": "U0CAROL"})
    assert context(AccessPolicy()).not_permitted(refused, MuteCommand(EVIL, "whois", muted=True)) == (
        "Only whoever added a monitor can mute it: `a.com` by <@U0ALICE>, `b.com` by <@U0CAROL>. "
        "Nothing was changed."
    )


async def test_context_guarded_follow_up_answers_its_failures(caplog: pytest.LogCaptureFixture) -> None:
    async def fine() -> list[Message]:
        return [Message("done")]

    async def refused() -> list[Message]:
        raise UserInputError("Nothing to digest today.")

    async def broken() -> list[Message]:
        raise RuntimeError("disk on fire")

    assert [m.text for m in await guarded(fine)()] == ["done"]
    [said] = await guarded(refused)()
    assert "Nothing to digest today." in said.text
    with caplog.at_level(logging.ERROR):
        [apology] = await guarded(broken)()
    assert "Sorry, something went wrong on our side (incident `" in apology.text
    [record] = caplog.records
    assert record.getMessage().startswith("follow-up failed (incident ")
    assert record.getMessage()[-9:-1] in apology.text
