"""Loading the hostile corpus (tests/data/hostile/, see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


def lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (HOSTILE / name).read_text().splitlines() if line.strip()]


def expand(value: Any, **names: str) -> Any:
    """`{"repeat": ...}` objects become their strings, `{name}` placeholders the names given;
    lists and objects are expanded throughout."""
    if isinstance(value, dict) and set(value) == {"repeat"}:
        spec = value["repeat"]
        return spec.get("prefix", "") + spec["unit"] * spec["count"] + spec.get("suffix", "")
    if isinstance(value, dict):
        return {expand(key, **names): expand(item, **names) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item, **names) for item in value]
    if isinstance(value, str):
        for name, replacement in names.items():
            value = value.replace("{" + name + "}", replacement)
    return value


def bulk(spec: dict[str, Any]) -> list[str]:
    return [spec["pattern"].format(n=n, a=n // 250, b=n % 250 + 1) for n in range(spec["count"])]


def command_text(entry: dict[str, Any]) -> str:
    if "text" in entry:
        return str(entry["text"])
    if "repeat" in entry:
        return str(expand({"repeat": entry["repeat"]}))
    return " ".join(bulk(entry["bulk"]))


def api_body(entry: dict[str, Any]) -> bytes:
    if "raw" in entry:
        return str(entry["raw"]).encode("utf-8", "surrogatepass")
    if "repeat" in entry:
        return str(expand({"repeat": entry["repeat"]})).encode()
    if "bulk" in entry:
        items = bulk(entry["bulk"])
        indicators: Any = items if entry["bulk"]["as"] == "list" else " ".join(items)
        return json.dumps({"channel": "C0HOSTILE", "indicators": indicators}).encode()
    return json.dumps(entry["json"]).encode()
