"""The generated docs pages are what the code says: docs/configuration.md from the
settings' declarations, docs/api-reference.md from the OpenAPI document, the dataset table
from the dataset descriptors."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from bot.cli import every_setting

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts" / "docs_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["configuration.md", "api-reference.md", "figures/datasets.md"])
def test_docs_reference_committed_page_matches_the_code(page: str) -> None:
    generated = _generator().PAGES[page]()
    committed = (ROOT / "docs" / page).read_text()
    assert committed == generated, f"docs/{page} is out of date: run `python scripts/docs_reference.py`"


def test_docs_reference_configuration_names_every_declared_variable() -> None:
    page = _generator().configuration_page()
    for declared in every_setting():
        assert f"| `{declared.env}` |" in page


def test_docs_reference_api_lists_every_operation() -> None:
    from bot.surfaces.api.openapi import build_openapi

    page = _generator().api_page()
    for path, operations in build_openapi()["paths"].items():
        for method in operations:
            assert f"## `{method.upper()} {path}`" in page


def test_docs_reference_dataset_table_has_a_row_per_dataset() -> None:
    from bot.monitoring.datasets.model import DESCRIPTORS

    table = _generator().datasets_table()
    assert [line.split("`")[1] for line in table.splitlines()[3:]] == [d.name for d in DESCRIPTORS]
    assert '--8<-- "docs/figures/datasets.md"' in (ROOT / "docs" / "datasets.md").read_text()
