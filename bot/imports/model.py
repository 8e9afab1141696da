"""Indicators from where they already live (pure): a MISP event, a STIX 2.1 bundle or a plain
list in; what becomes of each item out, before anything is stored.

Every item ends one of three ways:

- accepted: a domain or IP address to monitor (a URL is monitored as its host);
- left out, named with the reason: a private or reserved address or name, a range of
  addresses, a STIX indicator on nothing Watchpost monitors (a file hash), a revoked one,
  and (`screen`) anything on one of MISP's warning lists;
- an error: a value that cannot be read (written defanged in a structured format, not a
  domain, IP or URL), a STIX pattern that does not parse or compares a domain, IP or URL
  in a way that names no one value (`LIKE`, `!=`, `ISSUBSET`). One error refuses the
  whole import: the caller stores nothing.

MISP events: the attributes of types domain, hostname, ip-src, ip-dst, url and their
`|port` / `domain|ip` forms, in the event and in its objects; only those marked for
detection (`to_ids`) unless `all_attributes`. Values are read as written (a MISP or STIX
value is never defanged). STIX bundles: indicators whose `pattern` compares
`domain-name:value`, `ipv4-addr:value`, `ipv6-addr:value` or `url:value` with `=` or `IN`
(however OR-ed, AND-ed or sequenced: each value named is one indicator), parsed with the
OASIS `stix2-patterns` parser; observed-data through its `object_refs` to the bundle's
SCOs, or the deprecated inline `objects`. A plain list is read as `/monitor` reads it,
refanging included.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from stix2patterns.exceptions import ParseException
from stix2patterns.v21.pattern import Pattern

from bot.core.errors import IndicatorError, UserInputError
from bot.core.indicators import (
    Indicator,
    escape_in_code,
    internet_refusal,
    parse_indicator,
    parse_written_indicator,
    refang,
)

MAX_ITEMS = 5000  # values read from one document: a whole event, not a data dump
MAX_SHOWN = 200  # characters of a value kept for messages
# MISP attribute types that hold a host, and which `|`-separated parts of the value do.
MISP_TYPES: Mapping[str, tuple[int, ...]] = {
    "domain": (0,),
    "hostname": (0,),
    "ip-src": (0,),
    "ip-dst": (0,),
    "url": (0,),
    "domain|ip": (0, 1),
    "hostname|port": (0,),
    "ip-src|port": (0,),
    "ip-dst|port": (0,),
}
STIX_TYPES = frozenset({"domain-name", "ipv4-addr", "ipv6-addr", "url"})
_STIX_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")


class ItemOutcome(StrEnum):
    """What became of one item of an import (an attribute, an indicator, a line)."""

    ACCEPTED = "accepted"
    LEFT_OUT = "left_out"
    ERROR = "error"


class Source(StrEnum):
    MISP = "misp"
    STIX = "stix"
    LIST = "list"


@dataclass(frozen=True)
class ImportItem:
    """One value read from the document and what became of it. `item` names where it came
    from (an attribute, a STIX object), as given; `reason` says why it is left out or
    refused, safe to show in Slack as it is (what it quotes of the document is escaped)."""

    item: str
    value: str
    outcome: ItemOutcome
    indicator: Indicator | None = None
    reason: str = ""
    warning_lists: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome is ItemOutcome.ACCEPTED


@dataclass(frozen=True)
class IndicatorImport:
    """A document read: its items, the tag its monitors get, and how to name it."""

    source: Source
    title: str  # "MISP event 42 (Phishing wave)", "STIX bundle bundle--…", "the list"
    items: tuple[ImportItem, ...]
    tag: str | None = None  # `misp:<event uuid>`, `stix:<bundle id>`
    # MISP attributes of a host type left aside because they are not marked for detection.
    not_for_detection: int = 0

    @property
    def indicators(self) -> list[Indicator]:
        """What to monitor: each accepted indicator once, in the document's order."""
        return list(dict.fromkeys(i.indicator for i in self.items if i.indicator and i.accepted))

    @property
    def left_out(self) -> list[ImportItem]:
        return _unique(i for i in self.items if i.outcome is ItemOutcome.LEFT_OUT)

    @property
    def errors(self) -> list[ImportItem]:
        return [i for i in self.items if i.outcome is ItemOutcome.ERROR]


def _unique(items: Iterable[ImportItem]) -> list[ImportItem]:
    """One per value and reason: an event naming a value twice leaves it out once."""
    return list({(i.value, i.reason): i for i in items}.values())


