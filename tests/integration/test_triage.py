"""Triage over real storage (SQLite and PostgreSQL), the real outbox worker and Slack
transport against the fake Slack Web API, with an injected clock: false positives quiet a
value both ways until they expire, snoozes silence a monitor, follow-ups go in the open
alert's thread, timed mutes end by themselves, and only the owner may suppress."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

import pytest_asyncio

from bot.alerts.delivery.outbox import OutboxWorker
from bot.commands.flows import MonitorFlows
from bot.config import Settings
from bot.core.access import AccessPolicy
from bot.core.errors import UserInputError
from bot.core.observations import Fact, IndicatorKind, Observation
from bot.core.results import Caller
from bot.core.text import render_text
from bot.digests.service import DigestService
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from bot.surfaces.console import Console, ConsoleTransport
from bot.triage.flows.deliveries import TriageFlows
from bot.triage.model import SuppressionKind, TriageState
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.integration.test_outbox_slack import slack_transport

OWNER = Caller("T1", "C0INTEL", "U0OWNER")
COLLEAGUE = Caller("T1", "C0INTEL", "U0COLLEAGUE")
ADMIN = Caller("T1", "C0INTEL", "U0ADMIN")
IP = "98.126.38.107"
SNOOZE_DAY = timedelta(days=1)


class TableDataset:
    """A dataset whose facts the test edits: indicator -> {(field, value)}."""

    def __init__(self, name: str, kinds: tuple[IndicatorKind, ...], fields: frozenset[str]) -> None:
        self.name = name
        self.kinds = kinds
        self.fields = fields
        self.facts: dict[str, set[tuple[str, str]]] = {}

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind in self.kinds

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        facts = frozenset(Fact(f, v, "mnemonic") for f, v in self.facts.get(indicator, set()))
        return Observation(self.name, facts, self.fields)


@dataclass
class Bot:
    db: Database
    flows: MonitorFlows
    triage: TriageFlows
    worker: OutboxWorker
    runner: Runner
    resolutions: TableDataset
    clock: FakeClock
    slack: FakeSlackApi

    async def say(self, text: str, caller: Caller = OWNER) -> str:
        result = await self.flows.execute(text, caller)
        shown = [result.reply] + (await result.follow_up() if result.follow_up else [])
        return "\n".join(render_text(m) for m in shown)

    async def found(self, *domains: str, hours: float = 1) -> None:
        """The IP's passive DNS now shows these names; a check runs and the outbox ticks."""
        self.resolutions.facts[IP] = {("domain", d) for d in domains}
        self.clock.advance(hours=hours)
        subject = await self.db.run(self.db.monitors.subject, IP)
        assert subject is not None
        await self.runner.check(subject)
        await self.worker.deliver_due()

    def top_level(self) -> list[SlackMessage]:
        return self.slack.posted(OWNER.channel_id)

    def thread(self, parent: SlackMessage) -> list[SlackMessage]:
        return self.slack.posted(OWNER.channel_id, thread_ts=parent.ts)

    def silenced(self) -> int:
        return self.db.triage.silenced_count(
            "T1",
            OWNER.channel_id,
            since=self.clock.now.replace(year=2000),
            until=self.clock.now.replace(year=2100),
        )


@pytest_asyncio.fixture
async def bot(store: Database, slack_api: FakeSlackApi) -> AsyncIterator[Bot]:
    clock = FakeClock()
    resolutions = TableDataset("resolutions", (IndicatorKind.IP, IndicatorKind.DOMAIN), frozenset({"domain"}))
    subdomains = TableDataset("subdomains", (IndicatorKind.DOMAIN,), frozenset({"subdomain"}))
    runner = Runner([resolutions, subdomains], store, clock=clock)
    access = AccessPolicy(admins=frozenset({ADMIN.user_id}))
    transport = slack_transport(slack_api)
    triage = TriageFlows(store, transport, clock=clock, access=access)
    flows = MonitorFlows(store, runner, clock=clock, access=access, on_lifted=triage.after_lift)
    worker = OutboxWorker(store, transport, clock=clock)
    resolutions.facts[IP] = {("domain", "evil-example.com")}
    bot = Bot(store, flows, triage, worker, runner, resolutions, clock, slack_api)
    assert "Baseline" in await bot.say(IP)
    yield bot
    store.close()


