"""/api/v1 on the bot's aiohttp server: bearer tokens, a rate limit per token, JSON in and
out, and every error as `{"error": {"code", "message", "details"?}}`.

Mounted only when WATCHPOST_API_TOKENS is set. Monitors added here are the slash
command's monitors (same parser, same quota, same storage); their baseline is taken by
the scheduler's next tick, so a request with 500 indicators answers at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.api.errors import ApiError
from bot.api.openapi import build_openapi
from bot.api.payloads import (
    check_query,
    encode_cursor,
    parse_add_request,
    parse_alert_query,
    parse_indicator_param,
    parse_monitor_filter,
    parse_remove_request,
    plain,
)
from bot.commands.access import CommandRateLimiter
from bot.config import ApiToken
from bot.errors import UserInputError
from bot.render.payloads import alert_json, indicator_json, monitor_json, source_health_json

if TYPE_CHECKING:
    from bot.composition import Services

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
RECENT_CHANGES = 20
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/openapi.json"})
STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ApiContext:
    services: Services
    tokens: tuple[ApiToken, ...]
    limiter: CommandRateLimiter

    def token_name(self, presented: str) -> str | None:
        """The name of the configured token equal to `presented`. Digests compared in
        constant time, every token each time: neither timing nor length tells which."""
        given = hashlib.sha256(presented.encode()).digest()
        found = None
        for token in self.tokens:
            if hmac.compare_digest(given, hashlib.sha256(token.reveal().encode()).digest()):
                found = token.name
        return found


CONTEXT = web.AppKey("watchpost_api", ApiContext)
TOKEN_NAME = web.RequestKey("watchpost_api_token", str)


def mount_api(
    web_app: web.Application, services: Services, *, limiter: CommandRateLimiter | None = None
) -> None:
    """Serve /api/v1 on `web_app` when tokens are configured."""
    settings = services.settings
    if not settings.api_tokens:
        return
    api = web.Application(middlewares=[_authenticate])
    api[CONTEXT] = ApiContext(
        services,
        settings.api_tokens,
        limiter if limiter is not None else CommandRateLimiter(settings.api_rate_limit),
    )
    api.router.add_get("/openapi.json", handle_openapi)
    api.router.add_get("/monitors", handle_monitors_list)
    api.router.add_post("/monitors", handle_monitors_add)
    api.router.add_post("/monitors/remove", handle_monitors_remove)
    # Not `remove`: that path is the bulk removal's, and only takes POST.
    api.router.add_delete("/monitors/{indicator:(?!remove$).+}", handle_monitor_delete)
    api.router.add_get("/alerts", handle_alerts_list)
    api.router.add_get("/indicators/{indicator:.+}", handle_indicator_get)
    api.router.add_get("/health", handle_health_get)
    web_app.middlewares.append(_api_errors)
    web_app.add_subapp(API_PREFIX, api)


# --- middlewares ----------------------------------------------------------------------


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On the root app, for /api/v1 paths only: so unknown paths and wrong methods under
    the prefix are JSON errors too. Counts every API request for /metrics."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = STATUS_CODES.get(exc.status, "http_error")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = error_response(ApiError(exc.status, code, exc.reason, headers=headers))
    except Exception:
        incident = uuid.uuid4().hex[:8]
        log.exception("API request %s %s failed (incident %s)", request.method, request.path, incident)
        response = error_response(
            ApiError(500, "internal_error", f"something went wrong on our side (incident {incident})")
        )
    _count(request, response.status)
    return response


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    context = request.app[CONTEXT]
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    name = context.token_name(presented.strip()) if scheme.lower() == "bearer" else None
    if name is None:
        raise ApiError(
            401,
            "unauthorized",
            "a valid API token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="watchpost"'},
        )
    wait = context.limiter.wait_time("api", name)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests with this token: at most {context.limiter.per_minute} a minute",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request[TOKEN_NAME] = name
    return await handler(request)


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers or None)


def _count(request: web.Request, status: int) -> None:
    services = _services_of(request)
    if services is None:
        return
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    services.metrics.api_requests.labels(request.method, route, str(status)).inc()


def _services_of(request: web.Request) -> Services | None:
    for app in reversed(request.match_info.apps):
        if CONTEXT in app:
            return app[CONTEXT].services
    return None


# --- handlers ---------------------------------------------------------------------------


async def handle_openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())


async def handle_monitors_list(request: web.Request) -> web.Response:
    services = request.app[CONTEXT].services
    wanted = parse_monitor_filter(request.query)
    monitors = await services.store.run(
        services.store.store.list_monitors,
        team_id=wanted.team_id,
        channel_id=wanted.channel_id,
        indicator=wanted.indicator,
    )
    return web.json_response({"monitors": [monitor_json(m) for m in monitors if wanted.keeps(m)]})


async def handle_monitors_add(request: web.Request) -> web.Response:
    """All or nothing: one bad indicator, or the channel's quota, refuses the request."""
    services = request.app[CONTEXT].services
    check_query(request.query)
    wanted = parse_add_request(await read_json(request))
    team_id = wanted.team_id or await _team_of(services, wanted.channel_id)
    store = services.store
    try:
        added = await store.run(
            store.store.add_monitors,
            team_id=team_id,
            channel_id=wanted.channel_id,
            user_id=f"api:{request[TOKEN_NAME]}",
            indicators=[(i.value, i.kind) for i in wanted.indicators],
            now=services.runner.clock(),
            # The scheduler's next tick takes the baseline of new indicators.
            first_check_delay=timedelta(0),
            quota=services.flows.access.channel_quota,
            tags=wanted.tags,
        )
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    names = {a.indicator for a in added}
    monitors = await store.run(store.store.list_monitors, team_id=team_id, channel_id=wanted.channel_id)
    created = [a.indicator for a in added if a.new_for_channel]
    body = {
        "added": created,
        "existing": [a.indicator for a in added if not a.new_for_channel],
        "monitors": [monitor_json(m) for m in monitors if m.indicator in names],
    }
    log.info(
        "API token %s added %d monitors to %s/%s",
        request[TOKEN_NAME],
        len(created),
        team_id,
        wanted.channel_id,
    )
    return web.json_response(body, status=201 if created else 200)


