"""`watchpost serve` answers Slack and runs no check: it starts a `watchpost worker` child
that does the checks (a new monitor's baseline included), restarts it if it dies, and
stops it on the way out."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
from sqlalchemy import insert, select

from bot.storage.engine import create_database_engine
from bot.storage.models import SlashCommandRow
from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import SlackSender

IP = "98.126.38.107"


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(item) for item in text.split()]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def workers_of(bot: ServeProcess, *, not_pid: int | None = None) -> list[int]:
    assert bot.process is not None
    for _ in range(100):
        found = [c for c in children(bot.process.pid) if "bot worker" in command_line(c) and c != not_pid]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker process:\n{bot.log()}")


async def priority_of(pid: int, wanted: int) -> int:
    """The process's nice value once serve has set it (just after the spawn), or as it is."""
    for _ in range(50):
        if os.getpriority(os.PRIO_PROCESS, pid) == wanted:
            break
        await asyncio.sleep(0.1)
    return os.getpriority(os.PRIO_PROCESS, pid)


async def metrics_at(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()


def checks_counted(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("watchpost_checks_total{")
    )


def metrics_port(pid: int) -> int:
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "=" in item
    )
    return int(environ["WATCHPOST_WORKER_METRICS_PORT"])


async def baseline_of(slack: SlackSender, slack_api: FakeSlackApi, text: str) -> str:
    command = slack.slash_command(text)
    reply = await slack.send(command)
    assert reply.status == 200 and reply.seconds < 3
    assert command.response_key is not None
    key = command.response_key
    found = await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(key) if "Baseline for" in r.text],
        what="the baseline",
        timeout=30,
    )
    return found[0].text


async def test_serve_starts_a_worker_that_checks_while_the_web_process_checks_nothing(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    [worker] = await workers_of(bot)
    # Below the web process (WATCHPOST_WORKER_NICE, 10 by default): Slack's answers first.
    assert bot.process is not None
    web_priority = os.getpriority(os.PRIO_PROCESS, bot.process.pid)
    assert await priority_of(worker, min(19, web_priority + 10)) == min(19, web_priority + 10)
    dns_server.set("worker-example.com", "A", ["192.0.2.7"])
    baseline = await baseline_of(slack, slack_api, "worker-example.com")
    assert "resolutions" in baseline
    assert dns_server.query_count("worker-example.com", "A") >= 1
    # The check ran in the worker: the web process's /metrics adds the worker's in, and
    # its total is the worker's alone (the web process counted no check of its own).
    worker_metrics = await metrics_at(f"http://127.0.0.1:{metrics_port(worker)}/metrics")
    served_metrics = await metrics_at(f"{bot.url}/metrics")
    assert checks_counted(worker_metrics) >= 1
    assert checks_counted(served_metrics) == checks_counted(worker_metrics)

    # A worker that dies is replaced, and the next baseline is taken by the new one.
    os.kill(worker, signal.SIGKILL)
    [replacement] = await workers_of(bot, not_pid=worker)
    assert replacement != worker
    assert await priority_of(replacement, min(19, web_priority + 10)) == min(19, web_priority + 10)
    dns_server.set("second-example.com", "A", ["192.0.2.8"])
    assert "resolutions" in await baseline_of(slack, slack_api, "second-example.com")

    assert await bot.stop() == 0
    assert (
        not Path(f"/proc/{replacement}").exists()
        or "zombie" in Path(f"/proc/{replacement}/status").read_text()
    )


def handed_over(bot: ServeProcess) -> list[tuple[str, bool, bool]]:
    """The web process's handed-over commands: (key, done, fields still kept)."""
    engine = create_database_engine(bot.env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            found = connection.execute(
                select(SlashCommandRow.key, SlashCommandRow.done_at, SlashCommandRow.fields)
            ).all()
        return [(row.key, row.done_at is not None, row.fields is not None) for row in found]
    finally:
        engine.dispose()


async def test_the_worker_runs_the_slash_commands_serve_answered_and_a_replay_is_dropped(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    dns_server.set("handed-over.com", "A", ["192.0.2.9"])
    command = slack.slash_command("handed-over.com")
    assert "Baseline for" in await baseline_of(slack, slack_api, "handed-over.com")
    # The web process stored it under its identity (its trigger_id, the same however often
    # Slack delivers it), the worker ran it and dropped its response_url.
    keys = [f"trigger:{parse_qs(request.body.decode())['trigger_id'][0]}" for request in slack.sent]
    found = await slack_api.wait_for(
        lambda: [row for row in handed_over(bot) if row[0] == keys[-1] and row[1]] or None,
        what="the command marked done",
    )
    assert found == [(keys[-1], True, False)]

    # A request another web process already handed over (the same command) is a replay:
    # this process has not seen it, answers it, and drops it when it hands it over.
    engine = create_database_engine(bot.env["DATABASE_URL"])
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(SlashCommandRow).values(
                    key=f"trigger:{parse_qs(command.body.decode())['trigger_id'][0]}",
                    fields=None,
                    received_at=datetime.now(UTC),
                )
            )
    finally:
        engine.dispose()
    reply = await slack.send(command)
    assert reply.status == 200
    await slack_api.wait_for(
        lambda: "a replayed slash command was dropped" in bot.log() or None, what="the replay dropped"
    )
    assert slack_api.responses_to(command.response_key or "") == []
