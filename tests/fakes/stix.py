"""The OASIS STIX validator as a receiver would run it: every bundle Watchpost writes must
be valid STIX 2.1 with every reference resolved inside the bundle, and draw no warning but
one: an open port is `network-traffic` to the monitored address with no source port (the
validator's "should contain both src_port and dst_port": Watchpost never saw the other end)."""

from __future__ import annotations

import json
from typing import Any

from stix2validator import ValidationOptions, validate_string

# Check codes whose warning is expected (see the module docstring).
TOLERATED_WARNINGS = frozenset({"301"})


def validate_bundle(bundle: Any) -> dict[str, Any]:
    """The bundle (a dict, or its JSON text or bytes) as a dict, once the validator passed it;
    an AssertionError naming every error and unexpected warning otherwise."""
    text = bundle.decode() if isinstance(bundle, bytes) else bundle
    text = text if isinstance(text, str) else json.dumps(text)
    result = validate_string(text, ValidationOptions(version="2.1"))
    warnings = [w for w in result.warnings if not any(f"{{{code}}}" in w for code in TOLERATED_WARNINGS)]
    assert result.is_valid and not warnings, [str(e) for e in result.errors] + warnings
    parsed: dict[str, Any] = json.loads(text)
    ids = {obj["id"] for obj in parsed.get("objects", [])}
    assert len(ids) == len(parsed.get("objects", [])), "an id twice in one bundle"
    dangling = sorted(set(references(parsed.get("objects", []))) - ids)
    assert not dangling, f"references to objects not in the bundle: {dangling}"
    return parsed


def references(node: Any) -> list[str]:
    """Every id referenced under `node`: `*_ref`, `*_refs` and extension-definition keys.
    (The validator's own `enforce_refs` does not look inside a bundle string.)"""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("extension-definition--"):
                found.append(key)
            if key.endswith("_ref") and isinstance(value, str):
                found.append(value)
            elif key.endswith("_refs") and isinstance(value, list):
                found += [v for v in value if isinstance(v, str)]
            found += references(value) if isinstance(value, dict | list) else []
    return found


def by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in bundle.get("objects", []) if obj["type"] == kind]


def one(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = by_type(bundle, kind)
    return found


def values(bundle: dict[str, Any], kind: str) -> set[Any]:
    """The `value` (or `number`) of every SCO of a kind."""
    return {obj.get("value", obj.get("number")) for obj in by_type(bundle, kind)}


def relationships(bundle: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(type, source value, target value) of every relationship between SCOs."""
    named = {obj["id"]: obj.get("value", obj.get("number")) for obj in bundle.get("objects", [])}
    return {
        (rel["relationship_type"], str(named[rel["source_ref"]]), str(named[rel["target_ref"]]))
        for rel in by_type(bundle, "relationship")
    }
