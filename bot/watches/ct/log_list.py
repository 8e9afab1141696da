"""The log list (Chrome's v3 schema) -> the logs to read (pure).

`operators[].logs[]` are RFC 6962 logs (read at `url`), `operators[].tiled_logs[]` Static
CT API logs (read at `monitoring_url`, checkpoints named by `submission_url`). Only logs
whose state is usable or qualified are read: those are the ones CAs log new certificates
to. A log's URL is its identity (the key positions are stored under).

Every log URL comes from a document fetched over the network, so a URL must be https
(or on the list's own host), and an IP literal that is not on the public internet is
refused unless the list itself is served from such an address (a loopback test list).
Host names are resolved to public addresses only by the HTTP client's resolver.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.core.errors import SourceError

SOURCE = "ct-log-list"
READ_STATES = frozenset({"usable", "qualified"})
Api = Literal["rfc6962", "static"]


@dataclass(frozen=True)
class CtLog:
    identity: str  # `url` (RFC 6962) or `monitoring_url` (static), with a trailing slash
    api: Api
    description: str
    state: str
    log_id: bytes  # SHA-256 of the key (RFC 6962 §3.2)
    key: bytes  # DER SubjectPublicKeyInfo; empty when the list gives none (nothing to verify)
    origin: str = ""  # static logs: the checkpoint origin line (schema-less submission URL)


@dataclass(frozen=True)
class LogList:
    logs: tuple[CtLog, ...]
    problems: tuple[str, ...]  # entries left out, and why


def parse_log_list(document: Any, list_url: str) -> LogList:
    if not isinstance(document, dict) or not isinstance(document.get("operators"), list):
        raise SourceError(SOURCE, "not a v3 log list (no operators[])", transient=False)
    logs: list[CtLog] = []
    problems: list[str] = []
    seen: set[str] = set()
    for operator in document["operators"]:
        if not isinstance(operator, dict):
            continue
        kinds: tuple[tuple[Api, str], ...] = (("rfc6962", "logs"), ("static", "tiled_logs"))
        for api, key in kinds:
            items = operator.get(key)
            for item in items if isinstance(items, list) else []:
                try:
                    log = _log(item, api, list_url)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
                if log is not None and log.identity not in seen:
                    seen.add(log.identity)
                    logs.append(log)
    return LogList(tuple(logs), tuple(problems))


def _log(item: Any, api: Api, list_url: str) -> CtLog | None:
    if not isinstance(item, dict):
        raise ValueError("a log entry that is not an object")
    description = str(item.get("description", ""))[:200]
    state = _state(item.get("state"))
    if state not in READ_STATES:
        return None
    url_field = "url" if api == "rfc6962" else "monitoring_url"
    identity = _url(item.get(url_field), list_url, f"{description or 'a log'}: {url_field}")
    key = _base64(item.get("key"), f"{identity}: key") if item.get("key") else b""
    stated_id = _base64(item.get("log_id"), f"{identity}: log_id") if item.get("log_id") else b""
    log_id = hashlib.sha256(key).digest() if key else stated_id
    if key and stated_id and stated_id != log_id:
        raise ValueError(f"{identity}: log_id is not the SHA-256 of its key")
    origin = ""
    if api == "static":
        submission = _url(item.get("submission_url"), list_url, f"{identity}: submission_url")
        origin = submission.split("://", 1)[1].rstrip("/")
    return CtLog(identity, api, description, state, log_id, key, origin)


def _state(state: Any) -> str:
    # {"usable": {"timestamp": "..."}}: the one key is the state.
    if isinstance(state, dict) and len(state) == 1:
        return str(next(iter(state)))
    return ""


def _base64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


def _url(value: Any, list_url: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is missing")
    if not url_allowed(list_url, value):
        raise ValueError(f"{what} refused: {value[:100]!r}")
    return value if value.endswith("/") else value + "/"


def url_allowed(list_url: str, url: str) -> bool:
    """May a log named in the list at `list_url` be read at `url`?"""
    try:
        base, target = urlsplit(list_url), urlsplit(url)
        same_host = base.hostname == target.hostname  # any port: the operator chose the host
    except ValueError:
        return False
    if target.scheme not in ("http", "https") or not target.hostname:
        return False
    if target.query or target.fragment or target.username or target.password:
        return False
    if target.scheme != "https" and not same_host:
        return False
    if _internal_literal(target.hostname):
        return same_host or _internal_literal(base.hostname or "")
    return True


def _internal_literal(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False