async def test_triage_false_positive_quiets_the_value_both_ways_until_it_expires(bot: Bot) -> None:
    await bot.found("evil-example.com", "cdn-edge.example")
    [alert] = bot.top_level()
    assert "cdn-edge.example" in alert.all_text() and alert.updates == 0

    # Acknowledge: edited in place with who and when; the Acknowledge button gives way.
    await bot.triage.set_state_on_message(alert.channel, alert.ts, TriageState.ACKNOWLEDGED, COLLEAGUE)
    assert alert.updates == 1 and "Acknowledged by <@U0COLLEAGUE> on 2026-11-20 10:00 UTC" in alert.all_text()
    assert "ack" not in [b["action_id"] for b in alert.buttons()]
    assert "false_positive" in [b["action_id"] for b in alert.buttons()]

    # A colleague may not suppress: told who can, nothing stored.
    try:
        await bot.triage.set_state_on_message(alert.channel, alert.ts, TriageState.FALSE_POSITIVE, COLLEAGUE)
        raise AssertionError("a colleague marked a false positive")
    except UserInputError as exc:
        assert "Only <@U0OWNER>, who added `98.126.38.107` here or a Watchpost admin" in str(exc)
    assert bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id) == []

    # The owner marks it false positive: the defaults are on the message, the buttons gone.
    triage = await bot.triage.set_state_on_message(alert.channel, alert.ts, TriageState.FALSE_POSITIVE, OWNER)
    assert triage.state is TriageState.FALSE_POSITIVE and triage.reason == "CDN or shared hosting"
    shown = alert.all_text()
    assert "False positive: CDN or shared hosting, marked by <@U0OWNER>" in shown
    assert "suppressed here until 2026-12-20 10:00 UTC" in shown and alert.buttons() == []
    [suppression] = bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id)
    assert (suppression.kind, suppression.dataset, suppression.value) == (
        SuppressionKind.VALUE,
        "resolutions",
        "cdn-edge.example",
    )

    # The value flaps away (removed on the second check it is missing) and back: silence.
    await bot.found("evil-example.com")
    await bot.found("evil-example.com")
    await bot.found("evil-example.com", "cdn-edge.example")
    assert len(bot.top_level()) == 1 and bot.silenced() == 2
    history = await bot.say(f"history {IP}")
    assert history.count("(suppressed here)") == 2

    # A new value still alerts, as a new top-level alert: the false positive closed the first.
    # Its story: one earlier alert, and another monitored indicator holds the new value.
    bot.resolutions.facts["45.77.10.20"] = {("domain", "c2-panel.example")}
    assert "Baseline" in await bot.say("45.77.10.20")
    await bot.found("evil-example.com", "cdn-edge.example", "c2-panel.example")
    assert len(bot.top_level()) == 2 and "c2-panel.example" in bot.top_level()[1].all_text()
    story = bot.top_level()[1].all_text()
    assert (
        "1 earlier alert, the last the same day" in story
        and "alerted in the day before: resolutions" in story
    )
    assert ":link: shares `c2-panel.example` with `45.77.10.20`" in story
    assert ":new: first alert on this indicator" in alert.all_text()
    assert "cdn-edge.example" not in bot.top_level()[1].all_text().replace("evil-example.com", "")

    # Thirty days on, the suppression has ended: said once in the channel, the value alerts.
    bot.clock.advance(days=30)
    await bot.worker.deliver_due()
    ended = [m for m in bot.top_level() if "ended" in m.text]
    assert len(ended) == 1 and "cdn-edge.example" in ended[0].all_text()
    await bot.worker.deliver_due()
    assert len([m for m in bot.top_level() if "ended" in m.text]) == 1
    await bot.found("evil-example.com", "c2-panel.example")
    await bot.found("evil-example.com", "c2-panel.example")
    assert "➖ removed `domain` `cdn-edge.example`" in bot.top_level()[-1].all_text()


