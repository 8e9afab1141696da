"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json. The tests run
property-based requests from it against the implementation and check every answer
against it, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from bot.monitoring.datasets import DATASET_NAMES
from bot.surfaces.api.payloads import (
    DEFAULT_PAGE,
    KINDS,
    MAX_INDICATORS,
    MAX_PAGE,
    MAX_REASON_CHARS,
    MAX_TAGS,
    TRIAGE_STATES,
    WATCH_KINDS,
)

VERSION = "1.0.0"

_SLACK_ID = {"type": "string", "pattern": "^[A-Z0-9]{2,32}$"}
_TAG = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"}
_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_DATASET = {"type": "string", "enum": list(DATASET_NAMES)}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_STIX_MEDIA_TYPE = "application/stix+json;version=2.1"


def _json_or_stix(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """JSON by default; a STIX 2.1 bundle when `Accept` asks for `application/stix+json;version=2.1`."""
    response = _json(schema, description)
    response["content"][_STIX_MEDIA_TYPE] = {"schema": _ref("StixBundle")}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response = _json(_ref("Error"), description)
    if headers:
        response["headers"] = headers
    return response


_ERRORS = {
    "400": _error("Bad input: `error.code` says what, `error.details` where"),
    "401": _error(
        "No token, or not a valid one",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    ),
    "404": _error("Not monitored, or no such path"),
    "502": _error("The configured MISP did not give the event (unreachable, refused the key, no such event)"),
    "413": _error("The body is over 1 MiB"),
    "429": _error(
        "Too many requests with this token",
        {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}},
    ),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _ERRORS[code] for code in codes}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _body(schema: str) -> dict[str, Any]:
    """A required JSON request body of the named schema."""
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _paging() -> list[dict[str, Any]]:
    """`limit` and `cursor`: the parameters of every paged list."""
    return [
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
            "Page size",
        ),
        _query("cursor", {"type": "string"}, "`next_cursor` of the previous page"),
    ]


_ALERT_ID_PATH = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 999999999999999999},
}

_INDICATOR_PATH = {
    "name": "indicator",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "A domain or IP address, defanged or not (`evil[.]com`), URL-encoded",
}

_CHANGE: dict[str, Any] = {
    "dataset": _DATASET,
    "change": {"type": "string", "enum": ["added", "removed", "changed"]},
    "field": {"type": "string"},
    "old_value": {"type": ["string", "null"]},
    "new_value": {"type": ["string", "null"]},
    "source": {"type": "string"},
    "first_seen": _MAYBE_TIME,
    "last_seen": _MAYBE_TIME,
}

_SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {
                        "type": "string",
                        "description": "invalid_json, invalid_request, invalid_parameter, "
                        "invalid_indicators, too_many_indicators, invalid_items, invalid_cursor, "
                        "team_required, rejected, misp_not_configured, misp_unavailable, unauthorized, "
                        "not_found, method_not_allowed, payload_too_large, rate_limited, internal_error",
                    },
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
                required=["code", "message"],
            )
        }
    ),
    "Monitor": _object(
        {
            "indicator": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "team": {"type": "string"},
            "channel": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "muted": {"type": "array", "items": _DATASET},
            "created_by": {
                "type": "string",
                "description": "A Slack user id, or `api:<token name>` for monitors added here",
            },
            "created_at": _TIME,
            "last_checked_at": _MAYBE_TIME,
            "stale_datasets": {"type": "array", "items": _DATASET},
        }
    ),
    "MonitorList": _object({"monitors": {"type": "array", "items": _ref("Monitor")}}),
    "AddMonitors": _object(
        {
            "channel": {**_SLACK_ID, "description": "The Slack channel that gets the alerts"},
            "team": {
                **_SLACK_ID,
                "description": "The channel's workspace; by default the workspace of the "
                "channel's monitors, or else the bot's own",
            },
            "indicators": {
                "description": "Domains, IPs or URLs (defanged or not), as a list or as one string "
                "split like the slash command's input (spaces, commas, semicolons, newlines)",
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_INDICATORS},
                    {"type": "string", "minLength": 1},
                ],
            },
            "tags": {"type": "array", "items": _TAG, "maxItems": MAX_TAGS},
        },
        required=["channel", "indicators"],
    ),
    "AddedMonitors": _object(
        {
            "added": {"type": "array", "items": {"type": "string"}, "description": "New in the channel"},
            "existing": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Already monitored there (given tags are added to theirs)",
            },
            "monitors": {"type": "array", "items": _ref("Monitor")},
        }
    ),
    "ImportMonitors": _object(
        {
            "channel": {**_SLACK_ID, "description": "The Slack channel that gets the alerts"},
            "team": {**_SLACK_ID, "description": "The channel's workspace (as for adding monitors)"},
            "indicators": {
                "description": 'A MISP event (`{"Event": {…}}` or the bare event), a STIX 2.1 bundle, '
                "or a list of domains, IPs and URLs as `POST /monitors` takes it. Give this or "
                "`misp_event`.",
                "oneOf": [
                    {"type": "object"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "string"},
                ],
            },
            "misp_event": {
                "description": "An event's number or UUID, read from the configured MISP "
                "(WATCHPOST_MISP_URL). Give this or `indicators`.",
                "oneOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 0}],
            },
            "all_attributes": {
                "type": "boolean",
                "default": False,
                "description": "MISP: also the attributes not marked for detection (`to_ids`)",
            },
        },
        required=["channel"],
    ),
    "ImportItem": _object(
        {
            "item": {"type": "string", "description": "Where it came from: an attribute, a STIX object"},
            "value": {"type": "string"},
            "reason": {"type": "string"},
            "warning_lists": {"type": "array", "items": {"type": "string"}},
        },
        required=["item", "value", "reason"],
    ),
    "ImportedMonitors": _object(
        {
            "source": {"type": "string", "enum": ["misp", "stix", "list"]},
            "title": {"type": "string", "description": "The document, as replies name it"},
            "tag": {
                "type": ["string", "null"],
                "description": "Every monitor of the import gets it: `misp:<event uuid>`, `stix:<bundle id>`",
            },
            "added": {"type": "array", "items": {"type": "string"}, "description": "New in the channel"},
            "existing": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Already monitored there (the tag is added to theirs)",
            },
            "left_out": {
                "type": "array",
                "items": _ref("ImportItem"),
                "description": "On a MISP warning list, a private or reserved address, a range, or "
                "naming no domain, IP or URL",
            },
            "not_for_detection": {
                "type": "integer",
                "description": "MISP attributes of a host type not read: not marked `to_ids`",
            },
            "monitors": {"type": "array", "items": _ref("Monitor")},
        }
    ),
    "RemoveMonitors": _object(
        {
            "channel": _SLACK_ID,
            "team": _SLACK_ID,
            "indicators": {
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_INDICATORS},
                    {"type": "string", "minLength": 1},
                ]
            },
        },
        required=["channel", "indicators"],
    ),
    "Removed": _object(
        {
            "removed": {
                "type": "array",
                "items": _object(
                    {
                        "indicator": {"type": "string"},
                        "team": {"type": "string"},
                        "channel": {"type": "string"},
                    }
                ),
            }
        }
    ),
    "Change": _object(_CHANGE),
    "AlertChannel": _object(
        {
            "delivery": {"type": "integer", "description": "The delivery's id (PATCH /deliveries/{id})"},
            "team": {"type": "string"},
            "channel": {"type": "string"},
            "datasets": {"type": "array", "items": _DATASET, "description": "Less what the channel muted"},
            "status": {"type": "string", "enum": ["pending", "delivered", "abandoned"]},
            "delivered_at": _MAYBE_TIME,
            "follow_up": {"type": "boolean", "description": "Posted in the thread of an earlier alert"},
            "triage": _ref("Triage"),
        }
    ),
    "Delivery": _object(
        {
            "id": {"type": "integer"},
            "alert": {"type": "integer", "description": "The alert's id"},
            "indicator": {"type": "string"},
            "detected_at": _TIME,
            "team": {"type": "string"},
            "channel": {"type": "string"},
            "datasets": {"type": "array", "items": _DATASET, "description": "Less what the channel muted"},
            "status": {"type": "string", "enum": ["pending", "delivered", "abandoned"]},
            "delivered_at": _MAYBE_TIME,
            "follow_up": {"type": "boolean", "description": "Posted in the thread of an earlier alert"},
            "triage": _ref("Triage"),
        }
    ),
    "DeliveryPage": _object(
        {
            "deliveries": {"type": "array", "items": _ref("Delivery")},
            "next_cursor": {"type": "string", "description": "Pass as `cursor` for the next page"},
            "has_more": {"type": "boolean"},
        }
    ),
    "Alert": _object(
        {
            "id": {"type": "integer", "description": "Increases with every alert, in commit order"},
            "check_id": {"type": "string", "description": "The check that found the changes"},
            "indicator": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "detected_at": _TIME,
            "datasets": {"type": "array", "items": _DATASET},
            "changes": {"type": "array", "items": _ref("Change")},
            "channels": {"type": "array", "items": _ref("AlertChannel")},
            "triage": {
                **_ref("Triage"),
                "description": "Each channel triages its own copy (`channels[].triage`); this is "
                "their common state, or open while they differ",
            },
        }
    ),
    "Triage": _object(
        {
            "state": {"type": "string", "enum": list(TRIAGE_STATES)},
            "by": {"type": ["string", "null"], "description": "A Slack user id, or api:<token name>"},
            "at": _MAYBE_TIME,
            "reason": {"type": ["string", "null"]},
        }
    ),
    "TriageRequest": _object(
        {
            "triage": _object(
                {
                    "state": {"type": "string", "enum": list(TRIAGE_STATES)},
                    "reason": {"type": ["string", "null"], "maxLength": MAX_REASON_CHARS},
                },
                required=["state"],
            )
        }
    ),
    "StixBundle": {
        "type": "object",
        "description": "A STIX 2.1 bundle (validated against the OASIS STIX validator in the tests): per "
        "alert the Watchpost identity, an indicator of the monitored value and its observable, the new "
        "values as observables with `resolves-to`, `belongs-to` and `related-to` relationships, an "
        "observed-data wrapping them, a sighting of the indicator and a note for values with no "
        "observable. Ids are stable: the same alert gives the same objects.",
        "properties": {
            "type": {"type": "string", "enum": ["bundle"]},
            "id": {"type": "string", "pattern": "^bundle--"},
            "objects": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        },
        "required": ["type", "id"],
        "additionalProperties": False,
    },
    "AlertPage": _object(
        {
            "alerts": {"type": "array", "items": _ref("Alert")},
            "next_cursor": {
                "type": "string",
                "description": "Pass as `cursor` for the alerts after this page; also when the page "
                "is empty, to poll for new ones",
            },
            "has_more": {"type": "boolean"},
        }
    ),
    "Fact": _object(
        {
            "field": {"type": "string"},
            "value": {"type": "string"},
            "source": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "removing", "adding"]},
            "first_seen": _TIME,
            "last_seen": _MAYBE_TIME,
        }
    ),
    "DatasetState": _object(
        {
            "dataset": {"type": "string"},
            "baseline_at": _MAYBE_TIME,
            "last_ok_at": _MAYBE_TIME,
            "stale": {"type": "boolean"},
            "last_error": {"type": ["string", "null"]},
            "facts": {"type": "array", "items": _ref("Fact")},
        }
    ),
    "RecentChange": _object({**_CHANGE, "detected_at": _TIME}),
    "Watch": _object(
        {
            "id": {"type": "integer"},
            "team": {"type": "string"},
            "channel": {"type": "string"},
            "kind": {"type": "string", "enum": list(WATCH_KINDS)},
            "term": {"type": "string", "description": "The brand's registered domain, or the keyword"},
            "created_by": {"type": "string"},
            "created_at": _TIME,
        }
    ),
    "WatchList": _object({"watches": {"type": "array", "items": _ref("Watch")}}),
    "WatchRequest": _object(
        {
            "channel": _SLACK_ID,
            "team": _SLACK_ID,
            "kind": {"type": "string", "enum": list(WATCH_KINDS)},
            "terms": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "maxItems": 50,
            },
            "confirm": {"type": "boolean", "description": "Needed for keywords under 4 letters"},
        },
        required=["channel", "kind", "terms"],
    ),
    "UnwatchRequest": _object(
        {
            "channel": _SLACK_ID,
            "team": _SLACK_ID,
            "kind": {"type": "string", "enum": list(WATCH_KINDS)},
            "terms": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "maxItems": 50,
            },
        },
        required=["channel", "kind", "terms"],
    ),
    "AddedWatches": _object(
        {
            "added": {"type": "array", "items": {"type": "string"}},
            "existing": {"type": "array", "items": {"type": "string"}},
            "watches": {"type": "array", "items": _ref("Watch")},
        }
    ),
    "RemovedWatches": _object({"removed": {"type": "array", "items": {"type": "string"}}}),
    "Finding": _object(
        {
            "id": {"type": "integer"},
            "team": {"type": "string"},
            "channel": {"type": "string"},
            "domain": {"type": "string", "description": "The lookalike's registrable domain"},
            "name": {"type": "string", "description": "The name first seen (a certificate's, or the domain)"},
            "domain_unicode": {
                "type": "string",
                "description": "The domain as read: punycode (xn--) labels in Unicode; the domain itself "
                "when it has none",
            },
            "name_unicode": {"type": "string", "description": "The name seen, as read (Unicode)"},
            "mixed_scripts": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The scripts one label of the domain mixes (Latin, Cyrillic, ...), "
                "the homoglyph's tell; empty when no label mixes scripts",
            },
            "kind": {
                "type": "string",
                "enum": ["lookalike", "keyword"],
                "description": "keyword: found by keyword watches alone (a name containing a word)",
            },
            "source": {"type": "string", "enum": ["ct", "dns"]},
            "issuer": {"type": ["string", "null"]},
            "first_seen_at": _TIME,
            "certificates": {"type": "integer", "minimum": 0},
            "dismissed": {"type": "boolean"},
            "alerted": {"type": "boolean"},
            "matches": {
                "type": "array",
                "items": _object(
                    {
                        "watch_id": {"type": "integer"},
                        "kind": {"type": "string"},
                        "term": {"type": "string"},
                        "rule": {"type": "string"},
                        "why": {"type": "string"},
                    }
                ),
            },
        }
    ),
    "FindingPage": _object(
        {
            "findings": {"type": "array", "items": _ref("Finding")},
            "next_cursor": {"type": "string"},
            "has_more": {"type": "boolean"},
        }
    ),
    "Indicator": _object(
        {
            "indicator": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "monitored_since": _MAYBE_TIME,
            "last_checked_at": _MAYBE_TIME,
            "monitors": {"type": "array", "items": _ref("Monitor")},
            "datasets": {"type": "array", "items": _ref("DatasetState")},
            "history": _object(
                {
                    "alerts": {"type": "integer", "minimum": 0},
                    "first_alert_at": _MAYBE_TIME,
                    "last_alert_at": _MAYBE_TIME,
                    "last_change_at": _MAYBE_TIME,
                    "changes_by_dataset": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "recent_changes": {"type": "array", "items": _ref("RecentChange")},
                }
            ),
        }
    ),
    "SourceHealth": _object(
        {
            "source": {"type": "string"},
            "requests_last_hour": {"type": "integer", "minimum": 0},
            "requests_last_day": {"type": "integer", "minimum": 0},
            "quota": {
                "type": "array",
                "items": _object(
                    {
                        "window_seconds": {"type": "number"},
                        "allowed": {"type": "integer", "minimum": 0},
                        "used": {"type": "integer", "minimum": 0},
                    }
                ),
            },
            "errors_last_day": {"type": "object", "additionalProperties": {"type": "integer"}},
            "last_success_at": _MAYBE_TIME,
            "latency_ms": _object(
                {"p50": {"type": ["integer", "null"]}, "p95": {"type": ["integer", "null"]}}
            ),
            "effective_interval_seconds": {"type": ["number", "null"]},
            "monitors": {"type": ["integer", "null"]},
            "waiting": {"type": "integer", "minimum": 0},
            "failing_since": _MAYBE_TIME,
        }
    ),
    "ResolverHealth": _object(
        {
            "where": {"type": "string"},
            "ok": {"type": "boolean"},
            "problem": {"type": ["string", "null"]},
            "checked_at": _TIME,
            "failing_since": _MAYBE_TIME,
        }
    ),
    "CtLogHealth": _object(
        {
            "log": {"type": "string"},
            "position": {"type": "integer", "minimum": 0},
            "tree_size": {"type": "integer", "minimum": 0},
            "lag": {"type": "integer", "minimum": 0},
            "advanced_at": _TIME,
        }
    ),
    "ReceiverHealth": _object(
        {
            "receiver": {"type": "string", "description": "webhook, misp or thehive"},
            "on": {"type": "boolean"},
            "off_reason": {"type": ["string", "null"], "description": "Why the settings leave it off"},
            "backlog": {"type": "integer", "minimum": 0, "description": "Deliveries not yet made"},
            "abandoned": {"type": "integer", "minimum": 0, "description": "Deliveries given up"},
            "last_error": {
                "type": ["string", "null"],
                "description": "The last error of a delivery not yet made (null: none)",
            },
            "last_error_at": _MAYBE_TIME,
        }
    ),
    "Health": _object(
        {
            "sources": {"type": "array", "items": _ref("SourceHealth")},
            "sources_off": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Each source the settings turned off, and why (VirusTotal without a "
                "key: `no key: WATCHPOST_VIRUSTOTAL_KEY is unset`); these are not in `sources`",
            },
            "resolver": {
                "oneOf": [_ref("ResolverHealth"), {"type": "null"}],
                "description": "The resolver check's last verdict, from whichever process ran it; "
                "null before the first check or with WATCHPOST_DNS_CANARY off",
            },
            "ct_logs": {
                "type": "array",
                "items": _ref("CtLogHealth"),
                "description": "How far each Certificate Transparency log has been read (empty "
                "until a lookalike or keyword watch has had one read)",
            },
            "receivers": {
                "type": "array",
                "items": _ref("ReceiverHealth"),
                "description": "Each HTTP receiver of alerts (webhook, MISP, TheHive): on or off, "
                "its backlog, how many deliveries were given up, and the last error",
            },
        }
    ),
}


