"""Prometheus metrics. One `Metrics` per process, made by the composition root with a
registry of its own (tests make fresh ones) and handed to what records into it; `/metrics`
renders it. Labels are dataset, source and outcome names, Slack's error codes and the short
public names of CT logs (host and path, from the published log list): never an indicator,
a channel, a secret or any other URL."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

from bot.core.observations import Observation

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Lookups take from milliseconds (DNS on a warm resolver) to the dataset timeout (120 s).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class _Declared:
    """One metric: its kind, name, help text, label names and (a histogram's) buckets."""

    kind: type[Counter] | type[Gauge] | type[Histogram]
    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = Histogram.DEFAULT_BUCKETS

    def make(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
        if self.kind is Histogram:
            return Histogram(
                self.name, self.documentation, self.labels, buckets=self.buckets, registry=registry
            )
        return self.kind(self.name, self.documentation, self.labels, registry=registry)


# Every metric of `Metrics`, by the attribute that holds it; registered (and rendered) in
# this order.
DECLARED_METRICS: dict[str, _Declared] = {
    "checks": _Declared(
        Counter,
        "watchpost_checks",
        "Dataset checks run, by outcome: ok, partial (a source failed, others answered), "
        "failed (nothing learned: the dataset is stale)",
        ("dataset", "outcome"),
    ),
    "source_failures": _Declared(
        Counter, "watchpost_source_failures", "Failed lookups, by dataset and source", ("dataset", "source")
    ),
    "check_seconds": _Declared(
        Histogram,
        "watchpost_check_duration_seconds",
        "Time to collect one dataset of one indicator",
        ("dataset",),
        buckets=LATENCY_BUCKETS,
    ),
    "outbox_backlog": _Declared(
        Gauge,
        "watchpost_outbox_backlog",
        "Messages not yet delivered (nor given up), by queue: slack, and each HTTP receiver",
        ("queue",),
    ),
    "alerts_posted": _Declared(Counter, "watchpost_alerts_posted", "Alerts posted to Slack channels"),
    "alert_failures": _Declared(
        Counter,
        "watchpost_alert_delivery_failures",
        "Failed attempts to post an alert to Slack (permanent: given up)",
        ("permanent",),
    ),
    "deliveries": _Declared(
        Counter,
        "watchpost_deliveries",
        "Delivery attempts, by receiver (slack, webhook, misp, thehive), kind of message "
        "(alert, follow_up, lookalike, sighting, notice) and outcome: delivered, failed "
        "(retried), abandoned",
        ("receiver", "kind", "outcome"),
    ),
    "webhook_deliveries": _Declared(
        Counter,
        "watchpost_webhook_deliveries",
        "Webhook delivery attempts, by outcome: delivered, failed (retried), abandoned",
        ("outcome",),
    ),
    "digest_runs": _Declared(
        Counter,
        "watchpost_digest_runs",
        "Channel digests handled, by outcome: posted, skipped (nothing to say), failed, retried",
        ("outcome",),
    ),
    "slack_api_errors": _Declared(
        Counter, "watchpost_slack_api_errors", "Errors from Slack's Web API, by error code", ("error",)
    ),
    "api_requests": _Declared(
        Counter,
        "watchpost_api_requests",
        "Requests to /api/v1, by route template and status code",
        ("method", "route", "status"),
    ),
    # Source health (this process's requests; /monitor health shows every process's).
    "source_requests": _Declared(
        Counter,
        "watchpost_source_requests",
        "HTTP requests to a source, by outcome: ok, timeout, connection, rate_limited, http_NNN",
        ("source", "outcome"),
    ),
    "source_latency": _Declared(
        Histogram,
        "watchpost_source_request_duration_seconds",
        "Time a source took to answer one HTTP request",
        ("source",),
        buckets=LATENCY_BUCKETS,
    ),
    "source_deferred": _Declared(
        Counter,
        "watchpost_source_deferred",
        "Lookups that waited instead of asking, by reason: quota (no slot), turn (planned interval), off",
        ("source", "reason"),
    ),
    "source_planned_interval": _Declared(
        Gauge,
        "watchpost_source_planned_interval_seconds",
        "How often a quota-limited source is asked about each indicator its budget serves",
        ("source",),
    ),
    "source_quota_used": _Declared(
        Gauge,
        "watchpost_source_quota_used_ratio",
        "Share of a source's quota used in the current window, by window (seconds)",
        ("source", "window"),
    ),
    "source_requests_window": _Declared(
        Gauge,
        "watchpost_source_requests_window",
        "Requests to a source by every process, in the last hour or day",
        ("source", "window"),
    ),
    "source_errors_day": _Declared(
        Gauge,
        "watchpost_source_errors_day",
        "Failed requests to a source by every process in the last day, by kind",
        ("source", "kind"),
    ),
    "source_last_success": _Declared(
        Gauge,
        "watchpost_source_last_success_timestamp_seconds",
        "When a source last answered a request (any process)",
        ("source",),
    ),
    "source_latency_quantile": _Declared(
        Gauge,
        "watchpost_source_latency_ms",
        "A source's latency over the last hour (every process), by quantile: 0.5, 0.95",
        ("source", "quantile"),
    ),
    # The resolver check and CT reading, from what every process shared in the database.
    "resolver_ok": _Declared(
        Gauge,
        "watchpost_resolver_ok",
        "1 when the resolver passed its last check (canary answers, a random name is NXDOMAIN), 0 when "
        "it failed: every DNS dataset is off",
    ),
    "resolver_checked": _Declared(
        Gauge,
        "watchpost_resolver_checked_timestamp_seconds",
        "When the resolver was last checked (any process)",
    ),
    "ct_log_position": _Declared(
        Gauge,
        "watchpost_ct_log_position",
        "The next entry of a CT log to read (entries before it were read)",
        ("log",),
    ),
    "ct_log_tree_size": _Declared(
        Gauge, "watchpost_ct_log_tree_size", "A CT log's size when last seen", ("log",)
    ),
    "ct_log_lag": _Declared(
        Gauge,
        "watchpost_ct_log_lag_entries",
        "Entries of a CT log not read yet (tree size - position)",
        ("log",),
    ),
    "ct_log_advanced": _Declared(
        Gauge,
        "watchpost_ct_log_advanced_timestamp_seconds",
        "When the reading of a CT log last moved on",
        ("log",),
    ),
}


class Metrics:
    """The metrics of `DECLARED_METRICS`, each the attribute of its name (typed below; a test
    holds the two lists together), in one registry."""

    checks: Counter
    source_failures: Counter
    check_seconds: Histogram
    outbox_backlog: Gauge
    alerts_posted: Counter
    alert_failures: Counter
    deliveries: Counter
    webhook_deliveries: Counter
    digest_runs: Counter
    slack_api_errors: Counter
    api_requests: Counter
    source_requests: Counter
    source_latency: Histogram
    source_deferred: Counter
    source_planned_interval: Gauge
    source_quota_used: Gauge
    source_requests_window: Gauge
    source_errors_day: Gauge
    source_last_success: Gauge
    source_latency_quantile: Gauge
    resolver_ok: Gauge
    resolver_checked: Gauge
    ct_log_position: Gauge
    ct_log_tree_size: Gauge
    ct_log_lag: Gauge
    ct_log_advanced: Gauge

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        for attribute, declared in DECLARED_METRICS.items():
            setattr(self, attribute, declared.make(self.registry))

    def observe_check(self, observations: Iterable[Observation]) -> None:
        """Count one check of an indicator: each dataset's outcome and failed sources."""
        for observation in observations:
            outcome = "failed" if observation.failed else "partial" if observation.stale else "ok"
            if observation.failed and not observation.stale:
                outcome = "deferred"
            self.checks.labels(observation.dataset, outcome).inc()
            for failure in observation.real_failures:
                self.source_failures.labels(observation.dataset, label(failure.source)).inc()

    def slack_error(self, code: str) -> None:
        self.slack_api_errors.labels(label(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def merge_exposition(own: bytes, others: Iterable[bytes]) -> bytes:
    """This process's metrics with its worker processes' (`watchpost serve` shows them all
    on one /metrics): counters and histograms added up, gauges the highest of them (the
    health gauges read the shared database, so every worker sets the same values). The
    workers' process_* and python_* figures are left out: they describe other processes."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for index, text in enumerate([own, *others]):
        for family in text_string_to_metric_families(text.decode()):
            if index and family.name.startswith(("process_", "python_")):
                continue
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                values[family.name] = {}
            merged = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in merged:
                    merged[key] = sample.value
                elif sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                elif family.type in ("counter", "histogram", "summary"):
                    merged[key] += sample.value
                else:
                    merged[key] = max(merged[key], sample.value)
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)

    class _Merged:
        def collect(self) -> Iterable[Metric]:
            return list(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


def label(value: str) -> str:
    """A label value from a bounded alphabet and length: codes, not free text."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "_", value)[:64]
    return cleaned or "unknown"
