"""Walls between channels over real storage (SQLite and PostgreSQL), through the composed
services (bot/composition.py): two channels of one workspace and a channel of another
monitor infrastructure that overlaps. Under the default scope nothing of case A's
monitors reaches case B or the other workspace — alerts' "shares … with …" line,
investigations, status and history, App Home, digests, channel webhooks; under
`WATCHPOST_SHARE_SCOPE=workspace` B learns of A's indicators without A's channel being
named; another workspace never learns of them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from bot.config import Secret
from bot.core.message import Message
from bot.core.observations import Fact, IndicatorKind, Observation, SourceRead
from bot.core.results import Caller
from bot.core.text import render_text
from bot.core.walls import OBSERVED_SOURCE, ShareScope
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from bot.triage.model import TriageState
from tests.fakes.api import ApiHarness, MakeApi
from tests.fakes.clock import FakeClock
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

CASE_A = Caller("T1", "C0CASEA", "U0ALICE")
CASE_B = Caller("T1", "C0CASEB", "U0BOB")
OTHER_WORKSPACE = Caller("T2", "C0CASET2", "U0CAROL")
ADDRESS = "45.77.10.20"
SECRET = "secret-case-apt.com"  # only case A monitors it
SIBLING = "a-sibling-case.com"  # case A's too: its alert may name SECRET
B_SITE = "b-customer-site.net"
T2_SITE = "t2-tenant-site.org"
CDN = "shared-cdn-edge.net"  # monitored by A, B and the other workspace: one alert, three channels


def everything(messages: Iterable[Message]) -> str:
    return "\n".join(render_text(m) for m in messages)


def posted_to(api: ApiHarness, channel_id: str) -> str:
    return everything(p.message for p in api.transport.posts if p.channel_id == channel_id)


async def say(api: ApiHarness, text: str, caller: Caller) -> str:
    result = await api.services.flows.execute(text, caller)
    shown = [result.reply] + (await result.follow_up() if result.follow_up else [])
    return everything(shown)


async def overlapping(make_api: MakeApi, receiver: WebhookReceiver, scope: ShareScope) -> ApiHarness:
    """Three channels set up, then one check in which every one of their domains moves to
    ADDRESS, where SECRET has been all along; alerts and webhooks delivered."""
    api = await make_api(
        share_scope=scope,
        webhook_url=Secret(receiver.url("operator")),
        webhook_urls=(
            (CASE_A.channel_id, Secret(receiver.url("case-a"))),
            (CASE_B.channel_id, Secret(receiver.url("case-b"))),
        ),
        webhook_secret=Secret(WEBHOOK_SECRET),
    )
    api.dataset.facts[SECRET] = {("A", ADDRESS)}
    for caller, indicators in (
        (CASE_A, (SECRET, SIBLING, CDN)),
        (CASE_B, (B_SITE, CDN)),
        (OTHER_WORKSPACE, (T2_SITE, CDN)),
    ):
        for indicator in indicators:
            assert "Baseline" in await say(api, indicator, caller)
    for domain in (SIBLING, B_SITE, T2_SITE, CDN):
        api.dataset.facts[domain] = {("A", ADDRESS)}
    api.dataset.facts[SECRET] = {("A", ADDRESS)}
    api.clock.advance(seconds=api.services.settings.check_interval * 1.5 + 1)
    await api.run_checks()
    while (await api.services.outbox.deliver_due()).sent:
        pass  # one alert per channel per tick
    assert api.services.receivers is not None
    await api.services.receivers.deliver_due()
    return api


def webhook_bodies(receiver: WebhookReceiver, path: str) -> list[dict[str, object]]:
    return [d.json for d in receiver.received if d.path == f"/{path}" and d.valid]


async def test_walls_channel_scope_keeps_case_a_out_of_case_b_and_the_other_workspace(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await overlapping(make_api, webhook_receiver, ShareScope.CHANNEL)

    # Case A's own alert names its own indicator: the walls do not hide a channel from itself.
    in_a = posted_to(api, CASE_A.channel_id)
    assert f"`{ADDRESS}` with `{SECRET}`" in in_a and "shares" in in_a
    # Case B and the other workspace: alerted of their own domains, told nothing of A's.
    for caller, own in ((CASE_B, B_SITE), (OTHER_WORKSPACE, T2_SITE)):
        shown = everything(
            p.message
            for p in api.transport.posts
            if p.channel_id == caller.channel_id and own in render_text(p.message)
        )
        assert own in shown, f"no alert of {own}"
        assert SECRET not in shown and SIBLING not in shown and CASE_A.channel_id not in shown
    b_alerts = posted_to(api, CASE_B.channel_id)
    assert SECRET not in b_alerts and SIBLING not in b_alerts and CASE_A.channel_id not in b_alerts

    # Investigations: A sees its monitors named in its own channel; B and T2 see none of them.
    pivots = api.services.flows.pivots
    from_a = everything(
        [(await pivots.investigate(ADDRESS, team_id="T1", channel_id=CASE_A.channel_id)).reply]
    )
    assert SECRET in from_a and f"#{CASE_A.channel_id}" in from_a
    from_b = everything(
        [(await pivots.investigate(ADDRESS, team_id="T1", channel_id=CASE_B.channel_id)).reply]
    )
    assert B_SITE in from_b
    assert SECRET not in from_b and SIBLING not in from_b and CASE_A.channel_id not in from_b
    from_t2 = everything(
        [(await pivots.investigate(ADDRESS, team_id="T2", channel_id=OTHER_WORKSPACE.channel_id)).reply]
    )
    assert T2_SITE in from_t2 and SECRET not in from_t2 and B_SITE not in from_t2
    # Investigating A's secret itself from B: not "monitored in #case-a", and B may monitor it.
    of_secret = await pivots.investigate(SECRET, team_id="T1", channel_id=CASE_B.channel_id)
    assert CASE_A.channel_id not in everything([of_secret.reply]) and of_secret.files == ()
    assert "not monitored here yet" in everything([of_secret.reply])

    # Status and history of B's indicators, B's App Home and B's digest: nothing of A.
    for text in (f"status {B_SITE}", f"history {B_SITE}", f"status {CDN}", f"history {CDN}"):
        assert SECRET not in await say(api, text, CASE_B)
    home = await pivots.home_blocks(team_id="T1", user_id=CASE_B.user_id, channel_ids={CASE_B.channel_id})
    assert B_SITE in str(home) and SECRET not in str(home) and CASE_A.channel_id not in str(home)
    assert api.services.digests is not None
    api.clock.advance(minutes=1)
    await api.services.digests.post_digest_now("T1", CASE_B.channel_id)
    digest = [
        u.content.decode()
        for u in api.transport.uploads
        if u.channel_id == CASE_B.channel_id and u.filename.endswith(".csv")
    ]
    assert any(B_SITE in csv for csv in digest) and not any(SECRET in csv for csv in digest)

    # Webhooks: B's lists B only; the operator's global one lists every channel it went to.
    [cdn_to_b] = [b for b in webhook_bodies(webhook_receiver, "case-b") if b["alert"]["indicator"] == CDN]
    assert [c["channel"] for c in cdn_to_b["alert"]["channels"]] == [CASE_B.channel_id]
    assert CASE_A.channel_id not in str(cdn_to_b) and SECRET not in str(cdn_to_b)
    [cdn_to_all] = [b for b in webhook_bodies(webhook_receiver, "operator") if b["alert"]["indicator"] == CDN]
    channels = sorted((c["team"], c["channel"]) for c in cdn_to_all["alert"]["channels"])
    assert channels == [("T1", "C0CASEA"), ("T1", "C0CASEB"), ("T2", "C0CASET2")]


async def test_walls_workspace_scope_shares_unnamed_and_never_across_workspaces(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await overlapping(make_api, webhook_receiver, ShareScope.WORKSPACE)

    # B learns that its domain shares A's address, never in which channel A works.
    b_alerts = posted_to(api, CASE_B.channel_id)
    assert f"`{ADDRESS}` with `{SECRET}`" in b_alerts
    assert CASE_A.channel_id not in b_alerts
    pivots = api.services.flows.pivots
    from_b = everything(
        [(await pivots.investigate(ADDRESS, team_id="T1", channel_id=CASE_B.channel_id)).reply]
    )
    assert f"`{SECRET}` (in another channel of this workspace)" in from_b
    assert CASE_A.channel_id not in from_b
    of_secret = everything(
        [(await pivots.investigate(SECRET, team_id="T1", channel_id=CASE_B.channel_id)).reply]
    )
    assert (
        "monitored in another channel of this workspace" in of_secret and CASE_A.channel_id not in of_secret
    )

    # The other workspace shares nothing with T1, whatever the scope.
    t2_alerts = posted_to(api, OTHER_WORKSPACE.channel_id)
    t2_alerts_own = everything(
        p.message
        for p in api.transport.posts
        if p.channel_id == OTHER_WORKSPACE.channel_id and T2_SITE in render_text(p.message)
    )
    assert T2_SITE in t2_alerts_own and SECRET not in t2_alerts_own and B_SITE not in t2_alerts_own
    from_t2 = everything(
        [(await pivots.investigate(ADDRESS, team_id="T2", channel_id=OTHER_WORKSPACE.channel_id)).reply]
    )
    assert SECRET not in from_t2 and B_SITE not in from_t2 and SIBLING not in from_t2
    assert len(t2_alerts) > 0
    # Even asking from a channel whose id is case A's, in another workspace.
    same_id = everything(
        [(await pivots.investigate(ADDRESS, team_id="T2", channel_id=CASE_A.channel_id)).reply]
    )
    assert SECRET not in same_id and SIBLING not in same_id and T2_SITE in same_id

    # A channel's webhook stays its own in the workspace scope too.
    for body in webhook_bodies(webhook_receiver, "case-b"):
        assert [c["channel"] for c in body["alert"]["channels"]] == [CASE_B.channel_id]


class RetiredSourceDataset:
    """`resolutions` as an earlier version read an IP: passive DNS from "mnemonic" and,
    from the bot's observed resolutions ("watchpost"), a domain another channel monitors.
    `sources` maps a source to the (field, value) pairs it reads for every indicator."""

    name = "resolutions"

    def __init__(self) -> None:
        self.sources: dict[str, set[tuple[str, str]]] = {}

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind is IndicatorKind.IP

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        reads = tuple(
            SourceRead.of(source, {"domain"}, [Fact(f, v, source) for f, v in pairs])
            for source, pairs in sorted(self.sources.items())
        )
        facts = frozenset(Fact(f, v, source) for source, pairs in self.sources.items() for f, v in pairs)
        return Observation(self.name, facts, frozenset({"domain"}), reads=reads)


@pytest.mark.parametrize("stays_away", [1, 3])
async def test_walls_observed_facts_stored_before_leave_without_an_alert_and_are_never_shown(
    store: Database, stays_away: int
) -> None:
    clock = FakeClock()
    dataset = RetiredSourceDataset()
    runner = Runner([dataset], store, clock=clock)
    dataset.sources = {"mnemonic": {("domain", "old-site.com")}, OBSERVED_SOURCE: {("domain", SECRET)}}
    store.monitors.add(
        team_id="T1",
        channel_id=CASE_B.channel_id,
        user_id="U0BOB",
        indicators=[(ADDRESS, IndicatorKind.IP)],
        now=clock.now,
    )
    subject = store.monitors.subject(ADDRESS)
    assert subject is not None
    await runner.check(subject)  # the baseline, as the earlier version stored it
    stored = [(f.value, f.source) for h in store.checks.dataset_health(subject.id) for f in h.facts]
    assert stored == [("old-site.com", "mnemonic")]  # never shown, though still open

    # This version: the source is gone. The fact closes, and no channel hears of it.
    del dataset.sources[OBSERVED_SOURCE]
    for _ in range(stays_away):
        clock.advance(hours=2)
        report = await runner.check(subject)
        assert report.changes == []
    assert store.outbox.claim(now=clock.now, lease=timedelta(minutes=1), limit=10) == []
    assert SECRET not in str(store.history.history(subject.id)) and SECRET not in str(
        store.history.intervals(subject.id)
    )
    store.close()


def shown_in(api: ApiHarness, channel_id: str, ts: str) -> str:
    return render_text(api.transport.shown(channel_id, ts))


async def deliveries_of(api: ApiHarness, alert_id: int) -> dict[str, dict[str, object]]:
    status, body = await api.call("GET", "/api/v1/deliveries", params={"alert": str(alert_id)})
    assert status == 200, body
    return {d["channel"]: d for d in body["deliveries"]}


async def test_walls_triage_in_one_channel_leaves_every_other_channel_untouched(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    """Acknowledge, false positive, refine, lift, snooze and accept in one channel: the
    other channels' messages, triage and suppressions stay as they were."""
    api = await overlapping(make_api, webhook_receiver, ShareScope.CHANNEL)
    triage = api.services.triage
    assert triage is not None
    [in_a] = [p for p in api.transport.posts if p.channel_id == CASE_A.channel_id and CDN in p.message.text]
    [in_b] = [p for p in api.transport.posts if p.channel_id == CASE_B.channel_id and CDN in p.message.text]
    [in_t2] = [
        p for p in api.transport.posts if p.channel_id == OTHER_WORKSPACE.channel_id and CDN in p.message.text
    ]
    _, page = await api.call("GET", "/api/v1/alerts", params={"indicator": CDN})
    [alert] = page["alerts"]
    untouched = {
        c: shown_in(api, c, ts)
        for c, ts in ((CASE_B.channel_id, in_b.ts), (OTHER_WORKSPACE.channel_id, in_t2.ts))
    }

    def others_untouched() -> None:
        for channel_id, ts in ((CASE_B.channel_id, in_b.ts), (OTHER_WORKSPACE.channel_id, in_t2.ts)):
            assert shown_in(api, channel_id, ts) == untouched[channel_id], channel_id

    # Acknowledged in A: A's message says who; B's and T2's do not change.
    await triage.set_state_on_message(CASE_A.channel_id, in_a.ts, TriageState.ACKNOWLEDGED, CASE_A)
    assert f"Acknowledged by @{CASE_A.user_id}" in shown_in(api, CASE_A.channel_id, in_a.ts)
    others_untouched()
    states = await deliveries_of(api, alert["id"])
    assert states[CASE_A.channel_id]["triage"]["state"] == "acknowledged"
    assert states[CASE_B.channel_id]["triage"]["state"] == "open"
    assert states[OTHER_WORKSPACE.channel_id]["triage"]["state"] == "open"

    # False positive in A, refined: A's suppressions only; B's list stays empty.
    await triage.set_state_on_message(CASE_A.channel_id, in_a.ts, TriageState.FALSE_POSITIVE, CASE_A)
    await triage.refine_false_positive(
        CASE_A.channel_id, in_a.ts, CASE_A, reason="sinkhole", duration=timedelta(days=90)
    )
    assert "False positive: sinkhole" in shown_in(api, CASE_A.channel_id, in_a.ts)
    others_untouched()
    assert "suppressed here" not in shown_in(api, CASE_B.channel_id, in_b.ts)
    in_force_b = await say(api, "suppressions", CASE_B)
    assert CDN not in in_force_b and ADDRESS not in in_force_b
    in_force_a = await say(api, "suppressions", CASE_A)
    assert ADDRESS in in_force_a

    # B's owner marks B's copy false positive; A acknowledging its own copy again (which
    # leaves A's false positive) lifts A's suppressions, never B's.
    await triage.set_state_on_message(CASE_B.channel_id, in_b.ts, TriageState.FALSE_POSITIVE, CASE_B)
    b_view = shown_in(api, CASE_B.channel_id, in_b.ts)
    await triage.set_state_on_message(CASE_A.channel_id, in_a.ts, TriageState.ACKNOWLEDGED, CASE_A)
    assert ADDRESS not in await say(api, "suppressions", CASE_A)
    assert ADDRESS in await say(api, "suppressions", CASE_B)
    assert shown_in(api, CASE_B.channel_id, in_b.ts) == b_view
    states = await deliveries_of(api, alert["id"])
    assert states[CASE_B.channel_id]["triage"]["state"] == "false_positive"
    assert states[CASE_A.channel_id]["triage"]["state"] == "acknowledged"

    # Lift B's suppression from B: A's copy and T2's are not edited.
    a_view = shown_in(api, CASE_A.channel_id, in_a.ts)
    suppression_ids = [
        s.id
        for s in api.services.db.triage.active(now=api.clock.now, team_id="T1", channel_id=CASE_B.channel_id)
        if s.id
    ]
    assert suppression_ids
    lifted = await triage.lift(suppression_ids[0], CASE_B)
    await triage.after_lift(lifted)
    assert shown_in(api, CASE_A.channel_id, in_a.ts) == a_view
    assert shown_in(api, OTHER_WORKSPACE.channel_id, in_t2.ts) == untouched[OTHER_WORKSPACE.channel_id]

    # Snoozed in A: A's monitor only; T2's copy unchanged, B's monitor not snoozed.
    await triage.snooze_on_message(CASE_A.channel_id, in_a.ts, CASE_A, timedelta(days=1))
    assert "Snoozed" in shown_in(api, CASE_A.channel_id, in_a.ts) or "snoozed" in shown_in(
        api, CASE_A.channel_id, in_a.ts
    )
    assert "snooze" not in (await say(api, "suppressions", CASE_B)).lower()
    assert shown_in(api, OTHER_WORKSPACE.channel_id, in_t2.ts) == untouched[OTHER_WORKSPACE.channel_id]

    # Accepted as the new baseline in the other workspace: nobody else's copy moves.
    a_view, b_view = shown_in(api, CASE_A.channel_id, in_a.ts), shown_in(api, CASE_B.channel_id, in_b.ts)
    await triage.set_state_on_message(
        OTHER_WORKSPACE.channel_id, in_t2.ts, TriageState.EXPECTED, OTHER_WORKSPACE
    )
    assert shown_in(api, CASE_A.channel_id, in_a.ts) == a_view
    assert shown_in(api, CASE_B.channel_id, in_b.ts) == b_view
    states = await deliveries_of(api, alert["id"])
    assert [
        states[c]["triage"]["state"]
        for c in (CASE_A.channel_id, CASE_B.channel_id, OTHER_WORKSPACE.channel_id)
    ] == [
        "acknowledged",
        "false_positive",
        "expected",
    ]


