"""The house's rules, held by a test: a room per feature, and imports only point down the
layers the architecture page (docs/architecture.md) lists, every module imports cleanly whichever is imported
first, and no two classes in bot/ share a name."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"

# A room per feature (docs/architecture.md), each file in one of these layers. Highest
# first; a module may import its own layer or any layer below it. A room's file named for
# a role (`model`, `store`, `messages`, `pipeline`, `delivery`, `flows`, or a folder of
# that name) is in that role's layer; any other file is in its room's layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("bot.__main__", "bot.cli"),
    ("bot.server", "bot.surfaces.console"),
    ("bot.worker", "bot.lifecycle"),
    ("bot.composition",),
    ("bot.surfaces",),
    ("bot.commands", "bot.investigations", "flows"),
    ("bot.digests", "delivery"),
    ("bot.monitoring", "bot.watches", "pipeline"),
    ("bot.storage", "store", "messages"),
    ("bot.core", "bot.config", "bot.imports", "model"),
)
ROLES = {name for layer in LAYERS for name in layer if "." not in name}


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(
    module_name(path)
    for path in BOT.rglob("*.py")
    if "migrations" not in path.parts and path.name != "env.py"
)


def layer_of(module: str) -> int:
    parts = module.split(".")
    role = next((part for part in parts[2:] if part in ROLES), None)
    found = [
        (len(prefix) if role is None else 0, index)
        for index, names in enumerate(LAYERS)
        for prefix in names
        if (role is not None and prefix == role)
        or (role is None and (module == prefix or module.startswith(prefix + ".")))
    ]
    if not found:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")
    return max(found)[1]


def imports_of(module: str) -> set[str]:
    path = BOT.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = BOT.parent / module.replace(".", "/") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("bot"))
    return found


def test_layout_imports_only_point_down() -> None:
    upward = [
        f"{module} -> {target}"
        for module in MODULES
        if module != "bot"
        for target in sorted(imports_of(module))
        if target != "bot" and layer_of(target) < layer_of(module)
    ]
    assert upward == []


@pytest.mark.parametrize("module", MODULES)
def test_layout_module_imports_first_of_all(module: str) -> None:
    """No circle at any import order: each module imports alone, in a fresh module table."""
    saved = {name: mod for name, mod in sys.modules.items() if name == "bot" or name.startswith("bot.")}
    for name in saved:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    finally:
        for name in [n for n in sys.modules if n == "bot" or n.startswith("bot.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_layout_no_two_classes_share_a_name() -> None:
    """A class name says which one it is: one `Checks`, one `DatabaseRunner`, wherever it is imported."""
    defined: dict[str, list[str]] = defaultdict(list)
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                defined[node.name].append(f"{path.relative_to(BOT.parent)}:{node.lineno}")
    assert {name: where for name, where in defined.items() if len(where) > 1} == {}


# Each feature's words, and the room that owns them: a module named for a feature lives in it.
FEATURE_ROOMS = {
    "triage": "triage",
    "lookalike": "watches",
    "watch": "watches",
    "digest": "digests",
    "alert": "alerts",
    "outbox": "alerts",
    "receiver": "alerts",
    "import": "imports",
    "investigation": "investigations",
    "pivot": "investigations",
}


def test_layout_each_feature_has_one_room() -> None:
    strays = [
        f"{module} belongs in bot/{room}/"
        for module in MODULES
        for word, room in FEATURE_ROOMS.items()
        if word in module.split(".")[-1] and module.split(".")[1] != room
    ]
    assert strays == []


def test_layout_rooms_are_the_ones_the_map_draws() -> None:
    """Every package of bot/ is drawn on the architecture page's map, and every room drawn exists."""
    rooms = {path.parent.name for path in BOT.glob("*/__init__.py")}
    page = (BOT.parent / "docs" / "architecture.md").read_text()
    drawn = set(re.findall(r"^  (\w+)/ ", page, flags=re.M))
    assert rooms == drawn