def _monitor_paths() -> dict[str, Any]:
    """Listing, adding and importing monitors."""
    return {
        "/monitors": {
            "get": {
                "operationId": "listMonitors",
                "summary": "Monitors, narrowed by channel, team, kind, tag or indicator",
                "parameters": [
                    _query("channel", _SLACK_ID, "Only this channel's"),
                    _query("team", _SLACK_ID, "Only this workspace's"),
                    _query("kind", {"type": "string", "enum": list(KINDS)}, "Only IPs or domains"),
                    _query("tag", _TAG, "Only monitors with this tag"),
                    _query("indicator", {"type": "string", "minLength": 1}, "Only this indicator's"),
                ],
                "responses": {
                    "200": _json(_ref("MonitorList"), "The monitors, by indicator"),
                    **_errors("400", "401", "429"),
                },
            },
            "post": {
                "operationId": "addMonitors",
                "summary": "Monitor one or many indicators in a channel (all or nothing)",
                "description": "Parsed and refused exactly like `/monitor`; one refused indicator "
                "or the channel's quota refuses the whole request. New indicators get their "
                "baseline within seconds, with no alert.",
                "requestBody": _body("AddMonitors"),
                "responses": {
                    "201": _json(_ref("AddedMonitors"), "At least one monitor was added"),
                    "200": _json(_ref("AddedMonitors"), "All were monitored there already"),
                    **_errors("400", "401", "413", "429"),
                },
            },
        },
        "/monitors/import": {
            "post": {
                "operationId": "importMonitors",
                "summary": "Monitor the domains, IPs and URLs of a MISP event or STIX 2.1 bundle",
                "description": "All or nothing: an item that cannot be read (written defanged, a bad "
                "STIX pattern, not a domain, IP or URL) refuses the request with every such item in "
                "`error.details` (code `invalid_items`). Items on MISP's warning lists and private "
                "or reserved addresses are left out and listed in `left_out`. Each monitor is tagged "
                "with where it came from. Bodies up to 16 MiB.",
                "requestBody": _body("ImportMonitors"),
                "responses": {
                    "201": _json(_ref("ImportedMonitors"), "At least one monitor was added"),
                    "200": _json(_ref("ImportedMonitors"), "Nothing new: monitored already, or left out"),
                    **_errors("400", "401", "413", "429", "502"),
                },
            }
        },
    }