async def test_triage_follow_ups_go_in_the_open_alerts_thread_then_snooze_silences(bot: Bot) -> None:
    await bot.found("evil-example.com", "first.example")
    [alert] = bot.top_level()
    await bot.found("evil-example.com", "first.example", "second.example")
    await bot.found("evil-example.com", "first.example", "second.example", "third.example")
    assert bot.top_level() == [alert]  # no new top-level message
    replies = bot.thread(alert)
    assert [("second.example" in r.all_text(), "third.example" in r.all_text()) for r in replies] == [
        (True, False),
        (False, True),
    ]
    assert all("Follow-up on" in r.all_text() and "ack" not in str(r.buttons()) for r in replies)
    assert alert.updates == 2 and "2 changes since 10:00 UTC, in the thread" in alert.all_text()

    # Anyone may snooze: the monitor is quiet for a day; status says so; the alert too.
    until = await bot.triage.snooze_on_message(alert.channel, alert.ts, COLLEAGUE, SNOOZE_DAY)
    assert f"{until:%Y-%m-%d %H:%M}" == "2026-11-21 12:00"
    assert "snoozed by <@U0COLLEAGUE> until 2026-11-21 12:00 UTC" in alert.all_text()
    assert "snoozed until 2026-11-21 12:00 UTC" in await bot.say(f"status {IP}")
    await bot.found("evil-example.com", "first.example", "second.example", "third.example", "fourth.example")
    assert len(bot.thread(alert)) == 2 and bot.top_level() == [alert] and bot.silenced() == 1

    # The snooze ends by itself (said in the channel); the window of 24 h is over too, so
    # the next change is a new top-level alert, not a follow-up.
    bot.clock.advance(hours=24)
    await bot.worker.deliver_due()
    assert "The snooze for `98.126.38.107` ended" in bot.top_level()[-1].all_text()
    await bot.found("evil-example.com", "fifth.example")
    assert "fifth.example" in bot.top_level()[-1].all_text() and len(bot.thread(alert)) == 2


async def test_triage_expected_alert_takes_no_follow_ups(bot: Bot) -> None:
    await bot.found("evil-example.com", "first.example")
    [alert] = bot.top_level()
    await bot.triage.set_state_on_message(alert.channel, alert.ts, TriageState.EXPECTED, COLLEAGUE)
    assert "Accepted as the new baseline by <@U0COLLEAGUE>" in alert.all_text() and alert.buttons() == []
    await bot.found("evil-example.com", "first.example", "second.example")
    assert len(bot.top_level()) == 2 and bot.thread(alert) == []


