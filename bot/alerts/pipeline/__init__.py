"""Alert policy: every decision about whether a change is alerted, and where, as named
stages in one pipeline (the shape of Prometheus Alertmanager's notification pipeline).
"Why was this not sent?" is answered here and nowhere else.

A check's changes pass two kinds of stage, in order:

1. check stages (`CheckStage`), once per check, for every channel alike: noise rules that
   need the check's changes together mark changes `alert=False` (kept for history and the
   digest, not alerted), listed in `CHECK_STAGES`. Today: `same_asn`
   (bot/alerts/pipeline/same_asn.py), on request.
2. channel stages (`ChannelStage`), once per monitor of the subject, inside the check's
   transaction: each keeps the changes still worth an alert in that channel: `mute`
   (bot/alerts/pipeline/mute.py; mutes until unmuted and timed ones), `snooze` (snooze.py: the
   whole monitor for a while) and `suppress` (suppress.py: values marked false positive).
   Every change a channel stage drops is named in `Routed.silenced_changes`, which storage
   keeps (bot/triage/store.py), so history and the digest show what was silenced.

A lookalike or keyword watch's match (a finding, or a later certificate of one) passes
the finding stages (`FindingStage`), per channel: `mute` and `snooze` again, each keeping
the watches behind the match that are not muted / snoozed there. The match is alerted if
any watch is left; otherwise it is stored as silenced by the stage that dropped the last
one (bot/watches/store/lookalikes.py). "Not a lookalike" stays the per-domain suppression
(a dismissed domain stores nothing). The check stages do not apply: same-ASN churn is a
known domain's addresses moving, and a finding is a name that newly exists; a lookalike on
a big shared host is still a lookalike (cheap shared hosting is where phishing sits).

Delivery then deduplicates against what Slack already shows (bot/alerts/delivery/outbox.py):
an alert whose earlier attempt may have reached the channel is looked up before it is
posted again. The stages are pure; `AlertPolicy.route` is what storage calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.alerts.model import ActiveSuppression, AlertTarget, Routed, Silenced, SilencedChange
from bot.alerts.pipeline.cdn import CdnChurnStage
from bot.alerts.pipeline.mute import MuteStage
from bot.alerts.pipeline.same_asn import SameAsnChurnStage
from bot.alerts.pipeline.snooze import SnoozeStage
from bot.alerts.pipeline.suppress import SuppressStage
from bot.alerts.pipeline.view import CheckView
from bot.core.observations import Change
from bot.watches.model import FindingVerdict, WatchTarget


class CheckStage(Protocol):
    name: str
    # The fields of the check's data the stage reads (e.g. ORIGIN_ASN_FIELD): the registry
    # collects them only when a stage in the pipeline needs them (AlertPolicy.needs).
    needs: frozenset[str]

    def judge(self, changes: Sequence[Change], view: CheckView) -> list[Change]:
        """The check's changes, those not worth an alert marked `alert=False`; `view`: the
        dataset's values before the check and now."""
        ...


class ChannelStage(Protocol):
    name: str

    def keep(self, changes: Sequence[Change], target: AlertTarget, now: datetime) -> list[Change]:
        """The changes still worth an alert in `target`'s channel."""
        ...


class FindingStage(Protocol):
    name: str

    def keep_watches(self, watches: Sequence[WatchTarget], now: datetime) -> list[WatchTarget]:
        """The watches behind a match still worth an alert in their channel."""
        ...


# The check stages, in order: a domain's address churn, on with WATCHPOST_SUMMARISE_SAME_ASN
# (the switch that has `resolutions` collect origin ASNs). A new one is a line here.
CHECK_STAGES: tuple[CheckStage, ...] = (SameAsnChurnStage(), CdnChurnStage())


@dataclass(frozen=True)
class AlertPolicy:
    check_stages: tuple[CheckStage, ...] = ()
    channel_stages: tuple[ChannelStage, ...] = (MuteStage(), SnoozeStage(), SuppressStage())
    finding_stages: tuple[FindingStage, ...] = (MuteStage(), SnoozeStage())

    @classmethod
    def from_settings(cls, *, summarise_same_asn: bool) -> AlertPolicy:
        return cls(check_stages=CHECK_STAGES if summarise_same_asn else ())

    @property
    def needs(self) -> frozenset[str]:
        """The fields the check stages read, for the dataset registry to collect."""
        return frozenset().union(*(stage.needs for stage in self.check_stages))

    def judge(self, changes: Sequence[Change], view: CheckView | None = None) -> list[Change]:
        """Run the check stages over one dataset's changes of a check."""
        judged = list(changes)
        seen = view if view is not None else CheckView()
        for stage in self.check_stages:
            judged = stage.judge(judged, seen)
        return judged

    def route(self, changes: Sequence[Change], targets: Sequence[AlertTarget], now: datetime) -> list[Routed]:
        """Per monitor of the subject: the datasets to alert in its channel, and what the
        channel stages silenced."""
        alerting = [change for change in changes if change.alert]
        decisions = []
        for target in targets:
            kept = alerting
            silenced: list[Silenced] = []
            dropped: list[SilencedChange] = []
            for stage in self.channel_stages:
                before = {change.dataset for change in kept}
                previous = kept
                kept = stage.keep(kept, target, now)
                after = {change.dataset for change in kept}
                silenced += [Silenced(dataset, stage.name) for dataset in sorted(before - after)]
                remaining = set(kept)
                dropped += [
                    SilencedChange(c, stage.name, responsible_suppression(stage.name, c, target, now))
                    for c in previous
                    if c not in remaining
                ]
            datasets = tuple(sorted({change.dataset for change in kept}))
            decisions.append(Routed(target, datasets, tuple(silenced), tuple(dropped)))
        return decisions

    def route_finding(self, watches: Sequence[WatchTarget], now: datetime) -> FindingVerdict:
        """One channel's match: alerted while any of the watches behind it is left by every
        finding stage; else silenced by the stage that dropped the last one."""
        kept = list(watches)
        for stage in self.finding_stages:
            left = stage.keep_watches(kept, now)
            if kept and not left:
                last = max(
                    (s for w in kept if (s := w.silenced_by(stage.name, now)) is not None),
                    key=lambda s: s.expires_at,
                    default=None,
                )
                return FindingVerdict(stage.name, last)
            kept = left
        return FindingVerdict()


def responsible_suppression(
    stage: str, change: Change, target: AlertTarget, now: datetime
) -> ActiveSuppression | None:
    """The suppression in force that made `stage` drop `change` in `target`'s channel, so a
    reply can name it (its number, its end)."""
    active = [s for s in target.suppressions if s.expires_at > now]
    if stage == "snooze":
        candidates = [s for s in active if s.kind == "snooze"]
    elif stage == "mute":
        candidates = [s for s in active if s.kind == "mute" and s.dataset == change.dataset]
    elif stage == "suppress":
        values = {v for v in (change.old_value, change.new_value) if v is not None}
        candidates = [
            s for s in active if s.kind == "value" and s.dataset == change.dataset and s.value in values
        ]
    else:
        candidates = []
    return max(candidates, key=lambda s: s.expires_at, default=None)
