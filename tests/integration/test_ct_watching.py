"""The worker's CT job against loopback CT logs and their log list, run on a fake clock:
no CT request while nobody watches, reading once a watch exists, silence again once it
is gone; and certificates the `cryptography` library refuses, logged before a typosquat,
never stop the log (both CT APIs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes import der as fake_der
from tests.fakes.ct_log import CertificateAuthority, CtLogServer
from tests.fakes.ct_worker import DAY, CtWorker, ct_worker
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.test_lookalikes import CALLER, bot_settings, lookalike_alerts


@pytest_asyncio.fixture
async def worker(
    tmp_path: Path, slack_api: FakeSlackApi, dns_server: FakeDnsServer, ct_logs: CtLogServer
) -> AsyncIterator[CtWorker]:
    async with ct_worker(bot_settings(tmp_path, slack_api, dns_server, ct_logs), CALLER) as running:
        yield running


async def test_no_watch_means_no_ct_request_for_a_day_a_watch_starts_reading_and_removing_it_stops(
    worker: CtWorker, ct_logs: CtLogServer, slack_api: FakeSlackApi
) -> None:
    authority = CertificateAuthority()
    argon = ct_logs.add_log("argon", authority=authority)
    oak = ct_logs.add_log("oak", api="static", authority=authority)
    argon.add_certificate(authority.certificate_for(["before.example.com"]))

    await worker.run_for(DAY)

    assert ct_logs.requests == []
    health = await worker.say("health")
    assert "Not reading CT: no lookalike or keyword watch" in health

    said, first_look = await worker.watch("lookalikes paypal.com")

    assert "Now watching lookalikes of `paypal.com`" in said
    assert "the CT reader is not following the logs yet: it starts now" in said
    assert "Cost: not measured yet" in said
    assert "certificates logged from now on" not in said  # nothing promised before it is read
    # The first look, at once: the list, then each log's head.
    asked = {path for path, _, _ in ct_logs.requests}
    assert {"/log_list.json", "/argon/ct/v1/get-sth", "/oak/checkpoint"} <= asked
    assert (
        "Starting on 2 CT logs" in first_look
        and "certificates are matched from their next read" in first_look
    )
    argon.add_certificate(authority.certificate_for(["paypal-account-verify.com"]))
    oak.add_certificate(authority.certificate_for(["secure-paypal.net"]))
    await worker.run_for(30 * 60)
    assert await worker.deliver() == 2
    texts = " ".join(m.all_text() for m in lookalike_alerts(slack_api))
    assert "paypal-account-verify.com" in texts and "secure-paypal.net" in texts
    health = await worker.say("health")
    assert "Following 2 CT logs" in health
    # Two entries in 30 minutes, as read: 96 a day.
    assert "Cost: about 96 entries and" in health and "a day (measured over the last 30 min)" in health

    await worker.say("remove lookalikes paypal.com")
    after_removal = len(ct_logs.requests)
    argon.add_certificate(authority.certificate_for(["paypal-login.com"]))
    await worker.run_for(DAY)

    assert len(ct_logs.requests) == after_removal
    assert "Not reading CT" in await worker.say("health")

    # Watched again after a quiet day: each log is read from its head, not from where it
    # was left (what was logged meanwhile was nobody's business), and the reply says so.
    said, _ = await worker.watch("keywords paypal")
    assert "Now watching names containing `paypal`" in said
    assert "the CT reader is not following the logs yet: it starts now" in said
    await worker.run_for(worker.interval)
    assert await worker.deliver() == 0  # paypal-login.com, logged unwatched, is not read
    assert sum(1 for path, _, _ in ct_logs.requests if "get-entries" in path) == 1


@pytest.mark.parametrize("api", ["rfc6962", "static"])
async def test_refused_certificates_before_a_typosquat_never_stop_the_log(
    worker: CtWorker, ct_logs: CtLogServer, slack_api: FakeSlackApi, api: str
) -> None:
    """A version 4 certificate, a precertificate with an empty NameConstraints beside its
    SAN and a certificate that is no certificate, then a typosquat: every lookalike among
    them is alerted, the unreadable one is counted in health, and the log moves on."""
    authority = CertificateAuthority()
    log = ct_logs.add_log("faulty", api=api, authority=authority)
    await worker.watch("lookalikes paypal.com")  # the first look: the log's head

    log.add_certificate(fake_der.version(authority.certificate_for(["paypal-v4-login.com"]), 3))
    issued = authority.precertificate_for(["www.paypal-billing.com"], common_name="")
    constraints = fake_der.extension(*fake_der.EMPTY_NAME_CONSTRAINTS)
    log.add_precertificate(replace(issued, tbs=fake_der.with_extension(issued.tbs, constraints, tbs=True)))
    unreadable = log.add_certificate(b"\x30\x03\x02\x01\x01")
    log.add_certificate(authority.certificate_for(["paypa1.com"]))
    await worker.run_for(worker.interval)

    assert await worker.deliver() == 3
    texts = " ".join(m.all_text() for m in lookalike_alerts(slack_api))
    for name in ("paypal-v4-login.com", "paypal-billing.com", "paypa1.com"):
        assert name in texts
    health = await worker.say("health")
    assert f"1 entries unreadable and passed over: `127.0.0.1:{ct_logs.base_url.split(':')[2]}" in health
    assert f"entry {unreadable}: unreadable TBSCertificate" in health
    assert "caught up" in health


async def test_a_watch_set_while_the_log_list_is_unreadable_is_told_so_and_reads_once_it_recovers(
    worker: CtWorker, ct_logs: CtLogServer, slack_api: FakeSlackApi
) -> None:
    authority = CertificateAuthority()
    log = ct_logs.add_log("argon", authority=authority)
    ct_logs.list_status = 503

    said, first_look = await worker.watch("lookalikes paypal.com")

    assert "Now watching lookalikes of `paypal.com`" in said
    assert "The CT log list cannot be read: ct: HTTP 503" in first_look
    assert "No certificate is matched until it can." in first_look
    assert "Starting on" not in first_look and "Following" not in first_look
    ct_logs.list_status = None
    await worker.run_for(worker.interval)  # the list, then the log's head
    log.add_certificate(authority.certificate_for(["paypal-help.com"]))
    await worker.run_for(worker.interval)
    assert await worker.deliver() == 1
    health = await worker.say("health")
    assert "Following 1 CT logs" in health and "cannot be read" not in health