def read_document(document: Any, *, all_attributes: bool = False) -> IndicatorImport:
    """A MISP event (`{"Event": {…}}` or the bare event), a STIX bundle, or a list (of
    strings, or one string) of indicators. UserInputError when it is none of them."""
    if isinstance(document, str | list):
        return read_list(document)
    if isinstance(document, dict):
        if document.get("type") == "bundle":
            return read_stix_bundle(document)
        if "Event" in document or ("uuid" in document and ("Attribute" in document or "Object" in document)):
            return read_misp_event(document, all_attributes=all_attributes)
    raise UserInputError(
        'indicators: give a MISP event (`{"Event": {…}}`), a STIX 2.1 bundle (`"type": "bundle"`) '
        "or a list of domains, IPs and URLs"
    )


def screen(imported: IndicatorImport, hits: Callable[[Indicator], Sequence[str]]) -> IndicatorImport:
    """Leave out the accepted indicators that `hits` finds on warning lists, naming the lists."""
    items = []
    for item in imported.items:
        found = tuple(hits(item.indicator)) if item.indicator is not None and item.accepted else ()
        if found:
            more = f" and {len(found) - 2} more" if len(found) > 2 else ""
            reason = f"on MISP warning list{'s' * (len(found) > 1)} " + ", ".join(
                f"“{escape_in_code(name)}”" for name in found[:2]
            )
            item = replace(item, outcome=ItemOutcome.LEFT_OUT, reason=reason + more, warning_lists=found)
        items.append(item)
    return replace(imported, items=tuple(items))


# --- plain lists -------------------------------------------------------------------------


def read_list(value: str | list[Any]) -> IndicatorImport:
    """Today's list: the tokens `/monitor` takes, refanged as it refangs them."""
    if isinstance(value, str):
        tokens = [token for token in re.split(r"[\s,;]+", value) if token]
    elif all(isinstance(token, str) for token in value):
        tokens = list(value)
    else:
        raise UserInputError("indicators: a list of strings, or one string")
    _check_size(len(tokens))
    items = [judge(f"item {index}", token, written=False) for index, token in enumerate(tokens)]
    return IndicatorImport(Source.LIST, "the list", tuple(items))


# --- MISP ---------------------------------------------------------------------------------


def read_misp_event(document: Mapping[str, Any], *, all_attributes: bool = False) -> IndicatorImport:
    """A MISP event's host attributes, in the event and its objects (deleted ones skipped)."""
    event = document.get("Event", document)
    if not isinstance(event, dict):
        raise UserInputError("indicators: `Event` must be a MISP event object")
    event_uuid = _uuid(event.get("uuid"))
    if event_uuid is None:
        raise UserInputError("indicators: the MISP event has no valid `uuid` to tag its monitors with")
    attributes: list[tuple[str | None, dict[str, Any]]] = [(None, a) for a in _dicts(event.get("Attribute"))]
    for misp_object in _dicts(event.get("Object")):
        if not _flag(misp_object.get("deleted")):
            name = str(misp_object.get("name") or "object")[:40]
            attributes += [(name, a) for a in _dicts(misp_object.get("Attribute"))]
    hosts = [
        (name, a) for name, a in attributes if a.get("type") in MISP_TYPES and not _flag(a.get("deleted"))
    ]
    chosen = [(name, a) for name, a in hosts if all_attributes or _flag(a.get("to_ids"))]
    _check_size(len(chosen))
    items = [item for name, attribute in chosen for item in _misp_items(name, attribute)]
    number = str(event.get("id") or "").strip()
    info = "".join(c for c in " ".join(str(event.get("info") or "").split()) if c.isprintable())[:80]
    title = "MISP event " + (number if number.isdigit() else event_uuid) + (f" ({info})" if info else "")
    return IndicatorImport(
        Source.MISP, title, tuple(items), f"misp:{event_uuid}", not_for_detection=len(hosts) - len(chosen)
    )