def _monitor_removal_paths() -> dict[str, Any]:
    """Removing monitors."""
    return {
        "/monitors/remove": {
            "post": {
                "operationId": "removeMonitors",
                "summary": "Stop monitoring several indicators in a channel (all or nothing)",
                "requestBody": _body("RemoveMonitors"),
                "responses": {
                    "200": _json(_ref("Removed"), "Removed"),
                    **_errors("400", "401", "404", "413", "429"),
                },
            }
        },
        "/monitors/{indicator}": {
            "delete": {
                "operationId": "deleteMonitor",
                "summary": "Stop monitoring an indicator in a channel, or everywhere",
                "parameters": [
                    _INDICATOR_PATH,
                    _query("channel", _SLACK_ID, "Only in this channel (default: every channel)"),
                    _query("team", _SLACK_ID, "Only in this workspace"),
                ],
                "responses": {
                    "200": _json(_ref("Removed"), "Removed"),
                    **_errors("400", "401", "404", "429"),
                },
            }
        },
    }


def _alert_paths() -> dict[str, Any]:
    """Alerts, and the triage of every channel's copy."""
    return {
        "/alerts": {
            "get": {
                "operationId": "listAlerts",
                "summary": "Alerts, oldest first, a page at a time",
                "description": "An alert is one check of one indicator that found changes worth "
                "alerting on. Follow `next_cursor`: pages never skip or repeat an alert, also "
                "while new ones arrive.",
                "parameters": [
                    _query("indicator", {"type": "string", "minLength": 1}, "Only this indicator's"),
                    _query("dataset", _DATASET, "Only alerts with a change in this dataset"),
                    _query("channel", _SLACK_ID, "Only alerts posted to this channel"),
                    _query(
                        "state",
                        {"type": "string", "enum": list(TRIAGE_STATES)},
                        "Only alerts in this triage state",
                    ),
                    _query("since", _TIME, "Detected at or after (RFC 3339 with offset)"),
                    _query("until", _TIME, "Detected before"),
                    _query(
                        "day",
                        {"type": "string", "format": "date"},
                        "Detected on this day in the team's time zone",
                    ),
                    *_paging(),
                ],
                "responses": {
                    "200": _json_or_stix(
                        _ref("AlertPage"),
                        "A page of alerts; with `Accept: application/stix+json;version=2.1`, one STIX "
                        "2.1 bundle of the page's alerts (each object once), the cursor in headers",
                        {
                            "X-Watchpost-Next-Cursor": {
                                "schema": {"type": "string"},
                                "description": "`next_cursor` (STIX answers only)",
                            },
                            "X-Watchpost-Has-More": {
                                "schema": {"type": "string", "enum": ["true", "false"]},
                                "description": "`has_more` (STIX answers only)",
                            },
                        },
                    ),
                    **_errors("400", "401", "429"),
                },
            }
        },
        "/alerts/{alert_id}": {
            "get": {
                "operationId": "getAlert",
                "summary": "One alert, as in the list; or its STIX 2.1 bundle",
                "description": "JSON by default (also for `*/*`). With `Accept: "
                "application/stix+json;version=2.1` (or no version), the alert as a STIX 2.1 bundle.",
                "parameters": [_ALERT_ID_PATH],
                "responses": {
                    "200": _json_or_stix(_ref("Alert"), "The alert"),
                    **_errors("400", "401", "404", "429"),
                },
            },
            "patch": {
                "operationId": "triageAlert",
                "summary": "Set the triage of every channel's copy of an alert (the token's name "
                "is recorded as who)",
                "description": "Sets each delivery of the alert (see /deliveries for one channel's). "
                "`false_positive` suppresses the alert's values on each monitor it went to, both ways, "
                "for the configured time; leaving it lifts them. The alert's Slack messages are "
                "edited to show the new state.",
                "parameters": [_ALERT_ID_PATH],
                "requestBody": _body("TriageRequest"),
                "responses": {
                    "200": _json(_ref("Alert"), "The alert with its new triage"),
                    **_errors("400", "401", "404", "413", "429"),
                },
            },
        },
    }


