"""The /monitor flows over real storage (SQLite and PostgreSQL): every verb, every bad
input answered specifically with nothing changed, investigations and the App Home."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.commands.flows import Caller, MonitorFlows
from bot.model.observations import Fact, IndicatorKind, Observation
from bot.monitoring.runner import Runner
from bot.render.limits import MAX_BLOCKS_HOME, block_kit_violations
from bot.render.messages import Message
from bot.render.text import render_text
from bot.storage.repository import AsyncStore, Store
from tests.fakes.clock import FakeClock

CALLER = Caller("T1", "C0INTEL", "U0ANALYST")
IP = "98.126.38.107"


class TableDataset:
    """`resolutions` from a table the test edits: indicator -> facts."""

    name = "resolutions"

    def __init__(self) -> None:
        self.facts: dict[str, set[tuple[str, str]]] = {}

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        facts = frozenset(Fact(f, v, "mnemonic") for f, v in self.facts.get(indicator, set()))
        return Observation(self.name, facts, frozenset({"A", "domain", "NS"}))


@pytest_asyncio.fixture
async def setup(store: Store) -> AsyncIterator[tuple[MonitorFlows, TableDataset, FakeClock]]:
    clock = FakeClock()
    dataset = TableDataset()
    async_store = AsyncStore(store)
    runner = Runner([dataset], async_store, clock=clock)
    yield MonitorFlows(async_store, runner, clock=clock), dataset, clock
    async_store.close()


async def say(flows: MonitorFlows, text: str, caller: Caller = CALLER) -> str:
    """Run a command as the console would show it: the reply, then the follow-up's."""
    result = await flows.execute(text, caller)
    shown = [result.reply]
    if result.follow_up is not None:
        shown += await result.follow_up()
    for message in shown:
        assert block_kit_violations(message) == []
    return "\n".join(render_text(m) for m in shown)


async def test_flows_mute_and_unmute_say_who_and_refuse_repeats(
    setup: tuple[MonitorFlows, TableDataset, FakeClock], store: Store
) -> None:
    flows, _, _ = setup
    await say(flows, IP)
    result = await flows.execute(f"mute {IP} whois", CALLER)
    assert result.public and "<@U0ANALYST> muted `whois` alerts" in result.reply.blocks[0]["text"]["text"]
    assert store.list_monitors()[0].muted == ("whois",)
    assert "already muted" in await say(flows, f"mute {IP} whois")
    assert "muted: whois" in await say(flows, "list")
    assert "unmuted" in await say(flows, f"unmute {IP} whois")
    assert "not muted" in await say(flows, f"unmute {IP} whois")
    assert "Unknown dataset `dns`" in await say(flows, f"mute {IP} dns")
    assert "not monitored in this channel" in await say(flows, "mute 45.77.10.20 whois")
    assert store.list_monitors()[0].muted == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("frobnicate 1.2.3.4", "Unknown command `frobnicate`"),
        ("10.1.2.3", "private"),
        ("remove 45.77.10.20", "Not monitored in this channel"),
        ("status 45.77.10.20", "is not monitored in this channel"),
        ("history 45.77.10.20", "is not monitored in this channel"),
        ("history 98.126.38.107 dataset=nope", "Unknown dataset `nope`"),
        ("history 98.126.38.107 day=2026-13-01", "is not a date"),
        ("check 45.77.10.20", "is not monitored in this channel"),
        ("digest", "Digests are not configured yet"),
        ("list now", "takes nothing after it"),
    ],
)
async def test_flows_bad_input_is_answered_and_changes_nothing(
    setup: tuple[MonitorFlows, TableDataset, FakeClock], store: Store, text: str, expected: str
) -> None:
    flows, _, _ = setup
    await say(flows, IP)
    before = store.list_monitors()
    shown = await say(flows, text)
    assert expected in shown and "⚠" in shown
    assert store.list_monitors() == before


