"""Who may change a monitor, how many a channel holds, how fast one user may go: the
flows over real storage (SQLite and PostgreSQL), and the pieces on their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from bot.commands.access import AccessPolicy, CommandRateLimiter
from bot.commands.flows import Caller, MonitorFlows
from bot.errors import NotPermitted
from bot.model.observations import IndicatorKind, Observation
from bot.monitoring.runner import Runner
from bot.storage.repository import AsyncStore, Store
from tests.fakes.clock import FakeClock

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
async def flows(store: Store) -> AsyncIterator[MonitorFlows]:
    clock = FakeClock()
    async_store = AsyncStore(store)
    yield MonitorFlows(
        async_store,
        Runner([NoData()], async_store, clock=clock),
        clock=clock,
        access=AccessPolicy(frozenset({"U0ADMIN"}), channel_quota=3),
    )
    async_store.close()


async def say(flows: MonitorFlows, text: str, caller: Caller) -> str:
    """The reply's mrkdwn as Slack gets it: a mention is `<@U…>`, which pings that person."""
    result = await flows.execute(text, caller)
    return "\n".join(str(b["text"]["text"]) for b in result.reply.blocks if b.get("type") == "section")


async def test_only_the_creator_or_an_admin_removes_or_mutes(flows: MonitorFlows, store: Store) -> None:
    await say(flows, "alice-a.com alice-b.com", ALICE)
    await say(flows, "bob-c.com", BOB)
    for text in ("remove alice-a.com", "mute alice-a.com whois", "unmute alice-a.com whois"):
        reply = await say(flows, text, BOB)
        assert "Only <@U0ALICE>, who added `alice-a.com` here or a Watchpost admin" in reply, reply
        assert "Nothing was changed" in reply
    # Several at once: all or nothing, naming each one's creator.
    reply = await say(flows, "remove bob-c.com alice-a.com alice-b.com", BOB)
    assert "`alice-a.com` by <@U0ALICE>, `alice-b.com` by <@U0ALICE>" in reply
    assert {m.indicator for m in store.list_monitors()} == {"alice-a.com", "alice-b.com", "bob-c.com"}
    assert "muted" in await say(flows, "mute alice-a.com whois", ADMIN)
    assert "Stopped monitoring" in await say(flows, "remove bob-c.com alice-a.com", ADMIN)
    assert "Stopped monitoring" in await say(flows, "remove alice-b.com", ALICE)
    assert store.list_monitors() == []


async def test_a_channel_quota_refuses_a_bulk_add_whole(flows: MonitorFlows, store: Store) -> None:
    await say(flows, "q-one.com q-two.com", ALICE)
    reply = await say(flows, "q-one.com q-three.com q-four.com", ALICE)
    assert "monitors 2 indicators and may monitor at most 3" in reply and "nothing was added" in reply
    assert len(store.list_monitors()) == 2
    # Indicators it already monitors do not count again.
    assert "Now monitoring `q-three.com`" in await say(flows, "q-one.com q-two.com q-three.com", BOB)
    assert "may monitor at most 3" in await say(flows, "q-five.com", ADMIN)  # admins too
    # Another channel has a quota of its own.
    assert "Now monitoring" in await say(flows, "q-five.com", Caller("T1", "C0OTHER", "U0BOB"))


def test_store_refuses_a_non_owner_in_the_transaction(store: Store) -> None:
    store.add_monitors(
        team_id="T1",
        channel_id="C1",
        user_id="U0ALICE",
        indicators=[("owned.com", IndicatorKind.DOMAIN)],
        now=datetime.now(UTC),
    )
    with pytest.raises(NotPermitted) as refused:
        store.remove_monitors(team_id="T1", channel_id="C1", indicators=["owned.com"], owner="U0BOB")
    assert refused.value.owners == {"owned.com": "U0ALICE"}
    with pytest.raises(NotPermitted):
        store.set_muted(
            team_id="T1", channel_id="C1", indicator="owned.com", dataset="whois", muted=True, owner="U0BOB"
        )
    assert store.remove_monitors(team_id="T1", channel_id="C1", indicators=["owned.com"], owner="U0ALICE")


async def test_the_rate_limit_counts_each_user_apart(store: Store) -> None:
    clock = FakeClock()
    async_store = AsyncStore(store)
    try:
        limiter = CommandRateLimiter(3, clock=lambda: clock.now.timestamp())
        flows = MonitorFlows(
            async_store, Runner([NoData()], async_store, clock=clock), clock=clock, rate_limit=limiter
        )
        replies = [await say(flows, "list", ALICE) for _ in range(4)]
        assert ["Slow down" in r for r in replies] == [False, False, False, True]
        assert "Try again in 20 s" in replies[-1]
        assert "Slow down" not in await say(flows, "list", BOB)
        clock.advance(seconds=20)
        assert "Slow down" not in await say(flows, "list", ALICE)
    finally:
        async_store.close()


def test_rate_limiter_refills_and_forgets_idle_users() -> None:
    now = [0.0]
    limiter = CommandRateLimiter(60, clock=lambda: now[0], max_users=2)
    assert [limiter.wait_time("T", "U1") for _ in range(60)] == [0.0] * 60
    assert limiter.wait_time("T", "U1") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.wait_time("T", "U1") == 0.0
    limiter.wait_time("T", "U2")
    now[0] += 120
    limiter.wait_time("T", "U3")  # over max_users: buckets full again are dropped
    assert set(limiter._buckets) == {("T", "U3")}
    with pytest.raises(ValueError):
        CommandRateLimiter(0)


def test_access_policy_names_whose_monitors_a_user_may_change() -> None:
    policy = AccessPolicy(frozenset({"U0ADMIN"}))
    assert policy.owner_filter("U0ADMIN") is None and policy.owner_filter("U0BOB") == "U0BOB"
