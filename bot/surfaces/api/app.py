"""/api/v1 on the bot's aiohttp server: bearer tokens, a rate limit per token, JSON in and
out, and every error as `{"error": {"code", "message", "details"?}}`.

Mounted only when WATCHPOST_API_TOKENS is set. Monitors added here are the slash
command's monitors (same parser, same quota, same storage); their baseline is taken by
the scheduler's next tick, so a request with 500 indicators answers at once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.alerts.messages import stix
from bot.alerts.messages.payloads import (
    alert_json,
    ct_log_json,
    delivery_json,
    finding_json,
    import_item_json,
    indicator_json,
    monitor_json,
    receiver_health_json,
    resolver_json,
    source_health_json,
    watch_json,
)
from bot.commands.flows import MonitorFlows
from bot.config import ApiToken, Settings
from bot.core.errors import UserInputError
from bot.core.metrics import Metrics
from bot.core.results import Caller
from bot.imports.flows import ImportOutcome, MispNotConfigured, MispUnavailable
from bot.storage.db import Database
from bot.storage.rate_limits import LocalRateLimiter, RateLimit, RateLimiter
from bot.surfaces.api.errors import ApiError
from bot.surfaces.api.openapi import build_openapi
from bot.surfaces.api.payloads import (
    check_query,
    encode_cursor,
    parse_add_request,
    parse_alert_query,
    parse_delivery_query,
    parse_finding_query,
    parse_import_request,
    parse_indicator_param,
    parse_monitor_filter,
    parse_remove_request,
    parse_triage_request,
    parse_watch_filter,
    parse_watch_request,
    plain,
)
from bot.triage.flows.deliveries import TriageFlows

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
MAX_IMPORT_BYTES = 16 * 1024 * 1024  # a MISP event or STIX bundle with its objects
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


@dataclass(frozen=True)
class ApiDeps:
    """What the API needs: the use cases (add, remove: the same rules as /monitor), the
    database for what it reads, and the bot's own workspace once Slack has said it."""

    settings: Settings
    flows: MonitorFlows
    db: Database
    metrics: Metrics
    slack_team_id: Callable[[], str | None]
    triage: TriageFlows | None = None  # None: alerts can be read, not triaged


@dataclass
class ApiContext:
    deps: ApiDeps
    tokens: tuple[ApiToken, ...]
    limiter: RateLimiter

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


def mount_api(web_app: web.Application, deps: ApiDeps, *, limiter: RateLimiter | None = None) -> None:
    """Serve /api/v1 on `web_app` when tokens are configured."""
    settings = deps.settings
    if not settings.api_tokens:
        return
    api = web.Application(middlewares=[_authenticate])
    api[CONTEXT] = ApiContext(
        deps,
        settings.api_tokens,
        limiter if limiter is not None else LocalRateLimiter(RateLimit(settings.api_rate_limit)),
    )
    api.router.add_get("/openapi.json", handle_openapi)
    api.router.add_get("/monitors", handle_monitors_list)
    api.router.add_post("/monitors", handle_monitors_add)
    api.router.add_post("/monitors/remove", handle_monitors_remove)
    api.router.add_post("/monitors/import", handle_monitors_import)
    # Not `remove` or `import`: those paths are the bulk removal's and the import's (POST only).
    api.router.add_delete("/monitors/{indicator:(?!(?:remove|import)$).+}", handle_monitor_delete)
    api.router.add_get("/alerts", handle_alerts_list)
    api.router.add_get(r"/alerts/{alert_id:\d{1,18}}", handle_alert_get)
    api.router.add_patch(r"/alerts/{alert_id:\d{1,18}}", handle_alert_patch)
    api.router.add_get("/deliveries", handle_deliveries_list)
    api.router.add_patch(r"/deliveries/{delivery_id:\d{1,18}}", handle_delivery_patch)
    api.router.add_get("/indicators/{indicator:.+}", handle_indicator_get)
    api.router.add_get("/watches", handle_watches_list)
    api.router.add_post("/watches", handle_watches_add)
    api.router.add_post("/watches/remove", handle_watches_remove)
    api.router.add_get("/findings", handle_findings_list)
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
    wait = await context.limiter.take(f"api:{name}")
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests with this token: at most {context.limiter.rate.per_minute} a minute",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request[TOKEN_NAME] = name
    return await handler(request)


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers or None)


