"""The /monitor flows over real storage (SQLite and PostgreSQL): every verb, every bad
input answered specifically with nothing changed, investigations and the App Home."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.commands.flows import MonitorFlows
from bot.core.limits import MAX_BLOCKS_HOME, block_kit_violations
from bot.core.message import Message
from bot.core.observations import Fact, IndicatorKind, Observation
from bot.core.results import Caller
from bot.core.text import render_text
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from tests.fakes.clock import FakeClock
from tests.fakes.conversation import Conversation

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
async def setup(store: Database) -> AsyncIterator[tuple[MonitorFlows, TableDataset, FakeClock]]:
    clock = FakeClock()
    dataset = TableDataset()
    async_store = store
    runner = Runner([dataset], async_store, clock=clock)
    yield MonitorFlows(async_store, runner, clock=clock), dataset, clock
    async_store.close()


async def test_flows_mute_and_unmute_say_who_and_refuse_repeats(
    setup: tuple[MonitorFlows, TableDataset, FakeClock], store: Database
) -> None:
    flows, _, _ = setup
    chat = Conversation(flows, CALLER)
    await chat.say(IP)
    muted = await chat.ask(f"mute {IP} whois")
    assert muted.public
    assert f"@U0ANALYST muted `whois` alerts for `{IP}` in this channel. Undo with" in muted.text
    assert store.monitors.list()[0].muted == ("whois",)
    assert f"`whois` is already muted for `{IP}` in this channel." in await chat.say(f"mute {IP} whois")
    assert "muted: whois" in await chat.say("list")
    unmuted = await chat.ask(f"unmute {IP} whois")
    assert unmuted.public
    assert f"@U0ANALYST unmuted `whois` alerts for `{IP}` in this channel." in unmuted.text
    assert f"`whois` is not muted for `{IP}` in this channel." in await chat.say(f"unmute {IP} whois")
    assert "Unknown dataset `dns`" in await chat.say(f"mute {IP} dns")
    assert "not monitored in this channel" in await chat.say("mute 45.77.10.20 whois")
    assert store.monitors.list()[0].muted == ()


async def test_flows_a_mute_until_unmuted_is_a_numbered_suppression_that_lift_ends(
    setup: tuple[MonitorFlows, TableDataset, FakeClock], store: Database
) -> None:
    flows, _, clock = setup
    chat = Conversation(flows, CALLER)
    await chat.say(IP)
    await chat.say(f"mute {IP} whois 2h")
    assert "muted `whois` alerts" in await chat.say(f"mute {IP} whois")  # the timed one gives way
    [mute] = store.triage.active(now=clock.now)
    assert (mute.dataset, mute.expires_at, mute.created_by) == ("whois", None, "U0ANALYST")
    assert "already muted for `98.126.38.107` in this channel, until unmuted" in await chat.say(
        f"mute {IP} whois 1d"
    )
    clock.advance(hours=3)  # past the timed one's end: still muted
    assert store.monitors.list()[0].muted == ("whois",)
    assert f"#{mute.id} mute of `whois` on `{IP}` until unmuted" in await chat.say("suppressions")
    assert f"lifted the mute #{mute.id}" in await chat.say(f"lift {mute.id}")
    assert store.monitors.list()[0].muted == () and store.triage.active(now=clock.now) == []
    assert f"`whois` is not muted for `{IP}` in this channel." in await chat.say(f"unmute {IP} whois")


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
    setup: tuple[MonitorFlows, TableDataset, FakeClock], store: Database, text: str, expected: str
) -> None:
    flows, _, _ = setup
    chat = Conversation(flows, CALLER)
    await chat.say(IP)
    before = store.monitors.list()
    shown = await chat.say(text)
    assert expected in shown and "⚠" in shown
    assert store.monitors.list() == before


async def test_flows_history_by_day_and_dataset(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, clock = setup
    chat = Conversation(flows, CALLER)
    dataset.facts[IP] = {("domain", "a.example.com")}
    await chat.say(IP)
    subject = await flows.db.run(flows.db.monitors.subject, IP)
    assert subject is not None
    dataset.facts[IP].add(("domain", "b.example.com"))
    clock.advance(hours=1)
    await flows.runner.check(subject)
    dataset.facts[IP].add(("domain", "c.example.com"))
    clock.advance(days=1)
    await flows.runner.check(subject)

    everything = await chat.say(f"history {IP}")
    assert everything.index("c.example.com") < everything.index("b.example.com")  # newest first
    first_day = await chat.say(f"history {IP} day=2026-11-20 dataset=resolutions")
    assert "b.example.com" in first_day and "c.example.com" not in first_day
    assert "No changes recorded" in await chat.say(f"history {IP} dataset=whois")


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
    chat = Conversation(flows, CALLER)
    digests = Digests()
    flows.digests = digests
    shown = await chat.say("digest")
    assert "Posting today's digest" in shown and "3 changes on 2 indicators" in shown
    assert digests.asked == [("T1", "C0INTEL")]


async def test_flows_investigation_finds_shared_infrastructure(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, _ = setup
    chat = Conversation(flows, CALLER)
    dataset.facts[IP] = {("domain", "www.interfaxru.com")}
    dataset.facts["evil-example.com"] = {("NS", "ns1.bad-dns.net")}
    dataset.facts["www.interfaxru.com"] = {("A", IP), ("NS", "ns1.bad-dns.net")}
    await chat.say(f"{IP} evil-example.com")
    await Conversation(flows, Caller("T2", "C9", "U2")).say("unrelated.example.org")  # another team's

    result = await flows.pivots.investigate(
        "www.interfaxru[.]com", team_id="T1", channel_id=CALLER.channel_id
    )
    message = result.reply
    assert result.public and block_kit_violations(message) == []
    shown = render_text(message)
    assert f"`{IP}` (in #C0INTEL): it is this indicator's `A`; its `domain` is `www.interfaxru.com`" in shown
    assert "`evil-example.com` (in #C0INTEL): same `NS` `ns1.bad-dns.net`" in shown
    assert "unrelated" not in shown
    assert "[Monitor www.interfaxru.com]" in shown and f"[Investigate {IP}]" in shown
    assert "not monitored here yet" in shown

    refused = await flows.pivots.investigate("10.0.0.1", team_id="T1")
    assert not refused.public and "private" in render_text(refused.reply)


async def test_flows_home_lists_what_the_user_can_see(
    setup: tuple[MonitorFlows, TableDataset, FakeClock],
) -> None:
    flows, dataset, clock = setup
    chat = Conversation(flows, CALLER)
    dataset.facts[IP] = {("domain", "a.example.com")}
    await chat.say(IP)
    await Conversation(flows, Caller("T1", "C0PRIVATE", "U0OTHER")).say("secret.example.com")
    subject = await flows.db.run(flows.db.monitors.subject, IP)
    assert subject is not None
    for day in range(3):  # an alert on each of three days
        dataset.facts[IP].add(("domain", f"new{day}.example.com"))
        clock.advance(days=1)
        await flows.runner.check(subject)

    blocks = await flows.pivots.home_blocks(team_id="T1", user_id="U0ANALYST", channel_ids={"C0INTEL"})
    assert block_kit_violations(Message("home", blocks), max_blocks=MAX_BLOCKS_HOME) == []
    shown = render_text(Message("home", blocks))
    assert "alerted today: resolutions" in shown and "3 alerts so far" in shown
    assert "secret.example.com" not in shown

    clock.advance(days=2)
    later = render_text(
        Message(
            "home", await flows.pivots.home_blocks(team_id="T1", user_id="U0ANALYST", channel_ids={"C0INTEL"})
        )
    )
    assert "last alert 2 days ago" in later and "alerted today:" not in later
    # Channels unknown (Slack would not say): only what the user created.
    own = render_text(
        Message("home", await flows.pivots.home_blocks(team_id="T1", user_id="U0OTHER", channel_ids=None))
    )
    assert "secret.example.com" in own and IP not in own
