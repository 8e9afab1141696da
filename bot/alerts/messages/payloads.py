"""The JSON shape of monitors, alerts, changes and indicators: what the REST API answers and
what webhooks carry (one shape for both). Pure: records in, dicts out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.alerts.store.alerts import AlertChannel, AlertRecord, IndicatorHistory
from bot.alerts.store.receivers import ReceiverHealth
from bot.core.indicators import Indicator
from bot.core.observations import Change, FactState
from bot.core.scripts import domain_to_unicode, mixed_scripts
from bot.imports.model import ImportItem
from bot.monitoring.store.quotas import QuotaPlan, SourceUsage
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.storage.views import DatasetHealth, MonitorView
from bot.triage.model import Triage
from bot.watches.ct.store import CtPosition
from bot.watches.model import Finding, Watch


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def monitor_json(monitor: MonitorView) -> dict[str, Any]:
    return {
        "indicator": monitor.indicator,
        "kind": monitor.kind.value,
        "team": monitor.team_id,
        "channel": monitor.channel_id,
        "tags": list(monitor.tags),
        "muted": list(monitor.muted),
        "created_by": monitor.created_by,
        "created_at": iso(monitor.created_at),
        "last_checked_at": iso(monitor.last_checked_at),
        "stale_datasets": list(monitor.stale_datasets),
    }


def import_item_json(item: ImportItem) -> dict[str, Any]:
    """One item of an import that was left out or refused, and why (mrkdwn code marks removed)."""
    body: dict[str, Any] = {"item": item.item, "value": item.value, "reason": item.reason.replace("`", "")}
    if item.warning_lists:
        body["warning_lists"] = list(item.warning_lists)
    return body


def change_json(change: Change) -> dict[str, Any]:
    return {
        "dataset": change.dataset,
        "change": change.kind.value,
        "field": change.field,
        "old_value": change.old_value,
        "new_value": change.new_value,
        "source": change.source,
        "first_seen": iso(change.first_seen),
        "last_seen": iso(change.last_seen),
    }


def _channel_json(channel: AlertChannel) -> dict[str, Any]:
    return {
        "delivery": channel.delivery_id,
        "team": channel.team_id,
        "channel": channel.channel_id,
        "datasets": list(channel.datasets),
        "status": channel.status,
        "delivered_at": iso(channel.delivered_at),
        "follow_up": channel.follow_up,
        "triage": triage_json(channel.triage),
    }


def delivery_json(alert: AlertRecord, channel: AlertChannel) -> dict[str, Any]:
    """One channel's copy of an alert, as GET /deliveries lists it."""
    return {
        "id": channel.delivery_id,
        "alert": alert.id,
        "indicator": alert.indicator,
        "detected_at": iso(alert.detected_at),
        **{key: value for key, value in _channel_json(channel).items() if key != "delivery"},
    }


def alert_json(alert: AlertRecord) -> dict[str, Any]:
    return {
        "id": alert.id,
        "check_id": alert.batch_id,
        "indicator": alert.indicator,
        "kind": alert.kind.value,
        "detected_at": iso(alert.detected_at),
        "datasets": list(alert.datasets),
        "changes": [change_json(change) for change in alert.changes],
        "channels": [_channel_json(channel) for channel in alert.channels],
        "triage": triage_json(alert.triage),
    }


def triage_json(triage: Triage) -> dict[str, Any]:
    return {"state": triage.state.value, "by": triage.by, "at": iso(triage.at), "reason": triage.reason}


def _fact_json(fact: FactState) -> dict[str, Any]:
    return {
        "field": fact.field,
        "value": fact.value,
        "source": fact.source,
        "status": fact.status.value,
        "first_seen": iso(fact.first_seen),
        "last_seen": iso(fact.last_seen),
    }


def dataset_json(health: DatasetHealth) -> dict[str, Any]:
    return {
        "dataset": health.dataset,
        "baseline_at": iso(health.baseline_at),
        "last_ok_at": iso(health.last_ok_at),
        "stale": health.stale,
        "last_error": health.last_error,
        "facts": [_fact_json(fact) for fact in health.facts],
    }


