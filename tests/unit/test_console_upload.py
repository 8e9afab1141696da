"""Console mode keeps a file (a digest's CSV, a picture) under WATCHPOST_FILES_DIR and says where."""

from __future__ import annotations

import io
from pathlib import Path

from bot.core.message import Message, actions, button, header, section
from bot.surfaces.console import ConsoleTransport


async def test_console_upload_saves_the_file_by_name_and_prints_its_path(tmp_path: Path) -> None:
    out = io.StringIO()
    screen = ConsoleTransport(out, files_dir=tmp_path / "files")
    ts = await screen.post(
        "C0CONSOLE", Message("digest", [header("Watchpost digest · Fri 20 Nov")], label="digest")
    )
    await screen.upload_file(
        "C0CONSOLE",
        thread_ts=ts,
        filename="../../watchpost-2026-11-20-resolutions.csv",
        content=b"day,time\r\n2026-11-19,10:00:00+01:00\r\n",
        title="resolutions: 1 change",
    )
    saved = tmp_path / "files" / "console" / "watchpost-2026-11-20-resolutions.csv"
    assert saved.read_bytes() == b"day,time\r\n2026-11-19,10:00:00+01:00\r\n"
    shown = out.getvalue()
    assert shown.startswith("--- digest in #console ---\nWatchpost digest · Fri 20 Nov\n")
    assert (
        '[file in the thread of the digest "Watchpost digest · Fri 20 Nov": resolutions: 1 change, '
        f"saved to {saved}]"
    ) in shown


async def test_console_prints_what_arrives_while_prompting_before_a_fresh_prompt(tmp_path: Path) -> None:
    out = io.StringIO()
    screen = ConsoleTransport(out, files_dir=tmp_path)
    screen.prompting = True
    await screen.post("C0CONSOLE", Message("hello", label="alert"))
    assert out.getvalue() == "\n--- alert in #console ---\nhello\nwatchpost> "


ALERT = Message(
    "change",
    [
        header("Change on evil[.]com"),
        section("added `A` `45.77.10.20`"),
        actions([button("Investigate 45.77.10.20", "investigate_0", "45.77.10.20")], block_id="controls"),
    ],
    label="alert",
)


async def test_console_check_screen_prints_no_button_nobody_can_press(tmp_path: Path) -> None:
    out = io.StringIO()
    screen = ConsoleTransport(out, files_dir=tmp_path, buttons=False)
    await screen.post("C0CONSOLE", ALERT)
    assert "added `A` `45.77.10.20`" in out.getvalue()
    assert "Investigate" not in out.getvalue() and screen.buttons == {}


async def test_console_labels_a_follow_up_in_a_thread_it_never_showed(tmp_path: Path) -> None:
    out = io.StringIO()
    screen = ConsoleTransport(out, files_dir=tmp_path)
    await screen.post("C0CONSOLE", ALERT, thread_ts="1733000000.000100")
    assert out.getvalue().startswith("--- follow-up in the thread of an earlier message in #console ---\n")


async def test_console_numbers_a_section_accessory_button(tmp_path: Path) -> None:
    out = io.StringIO()
    screen = ConsoleTransport(out, files_dir=tmp_path)
    block = section("#7 mute of `whois` on `evil.com`")
    block["accessory"] = button("Lift", "lift_suppression_0", "7")
    await screen.post("C0CONSOLE", Message("suppressions", [block]))
    assert "[1 Lift]" in out.getvalue()
    assert screen.buttons[1].action_id == "lift_suppression_0" and screen.buttons[1].value == "7"
