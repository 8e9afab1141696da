"""The digest by email, received by a real SMTP server on loopback that requires STARTTLS
(a certificate made at test time) and a login."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.alerts.delivery.mail import SmtpMailer, compose_email
from bot.config import Secret, Settings
from bot.core.transport import DeliveryError
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from tests.fakes.clock import FakeClock
from tests.fakes.smtp_server import SMTP_PASSWORD, SMTP_USER, SmtpServer
from tests.fakes.transport import RecordingTransport
from tests.integration.test_digests import Bot, grow, monitor, start_bot, utc

SENDER = "watchpost@example.org"
TEAM = ("soc@example.org", "intel@example.org")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'watchpost.db'}"
    engine = create_database_engine(url)
    migrate(engine)
    engine.dispose()
    yield url


def mailer_for(server: SmtpServer, *, port: int | None = None, password: str = SMTP_PASSWORD) -> SmtpMailer:
    return SmtpMailer(
        server.host,
        port or server.port,
        sender=SENDER,
        recipients=TEAM,
        user=SMTP_USER,
        password=Secret(password),
        ssl_context=server.client_context(),
        timeout=5,
    )


def csv_attachments(message: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in message.iter_attachments():
        assert part.get_content_type() == "text/csv"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = payload
    return found


def day_with_changes(url: str, clock: FakeClock) -> None:
    store = Database(create_database_engine(url))
    ip = monitor(store, "98.126.38.107", clock.now)
    domain = monitor(store, "evil.example.com", clock.now)
    grow(store, ip, utc(2026, 11, 19, 10), utc(2026, 11, 19, 11))
    grow(store, domain, utc(2026, 11, 19, 12))
    store.engine.dispose()
    clock.now = utc(2026, 11, 20, 8)


async def test_digest_email_received_with_the_same_csvs(
    smtp_server: SmtpServer, sqlite_url: str, recording_transport: RecordingTransport
) -> None:
    clock = FakeClock(utc(2026, 11, 18, 10))
    day_with_changes(sqlite_url, clock)
    bot = start_bot(sqlite_url, recording_transport, clock, mailer=mailer_for(smtp_server))
    try:
        report = await bot.service.run_due()
    finally:
        bot.close()
    assert report.posted == [("C1", date(2026, 11, 20))]

    (received,) = smtp_server.received
    assert received.tls and received.authenticated
    assert (received.mail_from, received.rcpt_tos) == (SENDER, list(TEAM))
    message = received.message
    assert message["Subject"] == "Watchpost digest 2026-11-20 for C1: 3 changes on 2 indicators"
    assert message["To"] == "soc@example.org, intel@example.org"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "98[.]126[.]38[.]107 (ip): 2 changes" in text
    attachments = csv_attachments(message)
    uploaded = {u.filename: u.content for u in recording_transport.uploads}
    assert list(attachments) == ["watchpost-2026-11-20-resolutions.csv"]
    assert attachments == uploaded  # byte for byte what went to Slack
    content = attachments["watchpost-2026-11-20-resolutions.csv"]
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert [row[2] for row in rows[1:]] == ["98.126.38.107", "98.126.38.107", "evil.example.com"]


async def test_digest_email_retried_without_posting_to_slack_again(
    smtp_server: SmtpServer, sqlite_url: str, recording_transport: RecordingTransport
) -> None:
    clock = FakeClock(utc(2026, 11, 18, 10))
    day_with_changes(sqlite_url, clock)
    down = start_bot(sqlite_url, recording_transport, clock, mailer=mailer_for(smtp_server, port=9))
    try:
        report = await down.service.run_due()
    finally:
        down.close()
    assert report.retried == [("C1", date(2026, 11, 20))]
    assert len(recording_transport.parents()) == 1 and smtp_server.received == []

    clock.advance(minutes=5)
    up: Bot = start_bot(sqlite_url, recording_transport, clock, mailer=mailer_for(smtp_server))
    try:
        report = await up.service.run_due()
    finally:
        up.close()
    assert report.posted == [("C1", date(2026, 11, 20))]
    assert len(smtp_server.received) == 1
    assert len(recording_transport.parents()) == 1 and len(recording_transport.uploads) == 1


async def test_smtp_mailer_failures_are_delivery_errors(smtp_server: SmtpServer) -> None:
    email = compose_email(sender=SENDER, recipients=TEAM, subject="test", body="hello\n")
    with pytest.raises(DeliveryError) as wrong_password:
        await mailer_for(smtp_server, password="wrong").send(email)
    assert wrong_password.value.permanent and "535" in str(wrong_password.value)
    assert "wrong" not in str(wrong_password.value)

    untrusted = mailer_for(smtp_server)
    untrusted.ssl_context = SmtpMailer("h", 1, sender=SENDER, recipients=TEAM).ssl_context  # system CAs only
    with pytest.raises(DeliveryError, match="SSLCertVerificationError"):
        await untrusted.send(email)
    assert smtp_server.received == []


async def test_smtp_mailer_from_the_operator_settings(smtp_server: SmtpServer) -> None:
    settings = Settings.from_env(
        {
            "WATCHPOST_SMTP_HOST": smtp_server.host,
            "WATCHPOST_SMTP_PORT": str(smtp_server.port),
            "WATCHPOST_SMTP_USER": SMTP_USER,
            "WATCHPOST_SMTP_PASSWORD": SMTP_PASSWORD,
            "WATCHPOST_DIGEST_EMAIL_FROM": SENDER,
            "WATCHPOST_DIGEST_EMAIL_TO": " soc@example.org,intel@example.org ",
        }
    )
    mailer = SmtpMailer.from_settings(settings)
    assert (mailer.starttls, mailer.recipients) == (True, TEAM)
    mailer.ssl_context = smtp_server.client_context()
    await mailer.send(
        compose_email(
            sender=SENDER, recipients=TEAM, subject="s", body="b\n", attachments=[("a.csv", b"x,y\r\n")]
        )
    )
    (received,) = smtp_server.received
    assert csv_attachments(received.message) == {"a.csv": b"x,y\r\n"}
