"""What an operator sees of `watchpost serve`: a start-up summary instead of Alembic chatter,
loopback by default, /metrics behind a token, and one line per request while Slack is
unreachable instead of a Bolt traceback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
from aiohttp.test_utils import make_mocked_request

from bot.server import metrics_refusal
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import CHANNEL, SlackSender


async def test_serve_says_what_is_on_and_warns_in_one_line_while_slack_is_unreachable(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi
) -> None:
    start = bot.log()
    assert f"listening on 127.0.0.1:{bot.port}: /slack/events, /healthz, /metrics" in start
    assert re.search(r"database SQLite \S+serve\.db; datasets: resolutions, dns_records, whois", start)
    assert "sources on: dns, whois (127.0.0.1:9)" in start
    assert (
        "off: rdap (no URL: WATCHPOST_RDAP_URL is empty), crt.sh (no URL: WATCHPOST_CRTSH_URL is empty)"
        in start
    )
    assert "modes: checks every 1 s" in start and "/metrics loopback only" in start
    assert "alembic" not in start.lower()

    await slack_api.down()
    for _ in range(3):  # each command runs; its reply cannot reach Slack
        await slack.send(slack.slash_command("list"))
    for _ in range(50):
        if "(3 so far)" in bot.log():
            break
        await asyncio.sleep(0.1)
    outage = bot.log()[len(start) :]
    assert (
        "Slack unreachable (ClientConnectorError): a reply through response_url was not delivered (1 so far)"
        in (outage)
    )
    assert "(3 so far)" in outage
    assert "Traceback" not in outage and len(outage.splitlines()) <= 6, outage

    # A button still goes through Bolt, whose Slack calls fail: one line for it too.
    await slack.send(slack.app_home_opened())
    for _ in range(50):
        if "(1 request so far)" in bot.log():
            break
        await asyncio.sleep(0.1)
    assert "a request from Slack was not served (1 request so far)" in bot.log()


async def test_metrics_need_the_token_when_one_is_set(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        WATCHPOST_METRICS_TOKEN="metrics-token-5d2a",
    )
    process = ServeProcess(env, tmp_path / "serve.log")
    await process.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{process.url}/metrics") as response:
                assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = {"Authorization": "Bearer not-it"}
            async with session.get(f"{process.url}/metrics", headers=wrong) as response:
                assert response.status == 401
            right = {"Authorization": "Bearer metrics-token-5d2a"}
            async with session.get(f"{process.url}/metrics", headers=right) as response:
                assert response.status == 200 and "watchpost_checks_total" in await response.text()
            async with session.get(f"{process.url}/healthz") as response:
                assert response.status == 200  # health stays open for load balancers
    finally:
        await process.stop()
        process.kill()
    assert "metrics-token-5d2a" not in process.log()


class _Peer:
    """The transport of a request from `address`, as aiohttp asks it."""

    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.address, 40000) if name == "peername" else default


def test_metrics_without_a_token_answer_loopback_only() -> None:
    def refusal(address: str) -> int | None:
        request = make_mocked_request("GET", "/metrics", transport=_Peer(address))
        response = metrics_refusal(request, "")
        return None if response is None else response.status

    assert refusal("127.0.0.1") is None and refusal("::1") is None
    assert refusal("203.0.113.5") == 403 and refusal("10.0.0.7") == 403


async def test_slack_timeline_picture_is_uploaded_to_the_channel(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    dns_server.set("evil-infra.com", "A", ["45.77.10.20"])
    command = slack.slash_command("evil-infra.com")
    await slack.send(command)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
    )
    timeline = slack.slash_command("timeline evil-infra[.]com")
    await slack.send(timeline)
    uploaded = await slack_api.wait_for(
        # An upload is shared once files.completeUploadExternal names its channel.
        lambda: [f for f in slack_api.files.values() if f.filename.endswith(".png") and f.channel] or None,
        what="the timeline upload",
    )
    assert uploaded[0].channel == CHANNEL and uploaded[0].thread_ts is None
    assert (uploaded[0].content or b"").startswith(b"\x89PNG\r\n\x1a\n")
    assert slack_api.calls_to("files.getUploadURLExternal") and slack_api.calls_to(
        "files.completeUploadExternal"
    )
    reply = await slack_api.wait_for(
        lambda: slack_api.responses_to(timeline.response_key or ""), what="the reply"
    )
    assert "Timeline of evil-infra.com" in reply[0].text


async def test_the_web_process_shows_the_resolver_verdict_its_worker_reached(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{bot.url}/healthz") as response:
        assert "resolver" not in await response.json()  # no lookup yet: nothing checked it
    dns_server.set("evil-infra.com", "A", ["45.77.10.20"])
    command = slack.slash_command("evil-infra.com")
    await slack.send(command)  # the worker takes the baseline: the resolver is checked first
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
    )
    async with aiohttp.ClientSession() as session, session.get(f"{bot.url}/healthz") as response:
        resolver = (await response.json())["resolver"]
    assert resolver["ok"] is True and resolver["where"] == dns_server.nameserver
    assert resolver["checked_at"]  # the shared verdict, not this process's own
    health = slack.slash_command("health")
    await slack.send(health)
    replies = await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(health.response_key or "") if "Resolver" in r.text],
        what="the health reply",
    )
    assert f"Resolver* {dns_server.nameserver}: OK" in replies[0].text
