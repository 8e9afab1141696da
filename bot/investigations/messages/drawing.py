"""Drawing the pictures (bot/investigations/messages/timeline.py) in a child process: `await draw(name,
*args, **kwargs)` returns the PNG bytes of `timeline.<name>(*args, **kwargs)`.

Why a process and not a thread: matplotlib is pure-Python-heavy and holds the GIL for
most of a drawing (and for its import, a second or more on a busy machine). In a worker
thread that stalls the event loop of `watchpost serve` — with three processes sharing two
cores, a digest chart drawn that way held a whole check cycle past its deadline. A child
`python -m bot.investigations.messages.drawing` has its own interpreter: the bot's loop and checks go on.

The request goes to the child as a pickle on stdin (only this process writes it; the
child only calls the renderers named in DRAWINGS) and the PNG comes back on stdout.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Callable
from typing import Any

from bot.investigations.messages import timeline

DRAWINGS: dict[str, Callable[..., bytes]] = {
    "render_timeline": timeline.render_timeline,
    "render_week_chart": timeline.render_week_chart,
}
TIMEOUT = 60.0


class DrawingError(Exception):
    """The picture could not be drawn (the child failed or took too long)."""


async def draw(name: str, *args: Any, **kwargs: Any) -> bytes:
    """The PNG of DRAWINGS[name](*args, **kwargs), drawn in a child process."""
    if name not in DRAWINGS:
        raise ValueError(f"no drawing named {name!r}")
    request = pickle.dumps((name, args, kwargs))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.investigations.messages.drawing",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        png, errors = await asyncio.wait_for(child.communicate(request), TIMEOUT)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise DrawingError(f"{name} took longer than {TIMEOUT:g} s") from None
    if child.returncode != 0 or not png.startswith(b"\x89PNG"):
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise DrawingError(f"{name} failed (exit {child.returncode}): {last[0][:300]}")
    return png


def main() -> int:
    name, args, kwargs = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - see the module docstring
    sys.stdout.buffer.write(DRAWINGS[name](*args, **kwargs))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