async def test_triage_timed_mute_lists_lifts_and_ends_by_itself(bot: Bot) -> None:
    # Bad input first: nothing changes.
    assert "Unknown duration `3x`" in await bot.say(f"mute {IP} resolutions 3x")
    assert "`subdomains` does not apply to an IP" in await bot.say(f"mute {IP} subdomains")
    assert "`subdomains` does not apply to an IP" in await bot.say(f"mute {IP} subdomains 7d")
    assert "Only @U0OWNER" in await bot.say(f"mute {IP} resolutions 2h", COLLEAGUE)
    assert bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id) == []

    reply = await bot.say(f"mute {IP} resolutions 30m")
    assert (
        "muted `resolutions` alerts for `98.126.38.107` in this channel until 2026-11-20 09:30 UTC" in reply
    )
    listed = await bot.say("suppressions")
    assert "mute of `resolutions` on `98.126.38.107` until 2026-11-20 09:30 UTC" in listed
    assert "by @U0OWNER" in listed
    await bot.found("evil-example.com", "muted.example", hours=0.1)
    assert bot.top_level() == [] and bot.silenced() == 1

    # It ends by itself, with a short notice; the next change alerts.
    bot.clock.advance(minutes=30)
    await bot.worker.deliver_due()
    assert "The mute of `resolutions` alerts for `98.126.38.107` ended" in bot.top_level()[0].all_text()
    await bot.found("evil-example.com", "muted.example", "loud.example", hours=0.1)
    assert "loud.example" in bot.top_level()[-1].all_text()

    # A snooze anyone may lift; the list says it is gone afterwards.
    alert = bot.top_level()[-1]
    await bot.triage.snooze_on_message(alert.channel, alert.ts, COLLEAGUE, SNOOZE_DAY)
    [snooze] = bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id)
    assert "This monitor is snoozed" in alert.all_text()
    assert "lifted the snooze" in await bot.say(f"lift {snooze.id}", COLLEAGUE)
    assert "This monitor is snoozed" not in alert.all_text()  # the alert no longer says so
    assert "Nothing is silenced" in await bot.say("suppressions")
    assert "is not in force" in await bot.say(f"lift {snooze.id}")
    assert "no suppression #999" in await bot.say("lift 999")


async def test_triage_admin_may_suppress_and_reopening_lifts_it(bot: Bot) -> None:
    await bot.found("evil-example.com", "cdn-edge.example")
    [alert] = bot.top_level()
    await bot.triage.set_state_on_message(alert.channel, alert.ts, TriageState.FALSE_POSITIVE, ADMIN)
    assert len(bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id)) == 1
    await bot.triage.set_state(
        bot.db.triage.message_at(alert.channel, alert.ts, now=bot.clock.now).alert_id,  # type: ignore[union-attr]
        TriageState.OPEN,
        COLLEAGUE,
    )
    assert bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id) == []
    assert "ack" in [b["action_id"] for b in alert.buttons()]


async def test_triage_digest_has_a_triage_column_and_counts_open_and_suppressed(bot: Bot) -> None:
    await bot.found("evil-example.com", "cdn-edge.example")
    [first] = bot.top_level()
    await bot.triage.set_state_on_message(first.channel, first.ts, TriageState.FALSE_POSITIVE, OWNER)
    await bot.found("evil-example.com")
    await bot.found("evil-example.com")  # the removal, suppressed
    await bot.found("evil-example.com", "open.example")  # a new alert nobody took
    bot.clock.advance(minutes=1)

    digests = DigestService(
        bot.db, slack_transport(bot.slack), settings=Settings(digest_time=time(9, 0)), clock=bot.clock
    )
    await digests.post_digest_now("T1", OWNER.channel_id)
    parent = next(m for m in bot.top_level() if "digest" in m.text.lower())
    assert "1 open alert to triage · 1 change suppressed by rules" in parent.all_text()
    [upload] = list(bot.slack.files.values())
    assert upload.content is not None
    rows = list(csv.reader(io.StringIO(upload.content.decode())))
    assert rows[0][-1] == "triage"
    assert [(row[4], row[7] or row[6], row[-1]) for row in rows[1:]] == [
        ("added", "cdn-edge.example", "false_positive"),
        ("removed", "cdn-edge.example", "suppressed"),
        ("added", "open.example", "open"),
    ]