def _delivery_paths() -> dict[str, Any]:
    """Each channel's copy of an alert, and its triage."""
    return {
        "/deliveries": {
            "get": {
                "operationId": "listDeliveries",
                "summary": "Each channel's copy of each alert, with its own triage, oldest first",
                "parameters": [
                    _query("alert", {"type": "integer", "minimum": 0}, "Only this alert's"),
                    _query("team", _SLACK_ID, "Only this workspace's"),
                    _query("channel", _SLACK_ID, "Only this channel's"),
                    _query(
                        "state",
                        {"type": "string", "enum": list(TRIAGE_STATES)},
                        "Only deliveries in this triage state",
                    ),
                    *_paging(),
                ],
                "responses": {
                    "200": _json(_ref("DeliveryPage"), "A page of deliveries"),
                    **_errors("400", "401", "429"),
                },
            }
        },
        "/deliveries/{delivery_id}": {
            "patch": {
                "operationId": "triageDelivery",
                "summary": "Set one channel's triage of an alert; other channels keep theirs",
                "description": "`false_positive` suppresses the alert's values on that channel's "
                "monitor; leaving it lifts them. That channel's Slack message is edited.",
                "parameters": [
                    {
                        "name": "delivery_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 999999999999999999},
                    }
                ],
                "requestBody": _body("TriageRequest"),
                "responses": {
                    "200": _json(_ref("Delivery"), "The delivery with its new triage"),
                    **_errors("400", "401", "404", "413", "429"),
                },
            }
        },
    }


