"""Requests into values and values into JSON, for the API and the webhooks (pure).

Indicators go through the same parser as `/monitor` (bot/core/indicators.py), so the API
accepts and refuses exactly what the slash command does, with the same reasons."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from bot.alerts.store.alerts import AlertQuery, DeliveryQuery
from bot.commands.grammar import parse_watch
from bot.core.errors import IndicatorError, UserInputError
from bot.core.indicators import Indicator, parse_indicator
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets import DATASET_NAMES
from bot.storage.views import MonitorView
from bot.surfaces.api.errors import ApiError, bad_parameter
from bot.triage.model import TriageState
from bot.watches.model import WatchKind

MAX_INDICATORS = 1000  # per request: a report's whole feed in one call
MAX_TAGS = 20
MAX_PAGE = 200
DEFAULT_PAGE = 50
SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
# How /monitor splits what it is given (bot/core/indicators.py): spaces, commas, semicolons, newlines.
TOKEN_SEPARATORS = re.compile(r"[\s,;]+")
CURSOR_PREFIX = "a1:"
KINDS = tuple(kind.value for kind in IndicatorKind)


# --- requests -----------------------------------------------------------------------


@dataclass(frozen=True)
class AddRequest:
    channel_id: str
    team_id: str | None
    indicators: tuple[Indicator, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportRequest:
    """`POST /monitors/import`: a document (`indicators`) or a MISP event to fetch (`misp_event`)."""

    channel_id: str
    team_id: str | None
    indicators: Any = None
    misp_event: str | None = None
    all_attributes: bool = False


@dataclass(frozen=True)
class RemoveRequest:
    channel_id: str
    team_id: str | None
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class MonitorFilter:
    channel_id: str | None = None
    team_id: str | None = None
    kind: IndicatorKind | None = None
    tag: str | None = None
    indicator: str | None = None

    def keeps(self, monitor: MonitorView) -> bool:
        return (self.kind is None or monitor.kind == self.kind) and (
            self.tag is None or self.tag in monitor.tags
        )


def parse_add_request(body: Any) -> AddRequest:
    fields = _object(body, required={"channel", "indicators"}, optional={"team", "tags"})
    return AddRequest(
        channel_id=_slack_id(fields, "channel"),
        team_id=_slack_id(fields, "team") if "team" in fields else None,
        indicators=parse_indicator_list(fields["indicators"]),
        tags=_tags(fields.get("tags", [])),
    )


def parse_import_request(body: Any) -> ImportRequest:
    optional = {"team", "indicators", "misp_event", "all_attributes"}
    fields = _object(body, required={"channel"}, optional=optional)
    given = [name for name in ("indicators", "misp_event") if name in fields]
    if len(given) != 1:
        raise ApiError(
            400,
            "invalid_request",
            "give `indicators` (a MISP event, a STIX 2.1 bundle or a list) or `misp_event` (an event's "
            "number or UUID, read from the configured MISP), one of the two",
            details=[{"field": "indicators", "reason": "exactly one of indicators, misp_event"}],
        )
    misp_event = fields.get("misp_event")
    if isinstance(misp_event, bool) or not isinstance(misp_event, str | int | None):
        raise bad_parameter("misp_event", "an event's number or UUID")
    all_attributes = fields.get("all_attributes", False)
    if not isinstance(all_attributes, bool):
        raise bad_parameter("all_attributes", "true or false")
    return ImportRequest(
        channel_id=_slack_id(fields, "channel"),
        team_id=_slack_id(fields, "team") if "team" in fields else None,
        indicators=fields.get("indicators"),
        misp_event=None if misp_event is None else str(misp_event),
        all_attributes=all_attributes,
    )


def parse_remove_request(body: Any) -> RemoveRequest:
    fields = _object(body, required={"channel", "indicators"}, optional={"team"})
    return RemoveRequest(
        channel_id=_slack_id(fields, "channel"),
        team_id=_slack_id(fields, "team") if "team" in fields else None,
        indicators=parse_indicator_list(fields["indicators"]),
    )


def parse_indicator_list(value: Any) -> tuple[Indicator, ...]:
    """A list of indicators, or one string holding several as `/monitor` takes them. All
    or nothing: every refused one is listed (index, input, reason) and none is used."""
    if isinstance(value, str):
        tokens = [token for token in TOKEN_SEPARATORS.split(value) if token]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        tokens = list(value)
    else:
        raise ApiError(400, "invalid_request", "indicators: a list of strings, or one string")
    if not tokens:
        raise ApiError(400, "invalid_request", "indicators: give at least one domain or IP address")
    if len(tokens) > MAX_INDICATORS:
        raise ApiError(
            400,
            "too_many_indicators",
            f"indicators: at most {MAX_INDICATORS} per request, and {len(tokens)} were given; "
            "split them over several requests (nothing was changed)",
        )
    found: dict[Indicator, None] = {}
    problems: list[dict[str, Any]] = []
    for index, token in enumerate(tokens):
        try:
            found.setdefault(parse_indicator(token), None)
        except IndicatorError as exc:
            problems.append({"index": index, "input": token[:100], "reason": plain(str(exc))})
    if problems:
        plural = "s" * (len(problems) != 1)
        raise ApiError(
            400,
            "invalid_indicators",
            f"{len(problems)} indicator{plural} cannot be monitored, so nothing was changed",
            details=problems,
        )
    return tuple(found)


def parse_indicator_param(value: str, name: str = "indicator") -> Indicator:
    try:
        return parse_indicator(value)
    except IndicatorError as exc:
        raise bad_parameter(name, plain(str(exc))) from None


def plain(message: str) -> str:
    """A user error written for Slack, without its mrkdwn code spans."""
    return message.replace("`", "")


MONITOR_FILTERS = ("channel", "team", "kind", "tag", "indicator")
ALERT_FILTERS = ("indicator", "dataset", "channel", "state", "since", "until", "day", "limit", "cursor")
DELIVERY_FILTERS = ("alert", "team", "channel", "state", "limit", "cursor")
TRIAGE_STATES = tuple(state.value for state in TriageState)
MAX_REASON_CHARS = 500


def check_query(query: Mapping[str, str], allowed: Sequence[str] = ()) -> None:
    """Unknown query parameters are refused, not ignored: `chanel=C1` must not list all."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"unknown query parameters: {', '.join(name[:40] for name in unknown[:10])}",
            details=[{"parameter": name[:40], "reason": "unknown"} for name in unknown[:10]],
        )