async def test_flows_history_by_day_and_dataset(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, clock = setup
    dataset.facts[IP] = {("domain", "a.example.com")}
    await say(flows, IP)
    subject = await flows.store.run(flows.store.store.get_subject, IP)
    assert subject is not None
    dataset.facts[IP].add(("domain", "b.example.com"))
    clock.advance(hours=1)
    await flows.runner.check(subject)
    dataset.facts[IP].add(("domain", "c.example.com"))
    clock.advance(days=1)
    await flows.runner.check(subject)

    everything = await say(flows, f"history {IP}")
    assert everything.index("c.example.com") < everything.index("b.example.com")  # newest first
    first_day = await say(flows, f"history {IP} day=2026-11-20 dataset=resolutions")
    assert "b.example.com" in first_day and "c.example.com" not in first_day
    assert "No changes recorded" in await say(flows, f"history {IP} dataset=whois")


class Digests:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def post_digest_now(self, team_id: str, channel_id: str) -> str:
        self.asked.append((team_id, channel_id))
        return "Posted today's digest: 3 changes on 2 indicators."


async def test_flows_digest_goes_to_the_digest_requester(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, _, _ = setup
    digests = Digests()
    flows.digests = digests
    shown = await say(flows, "digest")
    assert "Posting today's digest" in shown and "3 changes on 2 indicators" in shown
    assert digests.asked == [("T1", "C0INTEL")]


async def test_flows_investigation_finds_shared_infrastructure(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, _ = setup
    dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    dataset.facts["evil-example.com"] = {("NS", "ns1.bad-dns.net")}
    dataset.facts["www.interfaxru.com"] = {("A", IP), ("NS", "ns1.bad-dns.net")}
    await say(flows, f"{IP} evil-example.com")
    await say(flows, "unrelated.example.org", Caller("T2", "C9", "U2"))  # another team's

    result = await flows.investigate("www.interfaxru[.]com", team_id="T1")
    message = result.reply
    assert result.public and block_kit_violations(message) == []
    shown = render_text(message)
    assert f"`{IP}` (in #C0INTEL): it is this indicator's `A`; its `domain` is `www.interfaxru.com`" in shown
    assert "`evil-example.com` (in #C0INTEL): same `NS` `ns1.bad-dns.net`" in shown
    assert "unrelated" not in shown
    assert "[Monitor www.interfaxru.com]" in shown and f"[Investigate {IP}]" in shown
    assert "not monitored yet" in shown

    refused = await flows.investigate("10.0.0.1", team_id="T1")
    assert not refused.public and "private" in render_text(refused.reply)


async def test_flows_home_lists_what_the_user_can_see(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, clock = setup
    dataset.facts[IP] = {("domain", "a.example.com")}
    await say(flows, IP)
    await say(flows, "secret.example.com", Caller("T1", "C0PRIVATE", "U0OTHER"))
    subject = await flows.store.run(flows.store.store.get_subject, IP)
    assert subject is not None
    for day in range(3):  # an alert on each of three days
        dataset.facts[IP].add(("domain", f"new{day}.example.com"))
        clock.advance(days=1)
        await flows.runner.check(subject)

    blocks = await flows.home_blocks(team_id="T1", user_id="U0ANALYST", channel_ids={"C0INTEL"})
    assert block_kit_violations(Message("home", blocks), max_blocks=MAX_BLOCKS_HOME) == []
    shown = render_text(Message("home", blocks))
    assert "alerted today: resolutions" in shown and "3 alerts so far" in shown
    assert "secret.example.com" not in shown

    clock.advance(days=2)
    later = render_text(
        Message("home", await flows.home_blocks(team_id="T1", user_id="U0ANALYST", channel_ids={"C0INTEL"}))
    )
    assert "last alert 2 days ago" in later and "alerted today:" not in later
    # Channels unknown (Slack would not say): only what the user created.
    own = render_text(
        Message("home", await flows.home_blocks(team_id="T1", user_id="U0OTHER", channel_ids=None))
    )
    assert "secret.example.com" in own and IP not in own