def _indicator_paths() -> dict[str, Any]:
    """What is known of one indicator."""
    return {
        "/indicators/{indicator}": {
            "get": {
                "operationId": "getIndicator",
                "summary": "What Watchpost knows of an indicator now, and its history in numbers",
                "parameters": [_INDICATOR_PATH],
                "responses": {
                    "200": _json(_ref("Indicator"), "The indicator's state"),
                    **_errors("400", "401", "404", "429"),
                },
            }
        },
    }


def _watch_paths() -> dict[str, Any]:
    """Lookalike and keyword watches, and their findings."""
    return {
        "/watches": {
            "get": {
                "operationId": "listWatches",
                "summary": "Lookalike and keyword watches, narrowed by channel, team or kind",
                "parameters": [
                    _query("channel", _SLACK_ID, "Only this channel's"),
                    _query("team", _SLACK_ID, "Only this workspace's"),
                    _query("kind", {"type": "string", "enum": list(WATCH_KINDS)}, "Only this kind"),
                ],
                "responses": {
                    "200": _json(_ref("WatchList"), "The watches"),
                    **_errors("400", "401", "429"),
                },
            },
            "post": {
                "operationId": "addWatches",
                "summary": "Watch for lookalikes of domains, or names containing words, in a channel",
                "description": "Refused like `/monitor lookalikes` and `/monitor keyword`: public "
                "suffixes, one-letter keywords, and keywords under 4 letters without `confirm`.",
                "requestBody": _body("WatchRequest"),
                "responses": {
                    "201": _json(_ref("AddedWatches"), "At least one watch was added"),
                    "200": _json(_ref("AddedWatches"), "All were watched there already"),
                    **_errors("400", "401", "413", "429"),
                },
            },
        },
        "/watches/remove": {
            "post": {
                "operationId": "removeWatches",
                "summary": "Stop watches of a channel",
                "requestBody": _body("UnwatchRequest"),
                "responses": {
                    "200": _json(_ref("RemovedWatches"), "What was watched and no longer is"),
                    **_errors("400", "401", "404", "413", "429"),
                },
            }
        },
        "/findings": {
            "get": {
                "operationId": "listFindings",
                "summary": "Lookalike findings, oldest first, a page at a time",
                "description": "One finding per lookalike registrable domain per channel, naming every "
                "watch of the channel it matched and why.",
                "parameters": [
                    _query("channel", _SLACK_ID, "Only this channel's"),
                    _query("team", _SLACK_ID, "Only this workspace's"),
                    _query("domain", {"type": "string", "minLength": 1}, "Only this lookalike"),
                    _query(
                        "term",
                        {"type": "string", "minLength": 1, "maxLength": 255},
                        "Only those a watch of this term matched",
                    ),
                    _query("since", _TIME, "First seen at or after"),
                    _query("until", _TIME, "First seen before"),
                    *_paging(),
                ],
                "responses": {
                    "200": _json(_ref("FindingPage"), "A page of findings"),
                    **_errors("400", "401", "429"),
                },
            }
        },
    }


def _service_paths() -> dict[str, Any]:
    """Source health and this document."""
    return {
        "/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "Every data source: requests in the last hour and day, quota use, errors by "
                "kind, last success, latency, and the interval its quota allows (every process counted); "
                "the resolver check's verdict; how far each CT log has been read; each alert receiver's "
                "state",
                "responses": {
                    "200": _json(_ref("Health"), "Source health"),
                    **_errors("400", "401", "429"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document (no token needed)",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
            }
        },
    }


def build_openapi() -> dict[str, Any]:
    """The document: its paths built afresh by the functions above, one per group of routes;
    its schemas the `_SCHEMAS` table."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Watchpost API",
            "version": VERSION,
            "description": "Monitors, alerts and indicator state of a Watchpost bot. Every request "
            "but this document needs `Authorization: Bearer <token>` (WATCHPOST_API_TOKENS); "
            'errors are `{"error": {"code", "message", "details"}}`.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            **_monitor_paths(),
            **_monitor_removal_paths(),
            **_alert_paths(),
            **_delivery_paths(),
            **_indicator_paths(),
            **_watch_paths(),
            **_service_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
        },
    }
