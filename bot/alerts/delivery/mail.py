"""The digest by email: the standard library's smtplib, run in a thread so the event loop
never waits on the mail server. STARTTLS before anything else is said (credentials
included); the server's certificate is verified like any other TLS peer."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from bot.config import Secret, Settings
from bot.core.transport import DeliveryError


class Mailer(Protocol):
    sender: str
    recipients: tuple[str, ...]

    async def send(self, message: EmailMessage) -> None:
        """Hand the message to the mail server; raise DeliveryError on failure."""
        ...


def compose_email(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> EmailMessage:
    """A plain-text email with CSV attachments (text/csv, UTF-8)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    for filename, content in attachments:
        message.add_attachment(content, maintype="text", subtype="csv", filename=filename)
    return message


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: Sequence[str],
        user: str = "",
        password: Secret | None = None,
        starttls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.user = user
        self.password = password or Secret("")
        self.starttls = starttls
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.digest_email_from,
            recipients=settings.digest_email_to,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        where = f"SMTP {self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password.reveal())
                smtp.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            raise DeliveryError(f"{where}: {_describe(exc)}", permanent=True) from None
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise DeliveryError(f"{where}: {_describe(exc)}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{where}: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        return f"{exc.__class__.__name__} {exc.smtp_code} {' '.join(reply.split())[:200]}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"recipients refused: {', '.join(sorted(exc.recipients))[:200]}"
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