async def handle_monitors_remove(request: web.Request) -> web.Response:
    """Several indicators from one channel, all or nothing."""
    services = request.app[CONTEXT].services
    check_query(request.query)
    wanted = parse_remove_request(await read_json(request))
    team_id = wanted.team_id or await _team_of(services, wanted.channel_id)
    store = services.store
    try:
        removed = await store.run(
            store.store.remove_monitors,
            team_id=team_id,
            channel_id=wanted.channel_id,
            indicators=[i.value for i in wanted.indicators],
        )
    except UserInputError as exc:
        raise ApiError(404, "not_found", plain(str(exc))) from None
    log.info("API token %s removed %d monitors from %s", request[TOKEN_NAME], len(removed), wanted.channel_id)
    return web.json_response(
        {"removed": [{"indicator": i, "team": team_id, "channel": wanted.channel_id} for i in removed]}
    )


async def handle_monitor_delete(request: web.Request) -> web.Response:
    """One indicator from one channel (`channel`), or from every channel monitoring it."""
    services = request.app[CONTEXT].services
    indicator = parse_indicator_param(request.match_info["indicator"])
    where = parse_monitor_filter(request.query, allowed=("channel", "team"))
    store = services.store
    monitors = await store.run(
        store.store.list_monitors,
        team_id=where.team_id,
        channel_id=where.channel_id,
        indicator=indicator.value,
    )
    removed = []
    for monitor in monitors:
        try:
            await store.run(
                store.store.remove_monitors,
                team_id=monitor.team_id,
                channel_id=monitor.channel_id,
                indicators=[indicator.value],
            )
        except UserInputError:
            continue  # removed by someone else meanwhile
        removed.append({"indicator": indicator.value, "team": monitor.team_id, "channel": monitor.channel_id})
    if not removed:
        raise ApiError(404, "not_found", f"{indicator.value} is not monitored" + _where(where.channel_id))
    log.info("API token %s removed %s from %d channels", request[TOKEN_NAME], indicator.value, len(removed))
    return web.json_response({"removed": removed})


async def handle_alerts_list(request: web.Request) -> web.Response:
    services = request.app[CONTEXT].services
    query = parse_alert_query(request.query, timezone=services.settings.timezone)
    page = await services.store.run(services.alerts.page, query)
    after = page.alerts[-1].id if page.alerts else query.after_id
    return web.json_response(
        {
            "alerts": [alert_json(alert) for alert in page.alerts],
            "next_cursor": encode_cursor(after),
            "has_more": page.has_more,
        }
    )


async def handle_indicator_get(request: web.Request) -> web.Response:
    services = request.app[CONTEXT].services
    check_query(request.query)
    indicator = parse_indicator_param(request.match_info["indicator"])
    store = services.store
    subject = await store.run(store.store.get_subject, indicator.value)
    if subject is None:
        raise ApiError(404, "not_found", f"{indicator.value} is not monitored")
    monitors = await store.run(store.store.list_monitors, indicator=indicator.value)
    datasets = await store.run(store.store.dataset_health, subject.id)
    history = await store.run(services.alerts.indicator_history, subject.id)
    recent = await store.run(services.flows.history.history, subject.id, limit=RECENT_CHANGES)
    body = indicator_json(
        indicator,
        last_checked_at=subject.last_checked_at,
        monitors=monitors,
        datasets=datasets,
        history=history,
        recent=[(record.detected_at, record.change) for record in recent],
    )
    return web.json_response(body)


async def handle_health_get(request: web.Request) -> web.Response:
    services = request.app[CONTEXT].services
    check_query(request.query)
    quotas, gate = services.quotas, services.gate
    if quotas is None:
        return web.json_response({"sources": []})
    now = services.runner.clock()
    limits = dict(gate.limits) if gate is not None else {}
    known = await services.store.run(quotas.known_sources, now=now)
    wanted = {source: limits.get(source, ()) for source in {*known, *(s for s, lim in limits.items() if lim)}}
    sources = []
    for item in await services.store.run(quotas.usage, wanted, now=now):
        plan = await gate.plan(item.source) if gate is not None else None
        sources.append(source_health_json(item, plan))
    return web.json_response({"sources": sources})


# --- helpers ----------------------------------------------------------------------------


async def read_json(request: web.Request) -> Any:
    """The body as JSON, refused with 413 past MAX_BODY_BYTES (declared or streamed)."""
    too_large = ApiError(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES:,} bytes")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None


async def _team_of(services: Services, channel_id: str) -> str:
    """The workspace of a channel, when the request does not say: the team of the
    channel's monitors, else the bot's own workspace, else the only one with monitors."""
    in_channel = await services.store.run(services.alerts.teams, channel_id, anywhere=False)
    if len(in_channel) == 1:
        return in_channel[0]
    if not in_channel and services.slack_team_id:
        return services.slack_team_id
    teams = in_channel or await services.store.run(services.alerts.teams, channel_id)
    if len(teams) == 1:
        return teams[0]
    raise ApiError(
        400,
        "team_required",
        "team: give the Slack workspace id (T…) of the channel; it cannot be inferred",
        details=[{"parameter": "team", "reason": "required here"}],
    )


def _where(channel_id: str | None) -> str:
    return f" in {channel_id}" if channel_id else ""
