"""`watchpost serve` as a real process for e2e tests: its Web API is the fake Slack, its
sources are loopback fakes, and the tests talk to it over HTTP as Slack would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, text

from tests.e2e.environment import REPO, WATCHPOST, offline_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import FakeHttpSources
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import SIGNING_SECRET


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(
    dns_server: FakeDnsServer,
    slack_api: FakeSlackApi,
    database_url: str,
    port: int,
    http_sources: FakeHttpSources | None = None,
    **extra: str,
) -> dict[str, str]:
    env = offline_env(
        dns_server,
        database_url,
        SLACK_BOT_TOKEN=slack_api.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api.base_url,
        WATCHPOST_PORT=str(port),
        WATCHPOST_CHECK_INTERVAL="1",
    )
    if http_sources is not None:
        env["WATCHPOST_MNEMONIC_URL"] = http_sources.url("mnemonic")
    # Checks every second would put a monitor's passive DNS turn minutes apart under the
    # public tiers' quotas: the e2e tests see every check ask, unless a test sets quotas.
    env["WATCHPOST_QUOTAS"] = "mnemonic=unlimited,virustotal=unlimited,crtsh=unlimited"
    env.update(extra)
    return env


class ServeProcess:
    """One `watchpost serve`, started and stopped by the test; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env["WATCHPOST_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def recorded(self, channel: str, ts: str) -> bool:
        """Whether the bot has recorded that Slack took the message `ts` in `channel` (a
        button pressed on it before then is refused as not an alert on record): what a
        test waits on before it clicks, rather than on the post alone."""
        engine = create_engine(self.env["DATABASE_URL"])
        try:
            with engine.connect() as connection:
                found = connection.execute(
                    text(
                        "SELECT 1 FROM outbox WHERE channel_id = :channel AND message_ts = :ts"
                        " AND delivered_at IS NOT NULL"
                    ),
                    {"channel": channel, "ts": ts},
                ).first()
        finally:
            engine.dispose()
        return found is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, *, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*WATCHPOST, "serve"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its worker processes share its group: kill() ends them all
            )
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"watchpost serve exited {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"watchpost serve not healthy after {timeout}s:\n{self.log()}")
                await asyncio.sleep(0.1)

    async def stop(self, *, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the process exits 0 after a graceful shutdown."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
            raise AssertionError(f"watchpost serve ignored SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL serve and its workers at once, as a crash of the machine would."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
