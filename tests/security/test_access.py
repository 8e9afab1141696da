"""Who may change a monitor, how many a channel holds, how fast one user may go: the
flows over real storage (SQLite and PostgreSQL), and the pieces on their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from bot.commands.flows import MonitorFlows
from bot.core.access import AccessPolicy
from bot.core.errors import NotPermitted
from bot.core.observations import IndicatorKind, Observation
from bot.core.results import Caller
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from bot.storage.rate_limits import LocalRateLimiter, RateLimit
from tests.fakes.clock import FakeClock
from tests.fakes.conversation import Conversation

ALICE = Caller("T1", "C0PERM", "U0ALICE")
BOB = Caller("T1", "C0PERM", "U0BOB")
ADMIN = Caller("T1", "C0PERM", "U0ADMIN")


class NoData:
    name = "resolutions"

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        return Observation(self.name, frozenset(), frozenset({"A"}))


@pytest_asyncio.fixture
async def flows(store: Database) -> AsyncIterator[MonitorFlows]:
    clock = FakeClock()
    async_store = store
    yield MonitorFlows(
        async_store,
        Runner([NoData()], async_store, clock=clock),
        clock=clock,
        access=AccessPolicy(frozenset({"U0ADMIN"}), channel_quota=3),
    )
    async_store.close()


async def test_only_the_creator_or_an_admin_removes_or_mutes(flows: MonitorFlows, store: Database) -> None:
    alice, bob, admin = (Conversation(flows, caller) for caller in (ALICE, BOB, ADMIN))
    await alice.say("alice-a.com alice-b.com")
    await bob.say("bob-c.com")
    for text in ("remove alice-a.com", "mute alice-a.com whois", "unmute alice-a.com whois"):
        reply = await bob.say(text)
        assert "Only @U0ALICE, who added `alice-a.com` here or a Watchpost admin" in reply, reply
        assert "Nothing was changed" in reply
    # Several at once: all or nothing, naming each one's creator.
    reply = await bob.say("remove bob-c.com alice-a.com alice-b.com")
    assert "`alice-a.com` by @U0ALICE, `alice-b.com` by @U0ALICE" in reply
    assert {m.indicator for m in store.monitors.list()} == {"alice-a.com", "alice-b.com", "bob-c.com"}
    muted = await admin.say("mute alice-a.com whois")
    assert "@U0ADMIN muted `whois` alerts for `alice-a.com` in this channel." in muted
    assert [(m.indicator, m.muted) for m in store.monitors.list() if m.muted] == [("alice-a.com", ("whois",))]
    assert "Stopped monitoring" in await admin.say("remove bob-c.com alice-a.com")
    assert "Stopped monitoring" in await alice.say("remove alice-b.com")
    assert store.monitors.list() == []


async def test_a_channel_quota_refuses_a_bulk_add_whole(flows: MonitorFlows, store: Database) -> None:
    alice, bob, admin = (Conversation(flows, caller) for caller in (ALICE, BOB, ADMIN))
    await alice.say("q-one.com q-two.com")
    reply = await alice.say("q-one.com q-three.com q-four.com")
    assert "monitors 2 indicators and may monitor at most 3" in reply and "nothing was added" in reply
    assert len(store.monitors.list()) == 2
    # Indicators it already monitors do not count again.
    assert "Now monitoring `q-three.com`" in await bob.say("q-one.com q-two.com q-three.com")
    assert "may monitor at most 3" in await admin.say("q-five.com")  # admins too
    # Another channel has a quota of its own.
    assert "Now monitoring" in await Conversation(flows, Caller("T1", "C0OTHER", "U0BOB")).say("q-five.com")


def test_store_refuses_a_non_owner_in_the_transaction(store: Database) -> None:
    store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U0ALICE",
        indicators=[("owned.com", IndicatorKind.DOMAIN)],
        now=datetime.now(UTC),
    )
    with pytest.raises(NotPermitted) as refused:
        store.monitors.remove(team_id="T1", channel_id="C1", indicators=["owned.com"], owner="U0BOB")
    assert refused.value.owners == {"owned.com": "U0ALICE"}
    with pytest.raises(NotPermitted):
        store.monitors.set_muted(
            team_id="T1",
            channel_id="C1",
            indicator="owned.com",
            dataset="whois",
            muted=True,
            by="U0BOB",
            now=datetime.now(UTC),
            owner="U0BOB",
        )
    removed = store.monitors.remove(team_id="T1", channel_id="C1", indicators=["owned.com"], owner="U0ALICE")
    assert removed == ["owned.com"]


async def test_the_rate_limit_counts_each_user_apart(store: Database) -> None:
    clock = FakeClock()
    async_store = store
    try:
        limiter = LocalRateLimiter(RateLimit(3), clock=lambda: clock.now.timestamp())
        flows = MonitorFlows(
            async_store, Runner([NoData()], async_store, clock=clock), clock=clock, rate_limit=limiter
        )
        alice, bob = Conversation(flows, ALICE), Conversation(flows, BOB)
        replies = [await alice.say("list") for _ in range(4)]
        assert ["Slow down" in r for r in replies] == [False, False, False, True]
        assert "Try again in 20 s" in replies[-1]
        assert "Slow down" not in await bob.say("list")
        clock.advance(seconds=20)
        assert "Slow down" not in await alice.say("list")
    finally:
        async_store.close()


def test_rate_limiter_refills_and_forgets_idle_users() -> None:
    now = [0.0]
    limiter = LocalRateLimiter(RateLimit(60), clock=lambda: now[0], max_keys=2)
    assert [limiter.reserve("T:U1") for _ in range(60)] == [0.0] * 60
    assert limiter.reserve("T:U1") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.reserve("T:U1") == 0.0
    limiter.reserve("T:U2")
    now[0] += 120
    limiter.reserve("T:U3")  # over max_users: buckets full again are dropped
    assert set(limiter._buckets) == {"T:U3"}
    with pytest.raises(ValueError):
        RateLimit(0)


def test_access_policy_names_whose_monitors_a_user_may_change() -> None:
    policy = AccessPolicy(frozenset({"U0ADMIN"}))
    admin, bob = Caller("T1", "C1", "U0ADMIN"), Caller("T1", "C1", "U0BOB")
    assert policy.owner_filter(admin) is None and policy.owner_filter(bob) == "U0BOB"