def _count(request: web.Request, status: int) -> None:
    deps = _deps_of(request)
    if deps is None:
        return
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    deps.metrics.api_requests.labels(request.method, route, str(status)).inc()


def _deps_of(request: web.Request) -> ApiDeps | None:
    for app in reversed(request.match_info.apps):
        if CONTEXT in app:
            return app[CONTEXT].deps
    return None


# --- handlers ---------------------------------------------------------------------------


async def handle_openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())


async def handle_monitors_list(request: web.Request) -> web.Response:
    db = request.app[CONTEXT].deps.db
    wanted = parse_monitor_filter(request.query)
    monitors = await db.run(
        db.monitors.list, team_id=wanted.team_id, channel_id=wanted.channel_id, indicator=wanted.indicator
    )
    return web.json_response({"monitors": [monitor_json(m) for m in monitors if wanted.keeps(m)]})


async def handle_monitors_add(request: web.Request) -> web.Response:
    """All or nothing: one bad indicator, or the channel's quota, refuses the request."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_add_request(await read_json(request))
    caller = _caller(request, wanted.team_id or await _team_of(deps, wanted.channel_id), wanted.channel_id)
    try:
        added = await deps.flows.monitors.add_monitors(
            wanted.indicators, caller, tags=wanted.tags, baseline_by_scheduler=True
        )
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    names = {a.indicator for a in added}
    db = deps.db
    monitors = await db.run(db.monitors.list, team_id=caller.team_id, channel_id=caller.channel_id)
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
        caller.team_id,
        caller.channel_id,
    )
    return web.json_response(body, status=201 if created else 200)


async def handle_monitors_import(request: web.Request) -> web.Response:
    """Monitors from a MISP event, a STIX 2.1 bundle or a list, or from an event of the
    configured MISP: all or nothing (one item that cannot be read refuses the request,
    every such item listed); what MISP's warning lists name and private addresses are left
    out and listed."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_import_request(await read_json(request, limit=MAX_IMPORT_BYTES))
    caller = _caller(request, wanted.team_id or await _team_of(deps, wanted.channel_id), wanted.channel_id)
    imports = deps.flows.imports
    try:
        if wanted.misp_event is not None:
            outcome = await imports.import_misp_event(
                wanted.misp_event, caller, all_attributes=wanted.all_attributes
            )
        else:
            outcome = await imports.import_document(
                wanted.indicators, caller, all_attributes=wanted.all_attributes
            )
    except MispNotConfigured as exc:
        raise ApiError(400, "misp_not_configured", plain(str(exc))) from None
    except MispUnavailable as exc:
        raise ApiError(502, "misp_unavailable", plain(str(exc))) from None
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    if outcome.refused:
        errors = outcome.imported.errors
        raise ApiError(
            400,
            "invalid_items",
            f"{len(errors)} item{'s' * (len(errors) != 1)} of {outcome.imported.title} cannot be read, "
            "so nothing was changed",
            details=[import_item_json(item) for item in errors],
        )
    body = await _import_body(deps, caller, outcome)
    log.info(
        "API token %s imported %d monitors from %s into %s/%s",
        request[TOKEN_NAME],
        len(body["added"]),
        outcome.imported.source.value,
        caller.team_id,
        caller.channel_id,
    )
    return web.json_response(body, status=201 if body["added"] else 200)


async def _import_body(deps: ApiDeps, caller: Caller, outcome: ImportOutcome) -> dict[str, Any]:
    imported = outcome.imported
    names = {a.indicator for a in outcome.added}
    db = deps.db
    monitors = await db.run(db.monitors.list, team_id=caller.team_id, channel_id=caller.channel_id)
    return {
        "source": imported.source.value,
        "title": imported.title,
        "tag": imported.tag,
        "added": [a.indicator for a in outcome.added if a.new_for_channel],
        "existing": [a.indicator for a in outcome.added if not a.new_for_channel],
        "left_out": [import_item_json(item) for item in imported.left_out],
        "not_for_detection": imported.not_for_detection,
        "monitors": [monitor_json(m) for m in monitors if m.indicator in names],
    }


