"""`watchpost serve`: the Slack bot. HTTP mode serves Slack's requests at /slack/events;
Socket Mode (SLACK_APP_TOKEN set) connects out instead. /healthz is served either way.
Either way a slash command is answered first and then taken by the one entry
(bot/surfaces/slack/front.py, `SlashCommandEntry`); everything else Slack sends goes to Bolt.

This process answers Slack and the API and runs no check: it starts WATCHPOST_WORKERS
`watchpost worker` child processes (1 by default; restarted if one dies) for checks,
alert delivery, digests and source health, and hands them, through the database, the
slash commands it answers and the checks the API asks for. With WATCHPOST_WORKERS=0 it
does all of that itself."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from time import monotonic

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.alerts.messages.payloads import resolver_json
from bot.composition import Services, build_services
from bot.config import Settings
from bot.core.metrics import CONTENT_TYPE, Metrics, merge_exposition
from bot.lifecycle import INTERRUPTED, check_token, until_stopped
from bot.monitoring.scheduler import STOP_GRACE
from bot.storage.engine import database_label
from bot.surfaces.api.app import mount_api
from bot.surfaces.slack.app import create_app
from bot.surfaces.slack.front import AfterAnswers, SharedReplayMemory, SlashCommandEntry, slash_command_fields
from bot.surfaces.slack.listeners.commands import SlashCommands
from bot.surfaces.slack.retries import ProcessMemory, RequestMemory
from bot.surfaces.slack.signatures import SlackSignatureVerifier, Verdict
from bot.surfaces.slack.transport import SlackTransport, build_web_client

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_web_app(
    app: AsyncApp | None,
    services: Services,
    workers: WorkerProcesses | None = None,
    commands: SlashCommandEntry | None = None,
) -> web.Application:
    """/healthz, and /slack/events when `app` is given (HTTP mode). /metrics adds in the
    metrics of `workers`. Slash commands are answered at once and taken by `commands`
    (bot/surfaces/slack/front.py), whose memory of the requests served `app` asks too; `drain` its
    answers' work before closing the services. Without `commands`, one of its own with a
    memory of its own."""
    web_app = web.Application()
    if commands is None:
        # Requests already served, however Slack delivered them (bot/surfaces/slack/retries.py).
        commands = slash_command_entry(services, AfterAnswers(), request_memory(services))
        served = commands.served

        async def close_memory(_: web.Application) -> None:
            served.close()

        web_app.on_cleanup.append(close_memory)
    if app is not None:
        web_app.router.add_post(EVENTS_PATH, _slack_events_handler(app, services, commands))
    web_app.router.add_get("/healthz", _health_handler(services))
    web_app.router.add_get("/metrics", _metrics_handler(services, workers))
    mount_api(web_app, services.api_deps())
    return web_app


_Handler = Callable[[web.Request], Awaitable[web.Response]]


def slash_command_entry(services: Services, after: AfterAnswers, seen: RequestMemory) -> SlashCommandEntry:
    """The one entry of slash commands, HTTP's and Socket Mode's: `seen` drops what was
    served, `after` holds the work until the answers are out, then SlashCommands.take."""
    take = SlashCommands(services.slack_deps()).take
    return SlashCommandEntry(take, after, seen, handed_over=services.handover is not None)


def _slack_events_handler(app: AsyncApp, services: Services, commands: SlashCommandEntry) -> _Handler:
    """/slack/events: signed requests only, each served once however Slack delivered it;
    slash commands answered at once and taken by `commands` (run, or handed to the
    workers, after the answer), everything else dispatched to Bolt."""
    verifier = SlackSignatureVerifier(services.settings.slack_signing_secret.reveal())
    # When every process shares the memory of the requests served, it also holds the
    # signatures other processes served (this one's are the verifier's), both asked in the
    # same batches.
    replays = commands.served if isinstance(commands.served, SharedReplayMemory) else None

    async def handle_slack_request(request: web.Request) -> web.Response:
        commands.arrived()
        body = await request.read()
        verdict = verifier.verify(body, request.headers)
        fields = slash_command_fields(body, request.headers) if verdict is Verdict.VALID else None
        signature = request.headers.get("X-Slack-Signature", "")
        if fields is not None and commands.handed_over:
            # To the workers: the entry asks no memory first (the handover drops replays),
            # so no other process's signatures are asked either.
            await commands.take(fields, delivery=signature)
            return web.Response(status=200)
        if verdict is Verdict.VALID and replays is not None:
            # This process has not seen it; has any other? (The replay memory is shared.)
            stamp = int(request.headers.get("X-Slack-Request-Timestamp", "0"))
            first = await replays.first_sight(signature, stamp)
            verdict = Verdict.VALID if first else Verdict.REPLAYED
        if verdict is Verdict.REPLAYED and "X-Slack-Retry-Num" in request.headers:
            return web.Response(status=200)  # Slack retrying what was already served
        if verdict is not Verdict.VALID:
            return web.json_response({"error": "invalid request"}, status=401)
        if fields is not None:
            # Past Bolt, so past its middleware: the entry asks the same memory, same key.
            await commands.take(fields, delivery=signature)
            return web.Response(status=200)
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    return handle_slack_request


def _health_handler(services: Services) -> _Handler:
    """/healthz: the database answers (with the undelivered alerts), and the resolver's verdict."""

    async def handle_health_request(request: web.Request) -> web.Response:
        try:
            pending = await services.db.run(services.db.outbox.undelivered_count)
        except Exception as exc:
            return web.json_response(
                {"ok": False, "error": f"database: {exc.__class__.__name__}"}, status=503
            )
        body: dict[str, object] = {"ok": True, "undelivered_alerts": pending}
        resolver = await _resolver_health(services)
        if resolver is not None:
            # Degraded, not down: the bot runs, but no DNS observation counts.
            body["resolver"] = resolver
        return web.json_response(body)

    return handle_health_request


