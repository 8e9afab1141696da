"""`make run` installs only when pyproject.toml changed since its last install (a stamp),
and asks setuptools to keep its editable-install notice to itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(folder: Path, target: str) -> str:
    """What `make -n target` would run, in a copy of the project's Makefile."""
    done = subprocess.run(
        ["make", "-n", target], cwd=folder, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def test_make_run_installs_only_when_pyproject_changed(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()

    first = dry_run(tmp_path, "run")
    assert "pip install" in first and "-e ." in first  # never installed: it installs
    assert 'PYTHONWARNINGS="ignore:Editable installation"' in first

    stamp = tmp_path / ".venv" / ".installed-run"
    stamp.touch()
    old = stamp.stat().st_mtime - 60
    os.utime(tmp_path / "pyproject.toml", (old, old))
    again = dry_run(tmp_path, "run")
    assert "pip install" not in again and "watchpost console" in again

    os.utime(tmp_path / "pyproject.toml", None)  # edited now: newer than the stamp
    os.utime(stamp, (old, old))
    assert "pip install" in dry_run(tmp_path, "run")