async def handle_monitors_remove(request: web.Request) -> web.Response:
    """Several indicators from one channel, all or nothing."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_remove_request(await read_json(request))
    caller = _caller(request, wanted.team_id or await _team_of(deps, wanted.channel_id), wanted.channel_id)
    try:
        removed = await deps.flows.monitors.remove_monitors(wanted.indicators, caller)
    except UserInputError as exc:
        raise ApiError(404, "not_found", plain(str(exc))) from None
    log.info("API token %s removed %d monitors from %s", request[TOKEN_NAME], len(removed), caller.channel_id)
    return web.json_response(
        {"removed": [{"indicator": i, "team": caller.team_id, "channel": caller.channel_id} for i in removed]}
    )


async def handle_monitor_delete(request: web.Request) -> web.Response:
    """One indicator from one channel (`channel`), or from every channel monitoring it."""
    deps = request.app[CONTEXT].deps
    indicator = parse_indicator_param(request.match_info["indicator"])
    where = parse_monitor_filter(request.query, allowed=("channel", "team"))
    db = deps.db
    monitors = await db.run(
        db.monitors.list, team_id=where.team_id, channel_id=where.channel_id, indicator=indicator.value
    )
    removed = []
    for monitor in monitors:
        try:
            await deps.flows.monitors.remove_monitors(
                [indicator], _caller(request, monitor.team_id, monitor.channel_id)
            )
        except UserInputError:
            continue  # removed by someone else meanwhile
        removed.append({"indicator": indicator.value, "team": monitor.team_id, "channel": monitor.channel_id})
    if not removed:
        raise ApiError(404, "not_found", f"{indicator.value} is not monitored" + _where(where.channel_id))
    log.info("API token %s removed %s from %d channels", request[TOKEN_NAME], indicator.value, len(removed))
    return web.json_response({"removed": removed})


async def handle_alerts_list(request: web.Request) -> web.Response:
    """A page of alerts: JSON, or one STIX 2.1 bundle of the page's alerts (its cursor in
    the X-Watchpost-Next-Cursor and X-Watchpost-Has-More headers)."""
    deps = request.app[CONTEXT].deps
    query = parse_alert_query(request.query, timezone=deps.settings.timezone)
    page = await deps.db.run(deps.db.alerts.page, query)
    after = page.alerts[-1].id if page.alerts else query.after_id
    if wants_stix(request.headers.get("Accept", "")):
        return _stix_response(
            # Off the event loop: a page of 200 alerts takes the stix2 library a second or two.
            await asyncio.to_thread(stix.alerts_bundle, page.alerts),
            {
                "X-Watchpost-Next-Cursor": encode_cursor(after),
                "X-Watchpost-Has-More": str(page.has_more).lower(),
            },
        )
    body = {
        "alerts": [alert_json(alert) for alert in page.alerts],
        "next_cursor": encode_cursor(after),
        "has_more": page.has_more,
    }
    return web.json_response(body, headers={"Vary": "Accept"})


async def handle_alert_get(request: web.Request) -> web.Response:
    """One alert: JSON (as the list's items), or its STIX 2.1 bundle."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    alert_id = int(request.match_info["alert_id"])
    alert = await deps.db.run(deps.db.alerts.get, alert_id)
    if alert is None:
        raise ApiError(404, "not_found", f"there is no alert {alert_id}")
    if wants_stix(request.headers.get("Accept", "")):
        return _stix_response(await asyncio.to_thread(stix.alert_bundle, alert))
    return web.json_response(alert_json(alert), headers={"Vary": "Accept"})


async def handle_alert_patch(request: web.Request) -> web.Response:
    """Set an alert's triage; the token's name is recorded as who, and the alert's Slack
    messages are edited to show it."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_triage_request(await read_json(request))
    alert_id = int(request.match_info["alert_id"])
    if deps.triage is None or await deps.db.run(deps.db.alerts.get, alert_id) is None:
        raise ApiError(404, "not_found", f"there is no alert {alert_id}")
    caller = _caller(request, "", "")
    try:
        await deps.triage.set_state(alert_id, wanted.state, caller, reason=wanted.reason)
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    log.info("API token %s set alert %s %s", request[TOKEN_NAME], alert_id, wanted.state.value)
    alert = await deps.db.run(deps.db.alerts.get, alert_id)
    assert alert is not None
    return web.json_response(alert_json(alert))


async def handle_deliveries_list(request: web.Request) -> web.Response:
    deps = request.app[CONTEXT].deps
    query = parse_delivery_query(request.query)
    page = await deps.db.run(deps.db.alerts.deliveries, query)
    after = page.deliveries[-1][1].delivery_id if page.deliveries else query.after_id
    return web.json_response(
        {
            "deliveries": [delivery_json(alert, channel) for alert, channel in page.deliveries],
            "next_cursor": encode_cursor(after),
            "has_more": page.has_more,
        }
    )


async def handle_delivery_patch(request: web.Request) -> web.Response:
    """Set one channel's copy of an alert; the others keep theirs. The token's name is
    recorded as who, and that channel's message is edited to show it."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_triage_request(await read_json(request))
    delivery_id = int(request.match_info["delivery_id"])
    found = await deps.db.run(deps.db.alerts.delivery, delivery_id)
    if deps.triage is None or found is None:
        raise ApiError(404, "not_found", f"there is no delivery {delivery_id}")
    _, channel = found
    caller = _caller(request, channel.team_id, channel.channel_id)
    try:
        await deps.triage.set_delivery_state(delivery_id, wanted.state, caller, reason=wanted.reason)
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    log.info("API token %s set delivery %s %s", request[TOKEN_NAME], delivery_id, wanted.state.value)
    updated = await deps.db.run(deps.db.alerts.delivery, delivery_id)
    assert updated is not None
    return web.json_response(delivery_json(*updated))


async def handle_indicator_get(request: web.Request) -> web.Response:
    db = request.app[CONTEXT].deps.db
    check_query(request.query)
    indicator = parse_indicator_param(request.match_info["indicator"])
    subject = await db.run(db.monitors.subject, indicator.value)
    if subject is None:
        raise ApiError(404, "not_found", f"{indicator.value} is not monitored")
    monitors = await db.run(db.monitors.list, indicator=indicator.value)
    datasets = await db.run(db.checks.dataset_health, subject.id)
    history = await db.run(db.alerts.indicator_history, subject.id)
    recent = await db.run(db.history.history, subject.id, limit=RECENT_CHANGES)
    body = indicator_json(
        indicator,
        last_checked_at=subject.last_checked_at,
        monitors=monitors,
        datasets=datasets,
        history=history,
        recent=[(record.detected_at, record.change) for record in recent],
    )
    return web.json_response(body)


async def handle_watches_list(request: web.Request) -> web.Response:
    deps = request.app[CONTEXT].deps
    channel_id, team_id, kind = parse_watch_filter(request.query)
    watches = await deps.db.run(deps.db.lookalikes.watches, team_id=team_id, channel_id=channel_id)
    return web.json_response({"watches": [watch_json(w) for w in watches if kind is None or w.kind is kind]})


async def handle_watches_add(request: web.Request) -> web.Response:
    """Lookalike or keyword watches for a channel, refused like the slash command's."""
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_watch_request(await read_json(request), adding=True)
    team_id = wanted.team_id or await _team_of(deps, wanted.channel_id)
    lookalikes = deps.db.lookalikes
    try:
        change = await deps.db.run(
            lookalikes.add_watches,
            team_id=team_id,
            channel_id=wanted.channel_id,
            user_id=f"api:{request[TOKEN_NAME]}",
            kind=wanted.kind,
            terms=wanted.terms,
            now=deps.flows.clock(),
            quota=deps.flows.access.channel_quota,
        )
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    watches = await deps.db.run(lookalikes.watches, team_id=team_id, channel_id=wanted.channel_id)
    body = {
        "added": change.added,
        "existing": change.already,
        "watches": [watch_json(w) for w in watches if w.kind is wanted.kind and w.term in wanted.terms],
    }
    log.info(
        "API token %s added %s watches %s to %s",
        request[TOKEN_NAME],
        wanted.kind.value,
        change.added,
        wanted.channel_id,
    )
    return web.json_response(body, status=201 if change.added else 200)


async def handle_watches_remove(request: web.Request) -> web.Response:
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    wanted = parse_watch_request(await read_json(request), adding=False)
    team_id = wanted.team_id or await _team_of(deps, wanted.channel_id)
    removed = await deps.db.run(
        deps.db.lookalikes.remove_watches,
        team_id=team_id,
        channel_id=wanted.channel_id,
        kind=wanted.kind,
        terms=wanted.terms,
    )
    if not removed:
        raise ApiError(404, "not_found", f"none of those is watched in {wanted.channel_id}")
    return web.json_response({"removed": removed})


async def handle_findings_list(request: web.Request) -> web.Response:
    """Lookalike findings, oldest first, a page at a time (`next_cursor`)."""
    deps = request.app[CONTEXT].deps
    query = parse_finding_query(request.query)
    findings = await deps.db.run(
        deps.db.lookalikes.findings,
        team_id=query.team_id,
        channel_id=query.channel_id,
        domain=query.domain,
        term=query.term,
        start=query.start,
        end=query.end,
        after_id=query.after_id,
        limit=query.limit + 1,
    )
    page = findings[: query.limit]
    after = page[-1].id if page else query.after_id
    return web.json_response(
        {
            "findings": [finding_json(f) for f in page],
            "next_cursor": encode_cursor(after),
            "has_more": len(findings) > query.limit,
        }
    )


async def handle_health_get(request: web.Request) -> web.Response:
    deps = request.app[CONTEXT].deps
    check_query(request.query)
    resolver = resolver_json(await deps.flows.readers.resolver_status())
    ct_logs = [ct_log_json(p) for p in await deps.flows.readers.ct_log_positions() or ()]
    sources = [source_health_json(item, plan) for item, plan in await deps.flows.health.source_usage()]
    receivers = [receiver_health_json(state) for state in await deps.flows.health.receiver_health()]
    return web.json_response(
        {
            "sources": sources,
            "sources_off": dict(sorted(deps.flows.health.sources_off.items())),
            "resolver": resolver,
            "ct_logs": ct_logs,
            "receivers": receivers,
        }
    )


# --- helpers ----------------------------------------------------------------------------


def wants_stix(accept: str) -> bool:
    """Whether `Accept` asks for a STIX 2.1 bundle rather than JSON (the default, also for
    `*/*`, no header, or anything else): `application/stix+json` with `version=2.1` or no
    version, at a quality above zero, and above that of an `application/json` it names too."""
    stix_q, json_q = 0.0, None
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        params = dict(_parameter(p) for p in parameters)
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            continue
        media = media.lower()
        if media == "application/stix+json" and params.get("version", "2.1") == "2.1":
            stix_q = max(stix_q, quality)
        elif media == "application/json":
            json_q = max(json_q or 0.0, quality)
    return stix_q > 0 and (json_q is None or stix_q > json_q)


def _parameter(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name.strip().lower(), value.strip().strip('"')


def _stix_response(bundle: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(bundle, ensure_ascii=False).encode()
    return web.Response(
        body=body, headers={"Content-Type": stix.MEDIA_TYPE, "Vary": "Accept", **(headers or {})}
    )


async def read_json(request: web.Request, *, limit: int = MAX_BODY_BYTES) -> Any:
    """The body as JSON, refused with 413 past `limit` bytes (declared or streamed)."""
    too_large = ApiError(413, "payload_too_large", f"the body is over {limit:,} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None


def _caller(request: web.Request, team_id: str, channel_id: str) -> Caller:
    """An API token acts like an admin of the channel, named for the record."""
    return Caller(team_id=team_id, channel_id=channel_id, user_id=f"api:{request[TOKEN_NAME]}", trusted=True)


async def _team_of(deps: ApiDeps, channel_id: str) -> str:
    """The workspace of a channel, when the request does not say: the team of the
    channel's monitors, else the bot's own workspace, else the only one with monitors."""
    db = deps.db
    in_channel = await db.run(db.alerts.teams, channel_id, anywhere=False)
    if len(in_channel) == 1:
        return in_channel[0]
    bot_team = deps.slack_team_id()
    if not in_channel and bot_team:
        return bot_team
    teams = in_channel or await db.run(db.alerts.teams, channel_id)
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