def _metrics_handler(services: Services, workers: WorkerProcesses | None) -> _Handler:
    """/metrics: this process's metrics with the backlog, and `workers`' added in."""

    async def handle_metrics_request(request: web.Request) -> web.Response:
        refusal = metrics_refusal(request, services.settings.metrics_token.reveal())
        if refusal is not None:
            return refusal
        try:
            for queue, count in (await services.backlog()).items():
                services.metrics.outbox_backlog.labels(queue).set(count)
        except Exception as exc:  # the database is away: the rest still tells the story
            log.warning("metrics: backlog unknown (%s)", exc.__class__.__name__)
        body = services.metrics.render()
        if workers is not None:
            body = merge_exposition(body, await workers.metrics())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handle_metrics_request


def request_memory(services: Services) -> RequestMemory:
    """Where the requests served are remembered: shared by every process when they can
    share one (PostgreSQL), else this process's own (SQLite: one process serves Slack)."""
    shared = services.shared_limits
    if shared is None:
        return ProcessMemory()
    return SharedReplayMemory(lambda seen: shared.first_sights(seen, now=time.time()))


async def _resolver_health(services: Services) -> dict[str, object] | None:
    """The resolver check's verdict for /healthz: this process's own when it runs the checks
    and has one, else the one the checking processes shared (None: no verdict anywhere)."""
    verdict = services.resolver.verdict if services.resolver is not None else None
    if verdict is not None and not services.checks_elsewhere:
        return {"ok": verdict.ok, "where": verdict.where, "problem": verdict.problem}
    if services.shared_resolver is None:
        return None
    try:
        status = await services.shared_resolver.current()
    except Exception as exc:  # the database just answered; a failure here only costs this field
        log.warning("healthz: the shared resolver verdict is unknown (%s)", exc.__class__.__name__)
        return None
    # The same fields and timestamps (RFC 3339, Z) as GET /api/v1/health's.
    return resolver_json(status)


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