def parse_monitor_filter(query: Mapping[str, str], allowed: Sequence[str] = MONITOR_FILTERS) -> MonitorFilter:
    check_query(query, allowed)
    kind = query.get("kind")
    if kind is not None and kind not in KINDS:
        raise bad_parameter("kind", f"one of {', '.join(KINDS)}")
    tag = query.get("tag")
    if tag is not None and not TAG.fullmatch(tag):
        raise bad_parameter("tag", "not a tag (letters, digits and _ . : / -, up to 64)")
    indicator = query.get("indicator")
    return MonitorFilter(
        channel_id=_slack_id(query, "channel") if "channel" in query else None,
        team_id=_slack_id(query, "team") if "team" in query else None,
        kind=IndicatorKind(kind) if kind is not None else None,
        tag=tag,
        indicator=parse_indicator_param(indicator).value if indicator is not None else None,
    )


def parse_alert_query(query: Mapping[str, str], *, timezone: tzinfo) -> AlertQuery:
    """`indicator`, `dataset`, `channel`, `since` (inclusive), `until` (exclusive), `day`
    (in the team's zone), `limit` and `cursor`; the time filters narrow each other."""
    check_query(query, ALERT_FILTERS)
    indicator = query.get("indicator")
    dataset = query.get("dataset")
    if dataset is not None and dataset not in DATASET_NAMES:
        raise bad_parameter("dataset", f"one of {', '.join(DATASET_NAMES)}")
    state = query.get("state")
    if state is not None and state not in TRIAGE_STATES:
        raise bad_parameter("state", f"one of {', '.join(TRIAGE_STATES)}")
    start = _instant(query, "since")
    end = _instant(query, "until")
    if "day" in query:
        day = _day(query["day"])
        try:
            day_start = datetime.combine(day, time(0), timezone).astimezone(UTC)
            day_end = datetime.combine(day + timedelta(days=1), time(0), timezone).astimezone(UTC)
        except OverflowError:
            raise bad_parameter("day", "out of range") from None
        start = day_start if start is None else max(start, day_start)
        end = day_end if end is None else min(end, day_end)
    return AlertQuery(
        after_id=decode_cursor(query["cursor"]) if "cursor" in query else 0,
        limit=_limit(query),
        indicator=parse_indicator_param(indicator).value if indicator is not None else None,
        dataset=dataset,
        channel_id=_slack_id(query, "channel") if "channel" in query else None,
        start=start,
        end=end,
        triage_state=TriageState(state) if state is not None else None,
    )


