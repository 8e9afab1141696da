"""/metrics: what operators scrape. Check throughput and failures per dataset and source,
lookup latency, the delivery backlog, alerts posted, digest runs, Slack API errors and
API requests; a fresh registry per bot; never a secret."""

from __future__ import annotations

from typing import get_type_hints

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Secret, Settings
from bot.core.message import Message
from bot.core.metrics import DECLARED_METRICS, Metrics
from bot.core.transport import DeliveryError
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from tests.fakes.api import TEAM, TOKEN, ApiHarness, MakeApi
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.webhook_receiver import WEBHOOK_SECRET

IP = "98.126.38.107"


async def scrape(api: ApiHarness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with api.client.get("/metrics") as response:
        assert response.status == 200 and response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_checks_failures_latency_backlog_and_alerts(api: ApiHarness) -> None:
    await api.call(
        "POST",
        "/api/v1/monitors",
        json={"channel": "C0INTEL", "team": TEAM, "indicators": [IP, "evil-infra.com"]},
    )
    api.dataset.failing["evil-infra.com"] = "mnemonic"
    await api.run_checks()
    await api.change(IP, ("domain", "www.interfaxru.com"))
    seen = await scrape(api)
    ok = ("watchpost_checks_total", (("dataset", "resolutions"), ("outcome", "ok")))
    failed = ("watchpost_checks_total", (("dataset", "resolutions"), ("outcome", "failed")))
    assert seen[ok] == 2 and seen[failed] == 2
    assert (
        seen[("watchpost_source_failures_total", (("dataset", "resolutions"), ("source", "mnemonic")))] == 2
    )
    assert seen[("watchpost_check_duration_seconds_count", (("dataset", "resolutions"),))] == 4
    assert seen[("watchpost_outbox_backlog", (("queue", "slack"),))] == 1
    assert seen[("watchpost_alerts_posted_total", ())] == 0

    await api.services.outbox.deliver_due()
    api.clock.advance(days=2)
    report = await api.services.digests.run_due()
    seen = await scrape(api)
    assert seen[("watchpost_outbox_backlog", (("queue", "slack"),))] == 0
    assert seen[("watchpost_alerts_posted_total", ())] == 1
    assert seen[("watchpost_digest_runs_total", (("outcome", "posted"),))] == len(report.posted) > 0
    assert (
        seen[
            (
                "watchpost_api_requests_total",
                (("method", "POST"), ("route", "/api/v1/monitors"), ("status", "201")),
            )
        ]
        == 1
    )
    assert ("process_cpu_seconds_total", ()) in seen


async def test_metrics_never_show_secrets(make_api: MakeApi) -> None:
    api = await make_api(
        slack_bot_token=Secret("xoxb-metrics-secret-1"),
        webhook_url=Secret("http://127.0.0.1:9/hook?key=url-secret-2"),
        webhook_secret=Secret(WEBHOOK_SECRET),
    )
    await api.call("GET", "/api/v1/monitors", token=TOKEN + "-wrong")
    await api.call("GET", "/api/v1/monitors")
    async with api.client.get("/metrics") as response:
        text = await response.text()
    assert 'status="401"' in text and 'queue="webhook"' in text
    for secret in [*api.services.settings.secrets(), TOKEN + "-wrong"]:
        assert secret not in text


async def test_metrics_count_slack_api_errors_by_code(slack_api: FakeSlackApi) -> None:
    metrics = Metrics()
    settings = Settings(slack_bot_token=Secret(slack_api.token), slack_api_url=slack_api.base_url)
    transport = SlackTransport(build_web_client(settings, timeout=5), metrics=metrics)
    slack_api.channel_errors["C0GONE"] = "channel_not_found"
    try:
        await transport.post("C0GONE", Message("hello"))
    except DeliveryError as exc:
        assert exc.permanent
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    [sample] = [s for s in families["watchpost_slack_api_errors"].samples if s.name.endswith("_total")]
    assert sample.labels == {"error": "channel_not_found"} and sample.value == 1
    assert Metrics().render() != metrics.render()  # a fresh registry starts from zero


def test_metrics_declared_are_the_typed_attributes() -> None:
    typed = {
        name: kind for name, kind in get_type_hints(Metrics).items() if kind in (Counter, Gauge, Histogram)
    }
    assert {name: declared.kind for name, declared in DECLARED_METRICS.items()} == typed
    metrics = Metrics()
    assert all(type(getattr(metrics, name)) is kind for name, kind in typed.items())