class WorkerProcesses:
    """`count` `watchpost worker` child processes, with this process's environment and a
    CPU priority `nice` below its own; one that exits is started again (after 1 s,
    doubling to a minute while it keeps failing)."""

    def __init__(
        self,
        count: int,
        command: tuple[str, ...] = (sys.executable, "-m", "bot", "worker"),
        *,
        nice: int = 0,
    ) -> None:
        self.count = count
        self.command = command
        self.nice = nice
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        # Each worker serves its /metrics on loopback; this process's /metrics adds them in.
        self.metrics_ports = {index: _free_port() for index in range(count)}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def stopping(self) -> bool:
        return self._stopping

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values() if p.returncode is None]

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._supervise(i), name=f"worker {i}") for i in range(self.count)]

    async def _supervise(self, index: int) -> None:
        delay = 1.0
        while not self._stopping:
            started = monotonic()
            env = {**os.environ, "WATCHPOST_WORKER_METRICS_PORT": str(self.metrics_ports[index])}
            process = await asyncio.create_subprocess_exec(*self.command, env=env)
            if self.nice:
                # Below this process: when checks keep every core busy, Slack's answers come first.
                with suppress(OSError):
                    os.setpriority(
                        os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + self.nice
                    )
            self.processes[index] = process
            log.info("started worker process %d", process.pid)
            code = await process.wait()
            if self.stopping():
                return
            delay = 1.0 if monotonic() - started > 60 else min(60.0, delay * 2)
            log.error(
                "worker process %d exited with %s; starting another in %.0f s", process.pid, code, delay
            )
            await asyncio.sleep(delay)

    async def stop(self, grace: float = 20.0) -> None:
        """SIGTERM each (a worker finishes its checks in flight), SIGKILL what outlives `grace` seconds."""
        self._stopping = True
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            with suppress(ProcessLookupError):
                process.terminate()
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), grace)
        except TimeoutError:
            for process in running:
                with suppress(ProcessLookupError):
                    process.kill()
            await asyncio.gather(*(p.wait() for p in running))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def metrics(self) -> list[bytes]:
        """The workers' /metrics (a worker that does not answer is left out)."""

        async def one(session: ClientSession, port: int) -> bytes:
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    return await response.read() if response.status == 200 else b""
            except (ClientError, TimeoutError):
                return b""

        async with ClientSession(timeout=ClientTimeout(total=5)) as session:
            found = await asyncio.gather(*(one(session, port) for port in self.metrics_ports.values()))
        return [text for text in found if text]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve(settings: Settings) -> int:
    client = build_web_client(settings)
    metrics = Metrics()
    split = settings.workers > 0
    if split:
        # The event loop answering Slack takes the interpreter back from a database thread
        # within 1 ms (not Python's 5): this process does little else but answer.
        sys.setswitchinterval(0.001)
    services = build_services(
        settings, SlackTransport(client, metrics=metrics), metrics=metrics, checks_elsewhere=split
    )
    runner: web.AppRunner | None = None
    socket_mode = None
    scheduler = None
    workers: WorkerProcesses | None = None
    after_answers = AfterAnswers()
    code = INTERRUPTED  # until told otherwise: an exception on the way is no time to linger
    seen = request_memory(services)
    # Slash commands, over HTTP or Socket Mode: one entry, one replay memory, one drain.
    commands = slash_command_entry(services, after_answers, seen)
    try:
        if not await check_token(client, services):
            return 2
        app = create_app(settings, services.slack_deps(), client=client, seen=seen)
        use_socket_mode = bool(settings.slack_app_token)
        workers = WorkerProcesses(settings.workers, nice=settings.worker_nice) if split else None
        web_app = build_web_app(None if use_socket_mode else app, services, workers, commands)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host=settings.host, port=settings.port).start()
        where = f"{settings.host}:{settings.port}"
        log.info("database %s; datasets: %s", database_label(settings.database_url), _datasets(services))
        for line in settings.summary():
            log.info("%s", line)
        if use_socket_mode:
            from bot.surfaces.slack.socket_mode import CommandsFirstSocketModeHandler

            socket_mode = CommandsFirstSocketModeHandler(
                app, settings.slack_app_token.reveal(), web_client=client, commands=commands
            )
            await socket_mode.connect_async()  # type: ignore[no-untyped-call]
            log.info("Socket Mode connected; /healthz and /metrics on %s", where)
        else:
            api = ", /api/v1" if settings.api_tokens else ""
            log.info("listening on %s: %s, /healthz, /metrics%s", where, EVENTS_PATH, api)
        if workers is not None:
            workers.start()
        else:
            from bot.worker import build_worker_scheduler

            scheduler = build_worker_scheduler(services)
            scheduler.start()
        code = await until_stopped()
        log.info("stopping")
        return code
    finally:
        if runner is not None:
            await runner.cleanup()
        if socket_mode is not None:  # no more envelopes; the commands acknowledged reach the entry
            with suppress(Exception):
                await socket_mode.close_async()
        # Commands Slack was told were taken (either way), while the workers still run their checks.
        await after_answers.drain()
        if workers is not None:
            await workers.stop()
        if scheduler is not None:  # its jobs end before the services they use close
            await scheduler.stop(grace=0.0 if code == INTERRUPTED else STOP_GRACE)
        seen.close()
        await services.aclose()


def _datasets(services: Services) -> str:
    return ", ".join(dataset.name for dataset in services.datasets)
