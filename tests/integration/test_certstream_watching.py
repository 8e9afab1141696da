"""The worker's CT job reading a certstream server (WATCHPOST_CERTSTREAM_URL) on loopback:
no connection while nobody watches, a first look when a watch is set, typosquats alerted,
a dropped stream said in health and joined again, and the connection closed once the last
watch is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest_asyncio

from tests.fakes.certstream import FakeCertstream, wait_until
from tests.fakes.ct_log import CertificateAuthority, CtLogServer
from tests.fakes.ct_worker import DAY, CtWorker, ct_worker
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.test_lookalikes import CALLER, bot_settings, lookalike_alerts


@pytest_asyncio.fixture
async def worker(
    tmp_path: Path,
    slack_api: FakeSlackApi,
    dns_server: FakeDnsServer,
    ct_logs: CtLogServer,
    certstream: FakeCertstream,
) -> AsyncIterator[CtWorker]:
    settings = replace(bot_settings(tmp_path, slack_api, dns_server, ct_logs), certstream_url=certstream.url)
    async with ct_worker(settings, CALLER) as running:
        yield running


async def test_the_stream_is_joined_only_while_someone_watches_and_its_certificates_are_matched(
    worker: CtWorker, certstream: FakeCertstream, ct_logs: CtLogServer, slack_api: FakeSlackApi
) -> None:
    authority = CertificateAuthority()

    await worker.run_for(DAY)

    assert certstream.connections == 0 and ct_logs.requests == []
    said, first_look = await worker.watch("lookalikes paypal.com")
    assert "Now watching lookalikes of `paypal.com`" in said
    assert f"Following the certstream at `{certstream.url}`" in first_look
    assert "Certificates the stream sends from now on are matched (it has no replay)." in first_look
    assert certstream.clients == 1 and ct_logs.requests == []  # the stream, not the logs

    await certstream.send(authority.certificate_for(["paypal-refund-desk.com"]), index=7)
    await certstream.heartbeat()
    issued = authority.precertificate_for(["www.paypa1.com"])
    await certstream.send_precertificate(issued, index=8)

    async def alerted() -> bool:
        await worker.deliver()
        texts = " ".join(m.all_text() for m in lookalike_alerts(slack_api))
        return "paypal-refund-desk.com" in texts and "paypa1.com" in texts

    await wait_until(alerted, what="the streamed typosquats alerted")

    # The server restarts: the reader joins it again, and health says what was lost.
    await certstream.drop_clients()
    await wait_until(lambda: certstream.connections == 2 and certstream.clients == 1, what="the reconnection")
    await worker.run_for(worker.interval)
    health = await worker.say("health")
    assert "Following the certstream" in health and "lost 1 time, each time losing what was sent" in health
    assert "Cost: about" in health

    await worker.say("remove lookalikes paypal.com")
    await worker.run_for(worker.interval)
    await wait_until(lambda: certstream.clients == 0, what="the stream closed")
    await worker.run_for(DAY)
    assert certstream.connections == 2 and "Not reading CT" in await worker.say("health")


async def test_a_watch_set_while_the_stream_is_down_is_told_so(
    worker: CtWorker, certstream: FakeCertstream
) -> None:
    await certstream.stop()

    _, first_look = await worker.watch("keywords paypal")

    assert f"The certstream at `{certstream.url}` cannot be reached" in first_look
    assert "No certificate is matched until it can (a stream has no replay)." in first_look
