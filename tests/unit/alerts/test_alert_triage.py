"""The alert's triage on its message (pure): the buttons that still apply, who did what
and when, the thread's count, and the list of what is silenced; always within Block Kit's
limits, and untrusted text (a reason typed over the API) escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.alerts.messages.alerts import AlertStatus, build_alert_message
from bot.commands.messages.home import HomeRow, OpenAlertRow, build_home_blocks
from bot.commands.messages.replies import build_suppressions_message
from bot.core.limits import block_kit_violations
from bot.core.message import Message
from bot.core.observations import Change, ChangeKind, IndicatorKind
from bot.triage.messages import build_false_positive_modal
from bot.triage.model import SuppressionKind, SuppressionView, Triage, TriageState

NOW = datetime(2026, 12, 1, 9, 12, tzinfo=UTC)
IP = "98.126.38.107"
CHANGES = [
    Change("resolutions", ChangeKind.ADDED, "domain", None, "www.interfaxru.com", "mnemonic"),
    Change("whois", ChangeKind.CHANGED, "registrar", "A", "B", "rdap"),
]


def alert(status: AlertStatus | None = None, *, follow_up: bool = False) -> Message:
    message = build_alert_message(
        IP, IndicatorKind.IP, CHANGES, detected_at=NOW, status=status, follow_up=follow_up
    )
    assert block_kit_violations(message) == []
    return message


def action_ids(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def contexts(message: Message) -> str:
    return "\n".join(e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"])


def test_open_alert_offers_every_triage_button_once() -> None:
    ids = action_ids(alert())
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not i.startswith(("investigate", "monitor_indicator"))] == [
        "ack",
        "false_positive",
        "snooze",
        "snooze_7d",
        "snooze_30d",
        "mute_dataset_0",
        "mute_dataset_1",
        "accept_baseline",
    ]


def test_acknowledged_alert_says_who_and_drops_acknowledge() -> None:
    message = alert(AlertStatus(Triage(TriageState.ACKNOWLEDGED, "U0ANALYST", NOW)))
    assert "ack" not in action_ids(message) and "false_positive" in action_ids(message)
    assert ":eyes: Acknowledged by <@U0ANALYST> on 2026-12-01 09:12 UTC" in contexts(message)


def test_closed_alert_keeps_its_content_and_loses_its_buttons() -> None:
    hostile = Triage(TriageState.FALSE_POSITIVE, "api:soar", NOW, "<!channel> sinkhole & co")
    message = alert(AlertStatus(hostile, suppressed_until=NOW + timedelta(days=30)))
    assert action_ids(message) == []
    text = contexts(message)
    assert "False positive: &lt;!channel&gt; sinkhole &amp; co, marked by `api:soar`" in text
    assert "suppressed here until 2026-12-31 09:12 UTC" in text and "<!channel>" not in text
    assert "www.interfaxru.com" in str(message.blocks)
    expected = alert(AlertStatus(Triage(TriageState.EXPECTED, "U0ANALYST", NOW)))
    assert action_ids(expected) == [] and "Accepted as the new baseline by <@U0ANALYST>" in contexts(expected)


def test_alert_counts_its_follow_ups_and_shows_a_snooze() -> None:
    status = AlertStatus(
        follow_up_count=2, follow_up_changes=3, snoozed_until=NOW + timedelta(days=7), snoozed_by="U0B"
    )
    text = contexts(alert(status))
    assert ":thread: 3 changes since 09:12 UTC, in the thread" in text
    assert ":zzz: This monitor is snoozed by <@U0B> until 2026-12-08 09:12 UTC" in text


def test_follow_up_has_pivots_and_no_triage() -> None:
    message = alert(follow_up=True)
    assert message.blocks[0]["text"]["text"].startswith("Follow-up on 98[.]126[.]38[.]107")
    assert action_ids(message) == ["investigate_0", "monitor_indicator_0"]


def test_suppressions_list_fits_and_offers_a_lift_button_per_suppression() -> None:
    views = [
        SuppressionView(
            n + 1,
            SuppressionKind.VALUE,
            IP,
            "T1",
            "C1",
            "U0OWNER",
            "resolutions",
            f"cdn{n}.example",
            "CDN or shared hosting",
            "U0OWNER",
            NOW,
            NOW + timedelta(days=30),
        )
        for n in range(60)
    ]
    views.append(
        SuppressionView(
            61, SuppressionKind.MUTE, IP, "T1", "C1", "U0OWNER", "whois", None, None, "U0OWNER", NOW, None
        )
    )
    message = build_suppressions_message(views, now=NOW)
    assert block_kit_violations(message) == []
    lifts = [b["accessory"] for b in message.blocks if "accessory" in b]
    assert len(lifts) == 40 and lifts[0]["value"] == "1" and lifts[0]["action_id"] == "lift_suppression_0"
    assert "…and 21 more" in str(message.blocks)
    only_mute = build_suppressions_message(views[-1:], now=NOW)
    assert "until unmuted" in str(only_mute.blocks) and "/monitor unmute 98.126.38.107 whois" in str(
        only_mute.blocks
    )
    # A mute until unmuted is lifted by its number like any other.
    assert [b["accessory"]["value"] for b in only_mute.blocks if "accessory" in b] == ["61"]


def test_home_with_open_alerts_and_many_monitors_stays_within_100_blocks() -> None:
    rows = [HomeRow(f"d{n}.example", "domain", ("C1",), (), NOW, 1) for n in range(300)]
    alerts = [
        OpenAlertRow(f"d{n}.example", "C1", NOW - timedelta(hours=n), 2, "U0A" if n % 2 else None)
        for n in range(30)
    ]
    blocks = build_home_blocks(rows, now=NOW, timezone=UTC, open_alerts=alerts)
    assert len(blocks) == 100
    text = blocks[2]["text"]["text"]
    assert text.startswith("*Open alerts* (30, 15 unassigned)") and "…and 15 more" in text
    assert text.splitlines()[1].endswith(":new: unassigned") and len(text) <= 3000


def test_alert_story_says_how_often_and_what_is_shared_escaped() -> None:
    first = contexts(alert(AlertStatus(previous_alerts=0)))
    assert ":new: first alert on this indicator" in first
    status = AlertStatus(
        previous_alerts=3,
        last_alert_before=NOW - timedelta(days=4),
        datasets_day_before=("whois",),
        shared=(("other.example", "<!here>"),),
    )
    text = contexts(alert(status))
    assert "3 earlier alerts, the last 4 days before · alerted in the day before: whois" in text
    assert ":link: shares `&lt;!here&gt;` with `other.example`" in text and "<!here>" not in text
    assert "earlier alert" not in contexts(alert())  # unknown: nothing said


def test_shared_host_makes_one_summarised_alert_with_eight_buttons_at_most() -> None:
    names = [
        Change("resolutions", ChangeKind.ADDED, "domain", None, f"site{n}.evil-host.com", "mnemonic")
        for n in range(60)
    ]
    message = build_alert_message(
        IP, IndicatorKind.IP, names, detected_at=NOW, status=AlertStatus(names_on_host=187)
    )
    assert block_kit_violations(message) == []
    text = str(message.blocks)
    assert (
        ":office: *Shared host*: 187 names are known on `98.126.38.107`, so its 60 new names make one alert"
        in text
    )
    ids = action_ids(message)
    assert not [i for i in ids if i.startswith(("investigate", "monitor_indicator"))]
    assert len(ids) <= 8 and ids[0] == "all_values"
    assert {"ack", "false_positive"} <= set(ids)
    listed = "".join(str(m.blocks) for m in message.thread_messages)
    assert all(f"site{n}.evil-host.com" in listed for n in range(60))
    ordinary = build_alert_message(IP, IndicatorKind.IP, names, detected_at=NOW)
    assert "Shared host" not in str(ordinary.blocks)


def test_false_positive_modal_preselects_the_current_choice_within_limits() -> None:
    view = build_false_positive_modal("sealed-target", reason="sinkhole", duration=timedelta(days=30))
    assert block_kit_violations(Message("modal", view["blocks"]), max_blocks=100) == []
    assert view["callback_id"] == "false_positive_refine" and view["private_metadata"] == "sealed-target"
    reason, duration = (b["element"] for b in view["blocks"])
    assert reason["initial_option"]["value"] == "sinkhole" and duration["initial_option"]["value"] == "30d"
    assert [o["value"] for o in duration["options"]] == ["1w", "30d", "90d", "365d"]
