"""Console mode keeps a digest's CSV where the user can open it and says where."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest

from bot.console import ConsoleTransport


async def test_console_upload_saves_the_csv_and_prints_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = io.StringIO()
    await ConsoleTransport(out).upload_file(
        "C0CONSOLE",
        thread_ts="1.000000",
        filename="../../watchpost-2026-11-20-resolutions.csv",
        content=b"day,time\r\n2026-11-19,10:00:00+01:00\r\n",
        title="resolutions: 1 change",
    )
    saved = tmp_path / "watchpost-digests" / "C0CONSOLE" / "watchpost-2026-11-20-resolutions.csv"
    assert saved.read_bytes() == b"day,time\r\n2026-11-19,10:00:00+01:00\r\n"
    assert f"[file in thread 1.000000: resolutions: 1 change, 2 lines, saved to {saved}]" in out.getvalue()
