"""A bot process for the crash test: `python -m tests.e2e.crash_harness check-and-die|deliver OUT`.

check-and-die: check every monitor, then die by SIGKILL the moment the first alert is
handed to the transport (after the change is stored, before it is delivered).
deliver: deliver what the outbox holds, writing each posted message to OUT as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta

from bot.cli import every_setting
from bot.composition import build_services
from bot.config import Settings
from bot.core.message import Message


class NoFiles:
    async def upload_file(
        self, channel_id: str, *, thread_ts: str | None, filename: str, content: bytes, title: str
    ) -> None:
        raise AssertionError("the crash test uploads no files")


class DyingTransport(NoFiles):
    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class RecordingTransport(NoFiles):
    def __init__(self, path: str) -> None:
        self.path = path

    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(
                json.dumps({"channel": channel_id, "text": message.text, "blocks": message.blocks}) + "\n"
            )
        return "1700000000.000100"


async def main(mode: str, out: str) -> None:
    transport = DyingTransport() if mode == "check-and-die" else RecordingTransport(out)
    services = build_services(Settings.from_env(declared=every_setting()), transport)
    # A short lease, so the restarted process may take over the dead one's claim quickly.
    services.outbox.lease = timedelta(seconds=1)
    try:
        if mode == "check-and-die":
            for monitor in await services.db.run(services.db.monitors.list):
                subject = await services.db.run(services.db.monitors.subject, monitor.indicator)
                assert subject is not None
                await services.runner.check(subject)
        await services.outbox.deliver_due()
    finally:
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