def indicator_json(
    indicator: Indicator,
    *,
    last_checked_at: datetime | None,
    monitors: Sequence[MonitorView],
    datasets: Sequence[DatasetHealth],
    history: IndicatorHistory,
    recent: Sequence[tuple[datetime, Change]],
) -> dict[str, Any]:
    return {
        "indicator": indicator.value,
        "kind": indicator.kind.value,
        "monitored_since": iso(min((m.created_at for m in monitors), default=None)),
        "last_checked_at": iso(last_checked_at),
        "monitors": [monitor_json(m) for m in monitors],
        "datasets": [dataset_json(d) for d in datasets],
        "history": {
            "alerts": history.alerts,
            "first_alert_at": iso(history.first_alert_at),
            "last_alert_at": iso(history.last_alert_at),
            "last_change_at": iso(history.last_change_at),
            "changes_by_dataset": dict(history.changes_by_dataset),
            "recent_changes": [{**change_json(c), "detected_at": iso(at)} for at, c in recent],
        },
    }


def watch_json(watch: Watch) -> dict[str, Any]:
    return {
        "id": watch.id,
        "team": watch.team_id,
        "channel": watch.channel_id,
        "kind": watch.kind.value,
        "term": watch.term,
        "created_by": watch.created_by,
        "created_at": iso(watch.created_at),
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "team": finding.team_id,
        "channel": finding.channel_id,
        "domain": finding.domain,
        "name": finding.name,
        "domain_unicode": domain_to_unicode(finding.domain),
        "name_unicode": domain_to_unicode(finding.name),
        "mixed_scripts": mixed_scripts(finding.domain),
        "kind": "keyword" if finding.keyword_only else "lookalike",
        "source": finding.source,
        "issuer": finding.issuer,
        "first_seen_at": iso(finding.first_seen_at),
        "certificates": finding.certificates,
        "dismissed": finding.dismissed,
        "alerted": finding.message_ts is not None,
        "matches": [
            {
                "watch_id": int(reason.get("watch_id") or 0),
                "kind": str(reason.get("kind") or ""),
                "term": str(reason.get("term") or ""),
                "rule": str(reason.get("rule") or ""),
                "why": str(reason.get("why") or ""),
            }
            for reason in finding.reasons
        ],
    }


def source_health_json(usage: SourceUsage, plan: QuotaPlan | None) -> dict[str, Any]:
    """One source of `GET /api/v1/health`."""
    return {
        "source": usage.source,
        "requests_last_hour": usage.requests_hour,
        "requests_last_day": usage.requests_day,
        "quota": [
            {"window_seconds": limit.window_seconds, "allowed": limit.requests, "used": used}
            for limit, used in usage.limits
        ],
        "errors_last_day": dict(sorted(usage.errors_day.items())),
        "last_success_at": iso(usage.last_success_at),
        "latency_ms": {"p50": usage.latency_p50_ms, "p95": usage.latency_p95_ms},
        "effective_interval_seconds": plan.interval.total_seconds() if plan is not None else None,
        "monitors": plan.monitors if plan is not None else None,
        "waiting": usage.waiting,
        "failing_since": iso(usage.failing_since),
    }


def resolver_json(status: ResolverStatus | None) -> dict[str, Any] | None:
    """The resolver check's last verdict in `GET /api/v1/health` (None: none yet)."""
    if status is None:
        return None
    return {
        "where": status.resolver,
        "ok": status.ok,
        "problem": status.problem,
        "checked_at": iso(status.checked_at),
        "failing_since": iso(status.failing_since),
    }


def ct_log_json(position: CtPosition) -> dict[str, Any]:
    """One CT log of `GET /api/v1/health`: how far it has been read."""
    return {
        "log": position.log,
        "position": position.position,
        "tree_size": position.tree_size,
        "lag": max(0, position.tree_size - position.position),
        "advanced_at": iso(position.updated_at),
    }


def receiver_health_json(state: ReceiverHealth) -> dict[str, Any]:
    """One HTTP receiver of `GET /api/v1/health`: on or off, and its queue."""
    return {
        "receiver": state.receiver,
        "on": not state.off,
        "off_reason": state.off or None,
        "backlog": state.backlog,
        "abandoned": state.abandoned,
        "last_error": state.last_error,
        "last_error_at": iso(state.last_error_at),
    }
