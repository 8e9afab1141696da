"""Lookalike watches in the running bot: `watchpost console` and `watchpost serve` with a
loopback CT log list (real certificates), found within a poll interval of being logged."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pexpect

from tests.e2e.environment import REPO, WATCHPOST, offline_env
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.ct_log import CertificateAuthority, CtLogServer
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import CHANNEL, SlackConversation, SlackSender


async def test_console_lookalikes_interfax_finds_www_interfaxru_com(
    dns_server: FakeDnsServer, ct_logs: CtLogServer, tmp_path: Path
) -> None:
    authority = CertificateAuthority()
    log = ct_logs.add_log("argon", authority=authority)
    env = offline_env(
        dns_server,
        f"sqlite:///{tmp_path / 'console.db'}",
        WATCHPOST_CT_LOG_LIST_URL=ct_logs.list_url,
        WATCHPOST_CT_POLL_SECONDS="1",
    )
    child = pexpect.spawn(
        WATCHPOST[0], [*WATCHPOST[1:], "console"], env=env, cwd=str(REPO), encoding="utf-8", timeout=30
    )

    async def expect(text: str) -> None:
        await asyncio.to_thread(child.expect_exact, text)

    try:
        await expect("watchpost> ")
        child.sendline("/monitor lookalikes co.uk")
        await expect("is a public suffix")
        child.sendline("/monitor lookalikes interfax.ru")
        await expect("Now watching lookalikes of `interfax.ru`")
        await asyncio.sleep(2.5)  # the first poll sees the log and starts at its size
        log.add_certificate(authority.certificate_for(["interfax.ru", "www.interfax.ru"]))
        logged = time.monotonic()
        log.add_certificate(authority.certificate_for(["www.interfaxru.com"]))
        await expect("--- alert in #console ---")
        await expect("Lookalike: interfaxru[.]com")
        assert time.monotonic() - logged < 10
        await expect("various permutation of interfax.ru")
        await asyncio.to_thread(child.expect, r"\[(\d+) Snooze watch 1 day\]")
        snooze = child.match.group(1)
        await expect("Not a lookalike]")
        child.sendline(f"press {snooze}")
        await expect("snoozed lookalikes of `interfax.ru` in this channel until")
        child.sendline("/monitor suppressions")
        await expect("snoozed from the alert of interfaxru.com for 1d")
        child.sendline("/monitor list")
        await expect("Lookalike and keyword watches: 1")
        child.sendline("quit")
        await asyncio.to_thread(child.expect, pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def lookalike_alert(slack_api: FakeSlackApi) -> SlackMessage | None:
    for message in slack_api.posted(CHANNEL):
        if any(b["action_id"] == "dismiss_lookalike" for b in message.buttons()):
            return message
    return None


async def test_slack_lookalikes_alert_within_a_poll_and_dismiss(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, ct_logs: CtLogServer, tmp_path: Path
) -> None:
    authority = CertificateAuthority()
    argon = ct_logs.add_log("argon", authority=authority)
    oak = ct_logs.add_log("oak", api="static", authority=authority)
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        WATCHPOST_CT_LOG_LIST_URL=ct_logs.list_url,
        WATCHPOST_CT_POLL_SECONDS="1",
    )
    bot = ServeProcess(env, tmp_path / "serve.log")
    await bot.start()
    try:
        slack = SlackSender(bot.events_url, slack_api.root)
        command = slack.slash_command("lookalikes interfax.ru")
        assert (await slack.send(command)).status == 200
        await slack_api.wait_for(
            lambda: [
                r for r in slack_api.responses_to(command.response_key or "") if "Now watching" in r.text
            ],
            what="the watch reply",
        )
        await asyncio.sleep(2.5)  # the first poll sees the logs
        dns_server.set("interfaxru.com", "A", ["203.0.113.7"])
        issued = authority.precertificate_for(["www.interfaxru.com", "interfaxru.com"])
        argon.add_precertificate(issued)
        oak.add_certificate(issued.certificate)
        logged = time.monotonic()
        alert = await slack_api.wait_for(lambda: lookalike_alert(slack_api), what="the lookalike alert")
        assert time.monotonic() - logged < 10
        assert "imitates interfax.ru" in alert.all_text() and "`203.0.113.7`" in alert.all_text()
        await asyncio.sleep(2.5)  # both logs read: still one alert
        assert len([m for m in slack_api.posted(CHANNEL) if m.buttons()]) == 1

        click = slack.button_click(
            alert, next(b for b in alert.buttons() if b["action_id"] == "dismiss_lookalike")
        )
        assert (await slack.send(click)).status == 200
        await slack_api.wait_for(lambda: alert.updates, what="the dismissed alert")
        assert alert.buttons() == []
        oak.add_certificate(authority.certificate_for(["shop.interfaxru.com"]))
        await asyncio.sleep(2.5)
        assert slack_api.posted(CHANNEL, thread_ts=alert.ts) == []
        assert "Traceback" not in bot.log(), bot.log()[-6000:]
    finally:
        try:
            await bot.stop()
        finally:
            bot.kill()


def alerts_in(slack_api: FakeSlackApi, channel: str) -> list[SlackMessage]:
    return [
        m
        for m in slack_api.posted(channel)
        if any(b["action_id"] == "dismiss_lookalike" for b in m.buttons())
    ]


async def test_slack_lookalike_mute_and_snooze_keep_one_channel_quiet_not_the_other(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, ct_logs: CtLogServer, tmp_path: Path
) -> None:
    """`watchpost serve`, two channels watching one brand: what one mutes or snoozes, the
    other still hears; a lift brings the finding back with its next certificate."""
    authority = CertificateAuthority()
    argon = ct_logs.add_log("argon", authority=authority)
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'serve.db'}",
        free_port(),
        WATCHPOST_CT_LOG_LIST_URL=ct_logs.list_url,
        WATCHPOST_CT_POLL_SECONDS="1",
    )
    bot = ServeProcess(env, tmp_path / "serve.log")
    await bot.start()
    try:
        slack = SlackSender(bot.events_url, slack_api.root)
        case_a = SlackConversation(slack, slack_api, channel_id=CHANNEL)
        case_b = SlackConversation(slack, slack_api, channel_id="C0CASEB")
        for case in (case_a, case_b):
            assert "Now watching" in (await case.say("lookalikes interfax.ru")).text
        assert "muted lookalikes of `interfax.ru`" in (await case_a.say("mute lookalikes interfax.ru")).text
        await asyncio.sleep(2.5)  # the first poll sees the log

        argon.add_certificate(authority.certificate_for(["interfaxru.com"]))
        [b_alert] = await slack_api.wait_for(lambda: alerts_in(slack_api, "C0CASEB"), what="B's alert")
        await asyncio.sleep(2.5)
        assert slack_api.posted(CHANNEL) == []

        listed = await case_a.say("suppressions")
        number = next(b["accessory"]["value"] for b in listed.payload["blocks"] if "accessory" in b)
        assert f"lifted the mute #{number}" in (await case_a.say(f"lift {number}")).text
        argon.add_certificate(authority.certificate_for(["www.interfaxru.com"]))
        [a_alert] = await slack_api.wait_for(lambda: alerts_in(slack_api, CHANNEL), what="A's alert")
        assert "imitates interfax.ru" in a_alert.all_text()
        await slack_api.wait_for(lambda: slack_api.posted("C0CASEB", thread_ts=b_alert.ts), what="B's reply")

        snooze = next(b for b in b_alert.buttons() if b["action_id"] == "snooze_watch")
        click = slack.button_click(b_alert, snooze)
        assert (await slack.send(click)).status == 200
        said = await slack_api.wait_for(
            lambda: slack_api.responses_to(click.response_key or ""), what="snooze"
        )
        assert "snoozed lookalikes of `interfax.ru` in this channel until" in said[0].text
        argon.add_certificate(authority.certificate_for(["interfax-secure.com"]))
        await slack_api.wait_for(lambda: alerts_in(slack_api, CHANNEL)[1:], what="A's second alert")
        await asyncio.sleep(2.5)
        assert len(alerts_in(slack_api, "C0CASEB")) == 1
        assert "Traceback" not in bot.log(), bot.log()[-6000:]
    finally:
        try:
            await bot.stop()
        finally:
            bot.kill()