async def test_triage_app_home_lists_open_alerts_unassigned_first(bot: Bot) -> None:
    await bot.found("evil-example.com", "first.example")
    [taken] = bot.top_level()
    await bot.triage.set_state_on_message(taken.channel, taken.ts, TriageState.ACKNOWLEDGED, COLLEAGUE)
    bot.clock.advance(days=2)  # past the follow-up window: the next change is an alert of its own
    await bot.found("evil-example.com", "first.example", "second.example")
    blocks = await bot.flows.pivots.home_blocks(
        team_id="T1", user_id="U0COLLEAGUE", channel_ids={OWNER.channel_id}
    )
    text = next(b["text"]["text"] for b in blocks if "Open alerts" in str(b))
    lines = text.splitlines()
    assert lines[0] == "*Open alerts* (2, 1 unassigned)"
    assert ":new: unassigned" in lines[1] and "2026-11-22" in lines[1]
    assert "taken by <@U0COLLEAGUE>" in lines[2] and "2026-11-20" in lines[2]
    # Closed alerts leave the list; channels the user is not in never show.
    second = bot.top_level()[-1]
    await bot.triage.set_state_on_message(second.channel, second.ts, TriageState.EXPECTED, COLLEAGUE)
    blocks = await bot.flows.pivots.home_blocks(
        team_id="T1", user_id="U0COLLEAGUE", channel_ids={OWNER.channel_id}
    )
    assert "Open alerts* (1, 0 unassigned)" in str(blocks)
    blocks = await bot.flows.pivots.home_blocks(
        team_id="T1", user_id="U0COLLEAGUE", channel_ids={"C0ELSEWHERE"}
    )
    assert "Open alerts" not in str(blocks)


async def test_triage_shared_host_is_said_on_the_alert(bot: Bot) -> None:
    bot.db.triage.shared_host_names = 4
    await bot.found("evil-example.com", "a.example", "b.example", "c.example")
    assert "Shared host: 4 names are known on `98.126.38.107`, so its 3 new names make one alert" in (
        bot.top_level()[0].all_text().replace("*", "")
    )
    replies = bot.thread(bot.top_level()[0])
    assert len(replies) == 1 and "All changes on 98.126.38.107" in replies[0].text


async def test_triage_false_positive_covers_the_values_of_its_thread(bot: Bot) -> None:
    await bot.found("evil-example.com", "first.example")
    [alert] = bot.top_level()
    await bot.found("evil-example.com", "first.example", "second.example")
    assert len(bot.thread(alert)) == 1
    await bot.triage.set_state_on_message(alert.channel, alert.ts, TriageState.FALSE_POSITIVE, OWNER)
    values = {s.value for s in bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id)}
    assert values == {"first.example", "second.example"}


async def test_triage_list_shows_a_timed_mute_with_its_end(bot: Bot) -> None:
    await bot.say(f"mute {IP} resolutions 30m")
    listed = await bot.say("list")
    assert "muted: resolutions until 2026-11-20 09:30 UTC" in listed
    bot.clock.advance(minutes=31)
    assert "muted" not in await bot.say("list")


async def test_triage_status_header_is_defanged_like_history(bot: Bot) -> None:
    status = await bot.say(f"status {IP}")
    history = await bot.say(f"history {IP}")
    assert status.splitlines()[0] == "Status of 98[.]126[.]38[.]107"
    assert history.splitlines()[0].startswith("History of 98[.]126[.]38[.]107")


async def test_triage_console_lifts_a_timed_mute_and_an_untimed_one_by_number(
    bot: Bot, tmp_path: Path
) -> None:
    """The console shows section accessories (Lift) numbered, as Slack shows them; a mute
    until unmuted has a number and a Lift button like any suppression."""
    out = io.StringIO()
    console = Console(bot.flows, ConsoleTransport(out, files_dir=tmp_path), OWNER, triage=bot.triage)
    await bot.say(f"mute {IP} resolutions 2h")
    await bot.say(f"mute {IP} whois")
    await console.handle("/monitor suppressions")
    shown = out.getvalue()
    lifts = re.findall(r"\[(\d+) Lift\]", shown)
    assert len(lifts) == 2 and "Unmute]" not in shown, shown
    assert "mute of `whois` on `98.126.38.107` until unmuted" in shown, shown
    for number in lifts:
        await console.handle(f"press {number}")
    assert out.getvalue().count("lifted the mute") == 2
    assert bot.db.triage.active(now=bot.clock.now, channel_id=OWNER.channel_id) == []
