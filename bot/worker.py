"""`watchpost worker`: checks, alert and webhook delivery, digests, the slash commands and
checks people asked for, and source health (outage notices, the request log's pruning) — no Slack listener and
no API. `watchpost serve` starts WATCHPOST_WORKERS of these (1 by default) as child
processes, so the process that answers Slack never waits on a check. To scale on
PostgreSQL, run more `watchpost worker` processes anywhere: every due check, alert and
digest is claimed in the database by exactly one of them."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.composition import Services, build_services
from bot.config import Settings
from bot.core.metrics import CONTENT_TYPE, Metrics
from bot.lifecycle import check_token, until_stopped
from bot.monitoring.scheduler import STOP_GRACE, JobScheduler, build_scheduler
from bot.storage.handovers import HandoverJob
from bot.storage.slash_commands import ClaimedCommand
from bot.surfaces.slack.handover import handed_over_command_job
from bot.surfaces.slack.listeners.commands import SlashCommands
from bot.surfaces.slack.transport import SlackTransport, build_web_client

log = logging.getLogger(__name__)


def build_worker_scheduler(
    services: Services, commands: HandoverJob[ClaimedCommand] | None = None
) -> JobScheduler:
    jobs: dict[str, tuple[float, Callable[[], Awaitable[object]]]] = {}
    if commands is not None:
        jobs["slash-commands"] = (commands.tick_seconds, commands.run_due)
    if services.requested_checks is not None:
        jobs["requested-checks"] = (services.requested_checks.tick_seconds, services.requested_checks.run_due)
    if services.source_health is not None:
        jobs["source-health"] = (services.source_health.tick_seconds, services.source_health.run)
    return build_scheduler(
        services.dispatcher,
        services.outbox,
        digests=services.digests,
        receivers=services.receivers,
        permutations=services.permutations,
        ct=services.ct,
        jobs=jobs,
    )


async def work(settings: Settings) -> int:
    client = build_web_client(settings)
    metrics = Metrics()
    services = build_services(settings, SlackTransport(client, metrics=metrics), metrics=metrics)
    scheduler = None
    metrics_site: web.AppRunner | None = None
    orphaned: asyncio.Task[None] | None = None
    commands = handed_over_commands(services)
    try:
        if not await check_token(client, services):
            return 2
        scheduler = build_worker_scheduler(services, commands)
        scheduler.start()
        if settings.worker_metrics_port:  # started by `watchpost serve`
            metrics_site = await _serve_metrics(metrics, settings.worker_metrics_port)
            orphaned = asyncio.create_task(_stop_when_orphaned(os.getppid()), name="parent watch")
        log.info("worker %d: checks, slash commands, deliveries, digests and source health", os.getpid())
        # Started by `serve` (it gave a metrics port): Ctrl-C is the parent's to act on.
        return await until_stopped(interruptible=not settings.worker_metrics_port)
    finally:
        if orphaned is not None:
            orphaned.cancel()
        if metrics_site is not None:
            await metrics_site.cleanup()
        if scheduler is not None:
            # SIGTERM (serve stopping it): the checks in flight finish first.
            await scheduler.stop(grace=STOP_GRACE)
        if commands is not None:
            await commands.drain()
        await services.aclose()


def handed_over_commands(services: Services) -> HandoverJob[ClaimedCommand] | None:
    """The job that runs the slash commands a web process handed over (None: no queue)."""
    if services.slash_commands is None:
        return None
    return handed_over_command_job(
        services.slash_commands,
        services.db,
        SlashCommands(services.slack_deps()).run,
        clock=services.runner.clock,
    )


async def _serve_metrics(metrics: Metrics, port: int) -> web.AppRunner:
    """/metrics on loopback, for the `watchpost serve` that started this worker."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _stop_when_orphaned(parent: int) -> None:
    """A worker of a `watchpost serve` that died (SIGKILL, OOM) stops too, as if told to."""
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            break
    log.warning("the watchpost serve that started this worker is gone: stopping")
    os.kill(os.getpid(), signal.SIGTERM)
