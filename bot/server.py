"""`watchpost serve`: the Slack bot. HTTP mode serves Slack's requests at /slack/events;
Socket Mode (SLACK_APP_TOKEN set) connects out instead. /healthz is served either way,
and the scheduler runs checks, alert delivery and digests in the same process."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import signal
from contextlib import suppress

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.api.app import mount_api
from bot.composition import Services, build_services
from bot.config import Settings
from bot.metrics import CONTENT_TYPE, Metrics
from bot.monitoring.scheduler import build_scheduler
from bot.slack.app import create_app
from bot.slack.signatures import SlackSignatureVerifier, Verdict
from bot.slack.transport import SlackTransport, build_web_client, delivery_error
from bot.storage.engine import database_label

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_web_app(app: AsyncApp | None, services: Services) -> web.Application:
    """/healthz, and /slack/events when `app` is given (HTTP mode)."""
    web_app = web.Application()

    verifier = SlackSignatureVerifier(services.settings.slack_signing_secret.reveal())

    async def handle_slack_request(request: web.Request) -> web.Response:
        assert app is not None
        verdict = verifier.verify(await request.read(), request.headers)
        if verdict is Verdict.REPLAYED and "X-Slack-Retry-Num" in request.headers:
            return web.Response(status=200)  # Slack retrying what was already served
        if verdict is not Verdict.VALID:
            return web.json_response({"error": "invalid request"}, status=401)
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def handle_health_request(request: web.Request) -> web.Response:
        try:
            pending = await services.db.run(services.db.outbox.undelivered_count)
        except Exception as exc:
            return web.json_response(
                {"ok": False, "error": f"database: {exc.__class__.__name__}"}, status=503
            )
        body: dict[str, object] = {"ok": True, "undelivered_alerts": pending}
        verdict = services.resolver.verdict if services.resolver is not None else None
        if verdict is not None:
            # Degraded, not down: the bot runs, but no DNS observation counts.
            body["resolver"] = {"ok": verdict.ok, "where": verdict.where, "problem": verdict.problem}
        return web.json_response(body)

    async def handle_metrics_request(request: web.Request) -> web.Response:
        refusal = metrics_refusal(request, services.settings.metrics_token.reveal())
        if refusal is not None:
            return refusal
        try:
            for queue, count in (await services.backlog()).items():
                services.metrics.outbox_backlog.labels(queue).set(count)
        except Exception as exc:  # the database is away: the rest still tells the story
            log.warning("metrics: backlog unknown (%s)", exc.__class__.__name__)
        return web.Response(body=services.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    if app is not None:
        web_app.router.add_post(EVENTS_PATH, handle_slack_request)
    web_app.router.add_get("/healthz", handle_health_request)
    web_app.router.add_get("/metrics", handle_metrics_request)
    mount_api(web_app, services.api_deps())
    return web_app


def metrics_refusal(request: web.Request, token: str) -> web.Response | None:
    """/metrics answers a bearer of WATCHPOST_METRICS_TOKEN; with no token set, only
    requests from this machine (loopback). None: serve it."""
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        return web.json_response(
            {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
        )
    try:
        loopback = ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return web.json_response(
        {"error": "forbidden: set WATCHPOST_METRICS_TOKEN to scrape /metrics from another host"}, status=403
    )


async def check_token(client: AsyncWebClient, services: Services | None = None) -> bool:
    """False if Slack says the token is bad; Slack being unreachable is not fatal (the
    outbox holds alerts until it answers). Tells `services` the bot's workspace."""
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        error = delivery_error(exc)
        if error.permanent:
            log.error("Slack rejected SLACK_BOT_TOKEN: %s", error)
            return False
        log.warning("Slack did not answer auth.test (%s); starting anyway", error)
        return True
    except Exception as exc:
        log.warning("Slack unreachable at start (%s); starting anyway", delivery_error(exc))
        return True
    log.info("connected to Slack as %s in team %s", identity.get("user_id"), identity.get("team_id"))
    if services is not None and identity.get("team_id"):
        services.slack_team_id = str(identity["team_id"])
    return True


async def serve(settings: Settings) -> int:
    client = build_web_client(settings)
    metrics = Metrics()
    services = build_services(settings, SlackTransport(client, metrics=metrics), metrics=metrics)
    runner: web.AppRunner | None = None
    socket_mode = None
    scheduler = None
    try:
        if not await check_token(client, services):
            return 2
        app = create_app(settings, services.slack_deps(), client=client)
        use_socket_mode = bool(settings.slack_app_token)
        runner = web.AppRunner(build_web_app(None if use_socket_mode else app, services), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host=settings.host, port=settings.port).start()
        where = f"{settings.host}:{settings.port}"
        log.info("database %s; datasets: %s", database_label(settings.database_url), _datasets(services))
        for line in settings.summary():
            log.info("%s", line)
        if use_socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_mode = AsyncSocketModeHandler(app, settings.slack_app_token.reveal(), web_client=client)
            await socket_mode.connect_async()  # type: ignore[no-untyped-call]
            log.info("Socket Mode connected; /healthz and /metrics on %s", where)
        else:
            api = ", /api/v1" if settings.api_tokens else ""
            log.info("listening on %s: %s, /healthz, /metrics%s", where, EVENTS_PATH, api)
        scheduler = build_scheduler(
            services.dispatcher,
            services.outbox,
            digests=services.digests,
            webhooks=services.webhooks,
            lookalike_delivery=services.lookalike_delivery,
            permutations=services.permutations,
            ct=services.ct,
        )
        scheduler.start()
        await _until_stopped()
        log.info("stopping")
        return 0
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if socket_mode is not None:
            with suppress(Exception):
                await socket_mode.close_async()  # type: ignore[no-untyped-call]
        if runner is not None:
            await runner.cleanup()
        await services.aclose()


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _datasets(services: Services) -> str:
    return ", ".join(dataset.name for dataset in services.datasets)
