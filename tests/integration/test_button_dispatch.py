"""The one button dispatcher (bot/commands/buttons.py) over real storage, the real outbox
and Slack transport against the fake Slack Web API: the words and rules every surface
shares (the console and Slack's listeners only show its PressOutcome)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.alerts.delivery.outbox import OutboxWorker
from bot.commands.buttons import (
    DOES_NOTHING,
    NO_TRIAGE,
    OTHER_ALERT,
    ButtonDispatcher,
    Press,
    PressOutcome,
    Submission,
)
from bot.commands.flows import MonitorFlows
from bot.core.access import AccessPolicy
from bot.core.message import Message, actions, button
from bot.core.observations import IndicatorKind
from bot.core.text import render_text
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from bot.storage.rate_limits import LocalRateLimiter, RateLimit
from bot.surfaces.console import Console, ConsoleTransport
from bot.triage.flows.deliveries import TriageFlows
from bot.triage.messages import DURATION_ACTION, FALSE_POSITIVE_MODAL, REASON_ACTION
from bot.triage.model import TriageState
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.integration.test_outbox_slack import slack_transport
from tests.integration.test_triage import ADMIN, COLLEAGUE, IP, OWNER, Bot, TableDataset


@pytest_asyncio.fixture
async def alerted(store: Database, slack_api: FakeSlackApi) -> AsyncIterator[tuple[Bot, SlackMessage]]:
    """A bot whose monitor of IP (OWNER's) has posted one alert."""
    clock = FakeClock()
    resolutions = TableDataset("resolutions", (IndicatorKind.IP, IndicatorKind.DOMAIN), frozenset({"domain"}))
    runner = Runner([resolutions], store, clock=clock)
    access = AccessPolicy(admins=frozenset({ADMIN.user_id}))
    transport = slack_transport(slack_api)
    triage = TriageFlows(store, transport, clock=clock, access=access)
    flows = MonitorFlows(store, runner, clock=clock, access=access, on_lifted=triage.after_lift)
    resolutions.facts[IP] = {("domain", "evil-example.com")}
    bot = Bot(
        store,
        flows,
        triage,
        OutboxWorker(store, transport, clock=clock),
        runner,
        resolutions,
        clock,
        slack_api,
    )
    assert "Baseline" in await bot.say(IP)
    await bot.found("evil-example.com", "cdn-edge.example")
    [alert] = bot.top_level()
    yield bot, alert
    store.close()


def answer(outcome: PressOutcome) -> str:
    assert outcome.result is not None
    return render_text(outcome.result.reply)


def on_alert(alert: SlackMessage, action_id: str, value: str) -> Press:
    return Press(action_id, value, OWNER, message_ts=alert.ts)


async def test_dispatch_triage_buttons_store_the_state_and_say_so(alerted: tuple[Bot, SlackMessage]) -> None:
    bot, alert = alerted
    buttons = ButtonDispatcher(bot.flows, bot.triage)
    acked = await buttons.press(on_alert(alert, "ack", IP))
    assert answer(acked) == "Alert marked acknowledged."
    assert (await bot.triage.message(alert.channel, alert.ts)).triage.state is TriageState.ACKNOWLEDGED

    snoozed = await buttons.press(on_alert(alert, "snooze_7d", "7d"))
    assert re.fullmatch(
        r"Snoozed until \d{4}-\d\d-\d\d \d\d:\d\d UTC: no alerts from it here till then\.", answer(snoozed)
    )

    marked = await buttons.press(on_alert(alert, "false_positive", IP))
    assert "quiet here for 30d, both ways" in answer(marked)
    assert marked.result is not None
    (refine,) = [e for b in marked.result.reply.blocks if b["type"] == "actions" for e in b["elements"]]
    assert refine["action_id"] == "refine_false_positive"
    assert json.loads(refine["value"]) == {"c": alert.channel, "ts": alert.ts}

    opened = await buttons.press(Press(refine["action_id"], refine["value"], OWNER, message_ts="1.000001"))
    assert opened.form is not None and (opened.form.channel_id, opened.form.message_ts) == (
        alert.channel,
        alert.ts,
    )
    view = opened.form.view("sealed-target")
    assert view["private_metadata"] == "sealed-target" and view["callback_id"] == FALSE_POSITIVE_MODAL

    chosen = {REASON_ACTION: "sinkhole", DURATION_ACTION: "90d"}
    refined = await buttons.submit(Submission(FALSE_POSITIVE_MODAL, OWNER, alert.ts, chosen))
    assert refined == PressOutcome()
    assert (await bot.triage.message(alert.channel, alert.ts)).triage.reason == "sinkhole"


@pytest.mark.parametrize(
    ("action_id", "value", "said"),
    [
        ("ack", "45.77.10.20", OTHER_ALERT),  # a button of another alert
        ("false_positive", "45.77.10.20", OTHER_ALERT),
        ("snooze", "3h", "Snooze for 1d, 1w, 30d: nothing was changed."),
        ("mute_dataset_0", "not json", "This button is broken: it names no dataset."),
        ("lift_suppression_2", "two", "This button is broken: it names no suppression."),
        ("all_values_1", "{", "This button is broken: it names no indicator."),
        ("refine_false_positive", json.dumps({"c": "C0INTEL"}), "This button is broken: it names no alert."),
        ("launch_missiles", IP, DOES_NOTHING),
    ],
)
async def test_dispatch_refuses_a_broken_or_foreign_press_and_changes_nothing(
    alerted: tuple[Bot, SlackMessage], action_id: str, value: str, said: str
) -> None:
    bot, alert = alerted
    outcome = await ButtonDispatcher(bot.flows, bot.triage).press(on_alert(alert, action_id, value))
    assert said in answer(outcome)
    assert outcome.result is not None and not outcome.result.public
    assert (outcome.updated, outcome.form, outcome.thread, outcome.then) == (None, None, None, None)
    assert (await bot.triage.message(alert.channel, alert.ts)).triage.state is TriageState.OPEN


async def test_dispatch_triage_buttons_without_triage_say_it_is_not_available(
    alerted: tuple[Bot, SlackMessage],
) -> None:
    bot, alert = alerted
    buttons = ButtonDispatcher(bot.flows)
    for action_id in ("ack", "false_positive", "accept_baseline", "refine_false_positive"):
        assert NO_TRIAGE in answer(await buttons.press(on_alert(alert, action_id, IP)))
    assert "Snoozing is not available" in answer(await buttons.press(on_alert(alert, "snooze", "1d")))
    assert await buttons.submit(Submission(FALSE_POSITIVE_MODAL, OWNER, alert.ts, {})) == PressOutcome()


async def test_dispatch_form_refusals_go_to_the_submitter_and_change_nothing(
    alerted: tuple[Bot, SlackMessage],
) -> None:
    bot, alert = alerted
    buttons = ButtonDispatcher(bot.flows, bot.triage)
    await buttons.press(on_alert(alert, "false_positive", IP))
    unreadable = await buttons.submit(Submission(FALSE_POSITIVE_MODAL, OWNER, alert.ts, {REASON_ACTION: "x"}))
    assert unreadable == PressOutcome()
    chosen = {REASON_ACTION: "sinkhole", DURATION_ACTION: "90d"}
    refused = await buttons.submit(Submission(FALSE_POSITIVE_MODAL, COLLEAGUE, alert.ts, chosen))
    assert f"Only @{OWNER.user_id}, who added" in answer(refused)
    bad_duration = {REASON_ACTION: "sinkhole", DURATION_ACTION: "2w0"}
    assert "Unknown duration" in answer(
        await buttons.submit(Submission(FALSE_POSITIVE_MODAL, OWNER, alert.ts, bad_duration))
    )
    assert (await bot.triage.message(alert.channel, alert.ts)).triage.reason != "sinkhole"


async def test_dispatch_investigation_is_said_at_once_then_posted_for_the_thread(
    alerted: tuple[Bot, SlackMessage],
) -> None:
    bot, alert = alerted
    outcome = await ButtonDispatcher(bot.flows, bot.triage).press(on_alert(alert, "investigate_0", IP))
    assert answer(outcome) == f"Investigating {IP}… (results in the thread)"
    assert outcome.then is not None and outcome.thread is None
    later = await outcome.then()
    assert later.thread is not None and later.thread.public and later.result is None


async def test_dispatch_command_buttons_count_against_the_command_rate(
    alerted: tuple[Bot, SlackMessage],
) -> None:
    bot, alert = alerted
    bot.flows.rate_limit = LocalRateLimiter(RateLimit(1))
    buttons = ButtonDispatcher(bot.flows, bot.triage)
    assert "Now monitoring" in answer(
        await buttons.press(on_alert(alert, "monitor_indicator_0", "45.77.10.20"))
    )
    slowed = await buttons.press(on_alert(alert, "investigate_0", IP))
    assert "Slow down" in answer(slowed) and slowed.then is None
    # Triage is no command: not counted, not held.
    assert answer(await buttons.press(on_alert(alert, "ack", IP))) == "Alert marked acknowledged."


async def test_dispatch_console_shows_the_same_words_and_no_form(
    alerted: tuple[Bot, SlackMessage], tmp_path: Path
) -> None:
    """The console presses the same dispatcher: Slack's words, and a form it cannot show."""
    bot, alert = alerted
    out = io.StringIO()
    screen = ConsoleTransport(out, files_dir=tmp_path, names={})
    console = Console(bot.flows, screen, OWNER, triage=bot.triage)
    refine = button("Refine", "refine_false_positive", json.dumps({"c": alert.channel, "ts": alert.ts}))
    await screen.post(
        OWNER.channel_id,
        Message("notice", [actions([button(f"Investigate {IP}", "investigate_0", IP), refine])]),
    )
    await console.handle("1")
    shown = out.getvalue()
    assert f"Investigating {IP}… (results in the thread)" in shown
    assert shown.index("Investigating") < shown.index(
        '--- investigation in the thread of the message "notice" ---'
    )
    await console.handle("press 2")
    assert "This button opens a form, which only Slack can show: nothing was changed." in out.getvalue()