def parse_delivery_query(query: Mapping[str, str]) -> DeliveryQuery:
    """`alert`, `team`, `channel`, `state`, `limit` and `cursor`."""
    check_query(query, DELIVERY_FILTERS)
    state = query.get("state")
    if state is not None and state not in TRIAGE_STATES:
        raise bad_parameter("state", f"one of {', '.join(TRIAGE_STATES)}")
    alert = query.get("alert")
    if alert is not None and not (alert.isdigit() and len(alert) <= 18):
        raise bad_parameter("alert", "an alert id")
    return DeliveryQuery(
        after_id=decode_cursor(query["cursor"]) if "cursor" in query else 0,
        limit=_limit(query),
        alert_id=int(alert) if alert is not None else None,
        team_id=_slack_id(query, "team") if "team" in query else None,
        channel_id=_slack_id(query, "channel") if "channel" in query else None,
        triage_state=TriageState(state) if state is not None else None,
    )


@dataclass(frozen=True)
class TriageRequest:
    state: TriageState
    reason: str | None


def parse_triage_request(body: Any) -> TriageRequest:
    """`{"triage": {"state": …, "reason": …}}`: a known state, a reason of at most 500
    characters or null; anything else is refused whole."""
    fields = _object(body, required={"triage"}, optional=set())
    triage = _object(fields["triage"], required={"state"}, optional={"reason"})
    state = triage["state"]
    if not isinstance(state, str) or state not in TRIAGE_STATES:
        raise bad_parameter("triage.state", f"one of {', '.join(TRIAGE_STATES)} (nothing was changed)")
    reason = triage.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise bad_parameter("triage.reason", f"a string of at most {MAX_REASON_CHARS} characters, or null")
    return TriageRequest(TriageState(state), reason)


