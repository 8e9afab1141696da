"""The operator contract: every setting Watchpost reads from the environment.

`Settings.from_env()` is called once by the composition root; nothing else reads
os.environ. Secrets are `Secret` values whose repr and str never show the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError


class Secret:
    """A credential. Printing it, logging it or putting it in an f-string shows a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(text: str, default_port: int) -> HostPort:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address."""
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", text)
    if match:
        return HostPort(match.group(1), int(match.group(2) or default_port))
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"bad port in {text!r}")
        return HostPort(host, int(port))
    if not text:
        raise ConfigError("empty host")
    return HostPort(text, default_port)


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret = field(default_factory=lambda: Secret(""))
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""))
    slack_app_token: Secret = field(default_factory=lambda: Secret(""))
    slack_api_url: str = "https://slack.com/api/"
    port: int = 3000
    database_url: str = "sqlite:///watchpost.db"
    dns_nameservers: tuple[HostPort, ...] = ()
    dns_timeout: float = 3.0
    whois_server: HostPort | None = None
    circl_url: str = ""
    circl_user: str = ""
    circl_password: Secret = field(default_factory=lambda: Secret(""))
    mnemonic_url: str = "https://api.mnemonic.no/pdns/v3/"
    mnemonic_key: Secret = field(default_factory=lambda: Secret(""))
    virustotal_url: str = "https://www.virustotal.com/api/v3/"
    virustotal_key: Secret = field(default_factory=lambda: Secret(""))
    rdap_url: str = "https://rdap.org/"
    crtsh_url: str = "https://crt.sh/"
    internetdb_url: str = "https://internetdb.shodan.io/"
    check_interval: int = 3600
    check_concurrency: int = 50
    digest_time: time = time(9, 0)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    api_tokens: tuple[Secret, ...] = ()
    active_probes: bool = False
    summarise_same_asn: bool = False
    log_level: str = "INFO"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    smtp_starttls: bool = True
    digest_email_from: str = ""
    digest_email_to: tuple[str, ...] = ()

    @property
    def digest_email(self) -> bool:
        """The daily digest also goes out by email (WATCHPOST_DIGEST_EMAIL_TO is set)."""
        return bool(self.digest_email_to)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the operator contract; raise ConfigError naming the bad variable."""
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(name, default)

        def number(name: str, default: int, minimum: int) -> int:
            raw = get(name, str(default)).strip()
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
            if value < minimum:
                raise ConfigError(f"{name} must be at least {minimum}, got {value}")
            return value

        defaults = cls()
        try:
            nameservers = tuple(
                parse_host_port(item, 53)
                for item in get("WATCHPOST_DNS_NAMESERVERS", "").split(",")
                if item.strip()
            )
        except ConfigError as exc:
            raise ConfigError(f"WATCHPOST_DNS_NAMESERVERS: {exc}") from None
        whois_raw = get("WATCHPOST_WHOIS_SERVER", "").strip()
        try:
            whois_server = parse_host_port(whois_raw, 43) if whois_raw else None
        except ConfigError as exc:
            raise ConfigError(f"WATCHPOST_WHOIS_SERVER: {exc}") from None
        digest_raw = get("WATCHPOST_DIGEST_TIME", "09:00").strip()
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", digest_raw)
        if not match:
            raise ConfigError(f"WATCHPOST_DIGEST_TIME must be HH:MM, got {digest_raw!r}")
        tz_raw = get("WATCHPOST_TIMEZONE", "UTC").strip()
        try:
            timezone = ZoneInfo(tz_raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"WATCHPOST_TIMEZONE is not a known time zone: {tz_raw!r}") from None
        try:
            dns_timeout = float(get("WATCHPOST_DNS_TIMEOUT", str(defaults.dns_timeout)))
        except ValueError:
            raise ConfigError("WATCHPOST_DNS_TIMEOUT must be a number of seconds") from None
        email = _email_settings(env)
        smtp_port = number("WATCHPOST_SMTP_PORT", defaults.smtp_port, 1)
        if smtp_port > 65535:
            raise ConfigError(f"WATCHPOST_SMTP_PORT must be at most 65535, got {smtp_port}")
        return cls(
            slack_bot_token=Secret(get("SLACK_BOT_TOKEN", "").strip()),
            slack_signing_secret=Secret(get("SLACK_SIGNING_SECRET", "").strip()),
            slack_app_token=Secret(get("SLACK_APP_TOKEN", "").strip()),
            slack_api_url=_with_slash(get("SLACK_API_URL", defaults.slack_api_url)),
            port=number("WATCHPOST_PORT", defaults.port, 0),
            database_url=get("DATABASE_URL", defaults.database_url).strip() or defaults.database_url,
            dns_nameservers=nameservers,
            dns_timeout=dns_timeout,
            whois_server=whois_server,
            circl_url=get("WATCHPOST_CIRCL_URL", "").strip(),
            circl_user=get("WATCHPOST_CIRCL_USER", "").strip(),
            circl_password=Secret(get("WATCHPOST_CIRCL_PASSWORD", "")),
            mnemonic_url=get("WATCHPOST_MNEMONIC_URL", defaults.mnemonic_url).strip(),
            mnemonic_key=Secret(get("WATCHPOST_MNEMONIC_KEY", "").strip()),
            virustotal_url=get("WATCHPOST_VIRUSTOTAL_URL", defaults.virustotal_url).strip(),
            virustotal_key=Secret(get("WATCHPOST_VIRUSTOTAL_KEY", "").strip()),
            rdap_url=get("WATCHPOST_RDAP_URL", defaults.rdap_url).strip(),
            crtsh_url=get("WATCHPOST_CRTSH_URL", defaults.crtsh_url).strip(),
            internetdb_url=get("WATCHPOST_INTERNETDB_URL", defaults.internetdb_url).strip(),
            check_interval=number("WATCHPOST_CHECK_INTERVAL", defaults.check_interval, 1),
            check_concurrency=number("WATCHPOST_CHECK_CONCURRENCY", defaults.check_concurrency, 1),
            digest_time=time(int(match.group(1)), int(match.group(2))),
            timezone=timezone,
            api_tokens=tuple(
                Secret(token.strip()) for token in get("WATCHPOST_API_TOKENS", "").split(",") if token.strip()
            ),
            active_probes=_flag(get("WATCHPOST_ACTIVE_PROBES", "")),
            summarise_same_asn=_flag(get("WATCHPOST_SUMMARISE_SAME_ASN", "")),
            log_level=get("WATCHPOST_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            smtp_host=email.host,
            smtp_port=smtp_port,
            smtp_user=email.user,
            smtp_password=email.password,
            smtp_starttls=email.starttls,
            digest_email_from=email.sender,
            digest_email_to=email.recipients,
        )

    def describe(self) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to log or print."""
        return {item.name: str(getattr(self, item.name)) for item in fields(self)}

    def secrets(self) -> list[str]:
        """The secret values themselves, for the log filter that scrubs them."""
        found = [
            value.reveal()
            for item in fields(self)
            if isinstance(value := getattr(self, item.name), Secret) and value
        ]
        found.extend(token.reveal() for token in self.api_tokens)
        return found


class _EmailSettings(NamedTuple):
    host: str
    user: str
    password: Secret
    starttls: bool
    sender: str
    recipients: tuple[str, ...]


def _email_settings(env: Mapping[str, str]) -> _EmailSettings:
    """The SMTP half of the contract. Email is off unless WATCHPOST_DIGEST_EMAIL_TO is set;
    when it is, everything needed to send must be there and make sense."""
    host = env.get("WATCHPOST_SMTP_HOST", "").strip()
    user = env.get("WATCHPOST_SMTP_USER", "").strip()
    password = env.get("WATCHPOST_SMTP_PASSWORD", "")
    starttls_raw = env.get("WATCHPOST_SMTP_STARTTLS", "").strip().lower()
    if starttls_raw in {"", "1", "true", "yes", "on"}:
        starttls = True
    elif starttls_raw in {"0", "false", "no", "off"}:
        starttls = False
    else:
        raise ConfigError(f"WATCHPOST_SMTP_STARTTLS must be on or off, got {starttls_raw!r}")
    sender = env.get("WATCHPOST_DIGEST_EMAIL_FROM", "").strip()
    recipients = tuple(
        item.strip() for item in env.get("WATCHPOST_DIGEST_EMAIL_TO", "").split(",") if item.strip()
    )
    for name, address in [("WATCHPOST_DIGEST_EMAIL_FROM", sender)] + [
        ("WATCHPOST_DIGEST_EMAIL_TO", r) for r in recipients
    ]:
        if address and not _EMAIL.fullmatch(address):
            raise ConfigError(f"{name}: not an email address: {address!r}")
    if password and not user:
        raise ConfigError("WATCHPOST_SMTP_PASSWORD is set but WATCHPOST_SMTP_USER is not")
    if recipients:
        if not host:
            raise ConfigError("WATCHPOST_SMTP_HOST must be set when WATCHPOST_DIGEST_EMAIL_TO is")
        if not sender:
            raise ConfigError("WATCHPOST_DIGEST_EMAIL_FROM must be set when WATCHPOST_DIGEST_EMAIL_TO is")
    if user and not starttls:
        raise ConfigError(
            "WATCHPOST_SMTP_STARTTLS is off: refusing to send WATCHPOST_SMTP_USER's password in clear text"
        )
    return _EmailSettings(host, user, Secret(password), starttls, sender, recipients)


# One address, no display name: nothing that could smuggle a header or a second recipient.
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")


def _with_slash(url: str) -> str:
    url = url.strip()
    return url if url.endswith("/") else url + "/"