async def test_walls_api_patches_one_delivery_and_channel_webhooks_carry_their_own(
    make_api: MakeApi, webhook_receiver: WebhookReceiver
) -> None:
    api = await overlapping(make_api, webhook_receiver, ShareScope.CHANNEL)
    [in_a] = [p for p in api.transport.posts if p.channel_id == CASE_A.channel_id and CDN in p.message.text]
    [in_b] = [p for p in api.transport.posts if p.channel_id == CASE_B.channel_id and CDN in p.message.text]
    status, page = await api.call("GET", "/api/v1/alerts", params={"indicator": CDN})
    [alert] = page["alerts"]
    deliveries = await deliveries_of(api, alert["id"])
    assert set(deliveries) == {CASE_A.channel_id, CASE_B.channel_id, OTHER_WORKSPACE.channel_id}
    b_id = deliveries[CASE_B.channel_id]["id"]
    a_before = shown_in(api, CASE_A.channel_id, in_a.ts)

    status, body = await api.call(
        "PATCH", f"/api/v1/deliveries/{b_id}", json={"triage": {"state": "acknowledged", "reason": "on it"}}
    )
    assert status == 200, body
    assert body["id"] == b_id and body["channel"] == CASE_B.channel_id
    assert body["triage"]["state"] == "acknowledged" and body["triage"]["by"] == "api:soar"
    assert "Acknowledged by" in shown_in(api, CASE_B.channel_id, in_b.ts)
    assert shown_in(api, CASE_A.channel_id, in_a.ts) == a_before
    status, page = await api.call("GET", "/api/v1/deliveries", params={"state": "acknowledged"})
    assert [d["id"] for d in page["deliveries"]] == [b_id]
    status, page = await api.call(
        "GET", "/api/v1/deliveries", params={"channel": CASE_A.channel_id, "state": "open"}
    )
    assert CDN in [d["indicator"] for d in page["deliveries"]]
    # The alert's own triage is the channels' common state: they differ, so open.
    status, one = await api.call("GET", "/api/v1/alerts", params={"indicator": CDN})
    assert one["alerts"][0]["triage"]["state"] == "open"
    by_channel = {c["channel"]: c for c in one["alerts"][0]["channels"]}
    assert by_channel[CASE_B.channel_id]["triage"]["state"] == "acknowledged"
    assert by_channel[CASE_A.channel_id]["triage"]["state"] == "open"

    # Bad input changes nothing.
    for bad in ({"triage": {"state": "closed"}}, {"state": "acknowledged"}):
        status, _ = await api.call("PATCH", f"/api/v1/deliveries/{b_id}", json=bad)
        assert status == 400
    status, _ = await api.call("PATCH", "/api/v1/deliveries/999999", json={"triage": {"state": "open"}})
    assert status == 404
    status, _ = await api.call("GET", "/api/v1/deliveries", params={"state": "closed"})
    assert status == 400

    # B's webhook carried B's delivery and nothing of the others'.
    [cdn_to_b] = [b for b in webhook_bodies(webhook_receiver, "case-b") if b["alert"]["indicator"] == CDN]
    assert [c["delivery"] for c in cdn_to_b["alert"]["channels"]] == [b_id]
    for other in (CASE_A.channel_id, OTHER_WORKSPACE.channel_id):
        assert str(deliveries[other]["id"]) not in str([c["delivery"] for c in cdn_to_b["alert"]["channels"]])