def encode_cursor(after_id: int) -> str:
    """Opaque to clients: resume after this alert (or delivery)."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    number = raw.removeprefix(CURSOR_PREFIX)
    if not raw.startswith(CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise ApiError(400, "invalid_cursor", "cursor: not a cursor this API gave out")
    return int(number)


def _object(body: Any, *, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    missing = sorted(required - body.keys())
    unknown = sorted(body.keys() - required - optional)
    if missing or unknown:
        details = [{"field": name, "reason": "required"} for name in missing]
        details += [{"field": name, "reason": "unknown field"} for name in unknown]
        names = ", ".join(d["field"] for d in details)
        raise ApiError(400, "invalid_request", f"fields missing or unknown: {names}", details=details)
    return body


def _slack_id(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not SLACK_ID.fullmatch(value):
        raise bad_parameter(name, "a Slack id such as C0123ABCD (capital letters and digits)")
    return value


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise bad_parameter("tags", f"a list of at most {MAX_TAGS} tags")
    for tag in value:
        if not isinstance(tag, str) or not TAG.fullmatch(tag):
            raise bad_parameter("tags", "a tag is letters, digits and _ . : / - (up to 64, no space)")
    return tuple(dict.fromkeys(value))


def _instant(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_parameter(name, "an RFC 3339 time such as 2026-11-20T09:00:00Z") from None
    if value.tzinfo is None:
        raise bad_parameter(name, "give the UTC offset (2026-11-20T09:00:00Z or +01:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise bad_parameter(name, "out of range") from None


def _day(raw: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_parameter("day", "a date such as 2026-11-20") from None


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not re.fullmatch(r"\d{1,4}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_parameter("limit", f"a whole number from 1 to {MAX_PAGE}")
    return int(raw)


# --- lookalike and keyword watches ------------------------------------------------------

WATCH_KINDS = tuple(kind.value for kind in WatchKind)
FINDING_FILTERS = ("channel", "team", "domain", "term", "since", "until", "limit", "cursor")


@dataclass(frozen=True)
class WatchRequest:
    channel_id: str
    team_id: str | None
    kind: WatchKind
    terms: tuple[str, ...]


@dataclass(frozen=True)
class FindingQuery:
    channel_id: str | None = None
    team_id: str | None = None
    domain: str | None = None
    term: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after_id: int = 0
    limit: int = DEFAULT_PAGE


def parse_watch_request(body: Any, *, adding: bool) -> WatchRequest:
    """`{"channel", "team"?, "kind", "terms", "confirm"?}`: terms refused exactly as the
    slash command refuses them (public suffixes, one-letter keywords, short ones unconfirmed)."""
    optional = {"team", "confirm"} if adding else {"team"}
    fields = _object(body, required={"channel", "kind", "terms"}, optional=optional)
    kind = fields["kind"]
    if kind not in WATCH_KINDS:
        raise bad_parameter("kind", f"one of {', '.join(WATCH_KINDS)}")
    terms = fields["terms"]
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t for t in terms):
        raise bad_parameter("terms", "a list of domains (lookalike) or words (keyword)")
    confirm = fields.get("confirm", False)
    if not isinstance(confirm, bool):
        raise bad_parameter("confirm", "true or false")
    try:
        parsed = parse_watch(WatchKind(kind), [t.strip() for t in terms], confirmed=confirm or not adding)
    except UserInputError as exc:
        raise ApiError(400, "rejected", plain(str(exc))) from None
    return WatchRequest(
        channel_id=_slack_id(fields, "channel"),
        team_id=_slack_id(fields, "team") if "team" in fields else None,
        kind=WatchKind(kind),
        terms=parsed.terms,
    )


def parse_watch_filter(query: Mapping[str, str]) -> tuple[str | None, str | None, WatchKind | None]:
    check_query(query, ("channel", "team", "kind"))
    kind = query.get("kind")
    if kind is not None and kind not in WATCH_KINDS:
        raise bad_parameter("kind", f"one of {', '.join(WATCH_KINDS)}")
    return (
        _slack_id(query, "channel") if "channel" in query else None,
        _slack_id(query, "team") if "team" in query else None,
        WatchKind(kind) if kind is not None else None,
    )


def parse_finding_query(query: Mapping[str, str]) -> FindingQuery:
    check_query(query, FINDING_FILTERS)
    start, end = _instant(query, "since"), _instant(query, "until")
    domain = query.get("domain")
    if domain is not None:
        domain = parse_indicator_param(domain, "domain").value
    term = query.get("term")
    if term is not None and not 0 < len(term) <= 255:
        raise bad_parameter("term", "a watch's domain or word")
    return FindingQuery(
        channel_id=_slack_id(query, "channel") if "channel" in query else None,
        team_id=_slack_id(query, "team") if "team" in query else None,
        domain=domain,
        term=term,
        start=start,
        end=end,
        after_id=decode_cursor(query["cursor"]) if "cursor" in query else 0,
        limit=_limit(query),
    )