def _misp_items(object_name: str | None, attribute: Mapping[str, Any]) -> list[ImportItem]:
    kind = str(attribute["type"])
    value = attribute.get("value")
    where = f" of object {object_name}" if object_name else ""
    ref = _uuid(attribute.get("uuid")) or str(attribute.get("id") or "?")[:20]
    item = f"{kind} attribute {ref}{where}"
    if not isinstance(value, str):
        return [ImportItem(item, repr(value)[:MAX_SHOWN], ItemOutcome.ERROR, reason="its value is not text")]
    parts = value.split("|") if "|" in kind else [value]
    if len(parts) != kind.count("|") + 1:
        wanted = kind.count("|") + 1
        reason = f"`{kind}` holds {wanted} values separated by `|`, and this one has {len(parts)}"
        return [ImportItem(item, value[:MAX_SHOWN], ItemOutcome.ERROR, reason=reason)]
    return [judge(item, parts[index], written=True) for index in MISP_TYPES[kind]]


# --- STIX ----------------------------------------------------------------------------------


def read_stix_bundle(bundle: Mapping[str, Any]) -> IndicatorImport:
    """Indicators with STIX patterns, and observed-data, of a STIX 2.1 (or 2.0) bundle."""
    bundle_id = bundle.get("id")
    if not isinstance(bundle_id, str) or _uuid(bundle_id.removeprefix("bundle--")) is None:
        raise UserInputError("indicators: a STIX bundle needs its `id` (`bundle--<uuid>`)")
    bundle_id = "bundle--" + str(_uuid(bundle_id.removeprefix("bundle--")))
    objects = list(_dicts(bundle.get("objects")))
    by_id = {str(o["id"]): o for o in objects if isinstance(o.get("id"), str)}
    items: list[ImportItem] = []
    for stix_object in objects:
        if stix_object.get("type") == "indicator":
            items += _stix_indicator(stix_object)
        elif stix_object.get("type") == "observed-data":
            items += _observed_data(stix_object, by_id)
        _check_size(len(items))
    return IndicatorImport(Source.STIX, f"STIX bundle {bundle_id}", tuple(items), f"stix:{bundle_id}")


def _stix_indicator(indicator: Mapping[str, Any]) -> list[ImportItem]:
    name = _stix_name(indicator)
    pattern = indicator.get("pattern")
    shown = str(pattern)[:MAX_SHOWN]
    if _flag(indicator.get("revoked")):
        return [ImportItem(name, shown, ItemOutcome.LEFT_OUT, reason="revoked")]
    pattern_type = str(indicator.get("pattern_type") or "stix")
    if pattern_type != "stix":
        reason = f"a {escape_in_code(pattern_type[:20])} pattern: only STIX patterns name indicators"
        return [ImportItem(name, shown, ItemOutcome.LEFT_OUT, reason=reason)]
    if not isinstance(pattern, str):
        return [ImportItem(name, shown, ItemOutcome.ERROR, reason="it has no `pattern`")]
    try:
        comparisons = Pattern(pattern).inspect().comparisons
    except ParseException as exc:
        reason = f"its pattern is not valid STIX: {escape_in_code(' '.join(str(exc).split())[:200])}"
        return [ImportItem(name, shown, ItemOutcome.ERROR, reason=reason)]
    items: list[ImportItem] = []
    others: list[str] = []
    for object_type, entries in comparisons.items():
        for path, operator, literal in entries:
            where = f"{object_type}:{'.'.join(p if isinstance(p, str) else '[*]' for p in path)}"
            if object_type not in STIX_TYPES:
                others.append(where)
            else:
                items += _compared(name, where, path, operator, literal)
    if not items:
        listed = escape_in_code(", ".join(sorted(set(others))[:3]) or "nothing")
        reason = f"its pattern names no domain, IP or URL (it compares {listed})"
        return [ImportItem(name, shown, ItemOutcome.LEFT_OUT, reason=reason)]
    return items


def _compared(name: str, where: str, path: Sequence[object], operator: str, literal: str) -> list[ImportItem]:
    """The values one comparison of a pattern names: `=` one, `IN` several, others none (an error)."""
    item = f"{name} ({where})"
    shown = f"{where} {operator} {literal}"[:MAX_SHOWN]
    quoted = escape_in_code(where[:100])
    if list(path) != ["value"]:
        reason = f"`{quoted}` is not the object's value: only `value` names a domain, IP or URL here"
        return [ImportItem(item, shown, ItemOutcome.ERROR, reason=reason)]
    values = _stix_strings(literal) if operator in ("=", "IN") else None
    if not values or (operator == "=" and len(values) != 1):
        reason = (
            f"`{quoted} {escape_in_code(operator[:12])} …` does not name one value to monitor: "
            "only `=` and `IN` with strings do"
        )
        return [ImportItem(item, shown, ItemOutcome.ERROR, reason=reason)]
    return [judge(item, value, written=True) for value in values]


def _stix_strings(literal: str) -> list[str] | None:
    """`'evil.com'` or `('a.com', 'b.com')` as the strings they hold; None for other literals."""
    text = literal.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
        found = [m.group(1) for m in _STIX_STRING.finditer(text)]
        rest = _STIX_STRING.sub("", text).replace(",", "").strip()
        return [_unescape(v) for v in found] if found and not rest else None
    match = _STIX_STRING.fullmatch(text)
    return [_unescape(match.group(1))] if match else None


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _observed_data(observed: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> list[ImportItem]:
    """The domain, IP and URL objects an observed-data names: `object_refs` to the bundle's
    objects (STIX 2.1), or its own `objects` (STIX 2.0, deprecated in 2.1)."""
    name = _stix_name(observed)
    found: list[tuple[str, Mapping[str, Any]]] = []
    refs = observed.get("object_refs")
    for ref in refs if isinstance(refs, list) else ():
        target = by_id.get(ref) if isinstance(ref, str) else None
        if target is None:
            shown = str(ref)[:MAX_SHOWN]
            found.append((f"{name} → {shown}", {"type": "missing", "ref": shown}))
        else:
            found.append((f"{name} → {str(ref)[:80]}", target))
    inline = observed.get("objects")
    if isinstance(inline, dict):
        found += [(f"{name} → object {str(key)[:20]}", o) for key, o in inline.items() if isinstance(o, dict)]
    items = []
    for item, sco in found:
        if sco.get("type") == "missing":
            items.append(ImportItem(item, sco["ref"], ItemOutcome.LEFT_OUT, reason="not in the bundle"))
        elif sco.get("type") in STIX_TYPES:
            value = sco.get("value")
            if isinstance(value, str):
                items.append(judge(item, value, written=True))
            else:
                items.append(
                    ImportItem(item, repr(value)[:MAX_SHOWN], ItemOutcome.ERROR, reason="no `value`")
                )
    return items


def _stix_name(stix_object: Mapping[str, Any]) -> str:
    identifier = stix_object.get("id")
    if isinstance(identifier, str):
        return identifier[:80]
    return str(stix_object.get("type", "object"))[:40]


# --- one value ----------------------------------------------------------------------------


def judge(item: str, value: str, *, written: bool) -> ImportItem:
    """What becomes of one value: `written` values (MISP, STIX) are read exactly as given,
    the others as `/monitor` reads them. A value that is no internet host, or a range of
    addresses, is left out; one that cannot be read is an error."""
    parse = parse_written_indicator if written else parse_indicator
    shown = value[:MAX_SHOWN]
    try:
        indicator = parse(value)
    except IndicatorError as exc:
        reason = not_monitorable(value if written else refang(value.strip()))
        if reason is not None:
            return ImportItem(item, shown, ItemOutcome.LEFT_OUT, reason=reason)
        return ImportItem(item, shown, ItemOutcome.ERROR, reason=str(exc))
    return ImportItem(item, shown, ItemOutcome.ACCEPTED, indicator)


def not_monitorable(value: str) -> str | None:
    """Why a value that names something is not a single internet host: a private or
    reserved address or name, a range of addresses; None if it is not that (or no host)."""
    text = value.strip()
    if "/" in text and "://" not in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            network = None
        if network is not None and network.num_addresses > 1:
            return internet_refusal(str(network.network_address)) or (
                "a range of addresses: Watchpost monitors single addresses"
            )
    return internet_refusal(_host(text))


def _host(text: str) -> str:
    """The host part of a URL, `host:port`, `[v6]:port` or a bare host."""
    if "://" in text:
        try:
            return urlsplit(text).hostname or ""
        except ValueError:
            return ""
    if text.startswith("[") and "]" in text:
        return text[1 : text.index("]")]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text.partition("/")[0]


def _check_size(count: int) -> None:
    if count > MAX_ITEMS:
        raise UserInputError(
            f"indicators: {count:,} values is more than one import takes ({MAX_ITEMS:,}); "
            "split them (nothing was changed)"
        )


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _flag(value: Any) -> bool:
    """MISP writes booleans as true/false, and older versions as "1"/"0"."""
    return value is True or (isinstance(value, int | str) and str(value).strip().lower() in ("1", "true"))


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None
