"""The operator contract: every setting Watchpost reads from the environment.

`Settings.from_env()` is called once by the composition root; nothing else reads
os.environ. Secrets are `Secret` values whose repr and str never show the value.
`explain()` lists every variable with the value in effect, where that value came from
(default, environment, or derived from another setting or the system) and what it means:
what `watchpost config` prints.

Where data lives: `WATCHPOST_DATA_DIR` (the user's data folder by default, e.g.
`~/.local/share/watchpost`) holds the SQLite database and the console's saved files,
unless `DATABASE_URL` and `WATCHPOST_FILES_DIR` say otherwise. A `watchpost.db` already
in the current folder is still used, so existing installs carry on.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError
from bot.model.walls import ShareScope


class WebhookFormat(enum.StrEnum):
    """The body of a webhook: Watchpost's JSON, or the alert as a STIX 2.1 bundle."""

    JSON = "json"
    STIX = "stix"


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


class ApiToken(Secret):
    """A bearer token for /api/v1 with the name it is known by (`api:<name>` in records)."""

    __slots__ = ("name",)

    def __init__(self, name: str, value: str) -> None:
        super().__init__(value)
        self.name = name

    def __repr__(self) -> str:
        return f"ApiToken({self.name!r}, '********')"


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


def default_data_dir() -> Path:
    """The user's data folder for Watchpost (XDG_DATA_HOME on Linux), nothing created."""
    import platformdirs

    return Path(platformdirs.user_data_dir("watchpost", appauthor=False))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class QuotaLimit:
    """At most `requests` requests in any `window_seconds` (a sliding window)."""

    requests: int
    window_seconds: float

    def __str__(self) -> str:
        unit = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}.get(self.window_seconds)
        return f"{self.requests}/{unit}" if unit else f"{self.requests}/{self.window_seconds:g}s"


# Sources a quota may name (the HTTP sources; DNS and WHOIS over port 43 have none).
QUOTA_SOURCES = ("mnemonic", "circl", "virustotal", "crtsh", "rdap", "internetdb")
QUOTA_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
# The public tiers (bot/monitoring/sources/*, the shared DATA_SOURCES.md): Mnemonic's
# keyless passive DNS has a low daily quota, VirusTotal's public API 4 a minute and 500 a
# day, crt.sh asks to be treated gently. Sources not listed have no client-side quota.
DEFAULT_QUOTAS = "mnemonic=1000/day,virustotal=4/minute+500/day,crtsh=60/minute"


def parse_quotas(raw: str, *, base: str = DEFAULT_QUOTAS) -> dict[str, tuple[QuotaLimit, ...]]:
    """`source=N/unit[+N/unit…]` items, comma-separated, over the defaults in `base`.
    `source=0` turns a source off (an empty tuple of limits means off); `source=unlimited`
    lifts its default quota. A malformed item raises ConfigError naming it."""
    quotas: dict[str, tuple[QuotaLimit, ...]] = {}
    for text in (base, raw):
        for item in (i.strip() for i in text.split(",") if i.strip()):
            name, sep, spec = (part.strip() for part in item.partition("="))
            name = name.lower()
            if not sep or name not in QUOTA_SOURCES:
                raise ConfigError(
                    f"WATCHPOST_QUOTAS: {item[:60]!r} must be SOURCE=N/UNIT with SOURCE one of "
                    f"{', '.join(QUOTA_SOURCES)}"
                )
            if spec.lower() == "unlimited":
                quotas.pop(name, None)
                continue
            if spec == "0":
                quotas[name] = ()
                continue
            limits: list[QuotaLimit] = []
            for part in spec.split("+"):
                match = re.fullmatch(r"\s*(\d{1,9})\s*/\s*([a-z]+)\s*", part)
                if not match or match.group(2) not in QUOTA_UNITS:
                    raise ConfigError(
                        f"WATCHPOST_QUOTAS: {item[:60]!r}: {part.strip()[:30]!r} is not N/UNIT "
                        "(UNIT: second, minute, hour or day; join several with +; 0 turns the source off)"
                    )
                limits.append(QuotaLimit(int(match.group(1)), QUOTA_UNITS[match.group(2)]))
            # Any limit of 0 leaves no request at all: the source is off.
            quotas[name] = () if any(limit.requests == 0 for limit in limits) else tuple(limits)
    return quotas


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret = field(default_factory=lambda: Secret(""))
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""))
    slack_app_token: Secret = field(default_factory=lambda: Secret(""))
    slack_api_url: str = "https://slack.com/api/"
    host: str = "127.0.0.1"
    port: int = 3000
    metrics_token: Secret = field(default_factory=lambda: Secret(""))
    database_url: str = "sqlite:///watchpost.db"  # from_env derives it from data_dir
    data_dir: Path = field(default_factory=default_data_dir)
    files_dir: Path = field(default_factory=lambda: default_data_dir() / "files")
    dns_nameservers: tuple[HostPort, ...] = ()
    dns_timeout: float = 3.0
    # A name that exists, asked before DNS answers are believed ("": no check).
    dns_canary: str = "example.com"
    whois_server: HostPort | None = None
    circl_url: str = ""
    circl_user: str = ""
    circl_password: Secret = field(default_factory=lambda: Secret(""))
    mnemonic_url: str = "https://api.mnemonic.no/pdns/v3/"
    mnemonic_key: Secret = field(default_factory=lambda: Secret(""))
    virustotal_url: str = "https://www.virustotal.com/api/v3/"
    virustotal_key: Secret = field(default_factory=lambda: Secret(""))
    rdap_url: str = "https://rdap.org/"
    # Where IANA's RDAP bootstrap files (dns.json) are fetched ("": domains use WHOIS only).
    rdap_bootstrap_url: str = "https://data.iana.org/rdap/"
    crtsh_url: str = "https://crt.sh/"
    internetdb_url: str = "https://internetdb.shodan.io/"
    check_interval: int = 3600
    check_concurrency: int = 50
    digest_time: time = time(9, 0)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    api_tokens: tuple[ApiToken, ...] = ()
    api_rate_limit: int = 600  # requests per minute per token
    webhook_url: Secret = field(default_factory=lambda: Secret(""))
    webhook_urls: tuple[tuple[str, Secret], ...] = ()  # (channel id, URL)
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    webhook_format: WebhookFormat = WebhookFormat.JSON
    # Alerts into MISP and TheHive 5 (bot/delivery/misp.py, thehive.py): each receiver is on
    # when its URL and key are set; `*_channels` narrow it to those channels (empty: all).
    # MISP's URL, key and TLS check are the team's MISP below (imports read it too).
    misp_channels: tuple[str, ...] = ()
    thehive_url: str = ""
    thehive_key: Secret = field(default_factory=lambda: Secret(""))
    thehive_channels: tuple[str, ...] = ()
    active_probes: bool = False
    summarise_same_asn: bool = False
    # An alert open and younger than this (seconds) takes the monitor's next changes in its
    # thread; 0: every change is a new alert.
    alert_thread_window: int = 86400
    false_positive_days: int = 30  # how long a value marked false positive stays quiet
    shared_host_names: int = 50  # an IP known to host this many names is a shared host
    # Whose monitors a channel may learn about (bot/model/walls.py): its own, or its
    # workspace's (never naming another channel). Nothing crosses workspaces.
    share_scope: ShareScope = ShareScope.CHANNEL
    log_level: str = "INFO"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    smtp_starttls: bool = True
    digest_email_from: str = ""
    digest_email_to: tuple[str, ...] = ()
    admins: frozenset[str] = frozenset()
    channel_quota: int = 1000
    command_rate: int = 30
    source_timeout: float | None = None
    # Lookalike watches: each watch's permutations resolved once per this many seconds,
    # at most this many DNS queries in that time (two per permutation: A and MX).
    lookalike_resolve_seconds: int = 86400
    lookalike_query_budget: int = 20000
    # Certificate Transparency: the log list (Chrome's v3 schema) whose usable logs are read;
    # empty turns the reader off.
    ct_log_list_url: str = "https://www.gstatic.com/ct/log_list/v3/log_list.json"
    ct_poll_seconds: int = 60
    # A certstream server (ws:// or wss://) read in place of the logs; empty: the logs.
    certstream_url: str = ""
    # Per source: its limits; an empty tuple turns the source off (WATCHPOST_QUOTAS).
    quotas: Mapping[str, tuple[QuotaLimit, ...]] = field(default_factory=lambda: parse_quotas(""))
    # How long a source may fail before the channels that depend on it hear of it.
    source_outage_notice: int = 1800
    # `watchpost serve` starts this many worker processes for checks, deliveries and
    # digests (0: it does them itself, in the process that answers Slack).
    workers: int = 1
    # How much lower the CPU priority of those workers is (nice), so the process answering
    # Slack gets a core first when checks keep every core busy.
    worker_nice: int = 10
    # Set by `watchpost serve` for its workers: where a worker serves its /metrics (loopback).
    worker_metrics_port: int = 0
    # The team's MISP (`/monitor misp <event>` reads events there; "": not configured).
    misp_url: str = ""
    misp_key: Secret = field(default_factory=lambda: Secret(""))
    misp_verify_tls: bool = True

    def source_enabled(self, source: str) -> bool:
        """False when a quota of 0 turned the source off."""
        return self.quotas.get(source) != ()

    @property
    def digest_email(self) -> bool:
        """The daily digest also goes out by email (WATCHPOST_DIGEST_EMAIL_TO is set)."""
        return bool(self.digest_email_to)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
        """Read the operator contract; raise ConfigError naming the bad variable. `cwd`
        (default: the current folder) is where an existing `watchpost.db` is looked for."""
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(name, default)

        def number(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
            raw = get(name, str(default)).strip()
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
            if value < minimum:
                raise ConfigError(f"{name} must be at least {minimum}, got {value}")
            if maximum is not None and value > maximum:
                raise ConfigError(f"{name} must be at most {maximum}, got {value}")
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
        dns_canary = _dns_canary(get("WATCHPOST_DNS_CANARY", defaults.dns_canary))
        email = _email_settings(env)
        admins = frozenset(item.strip() for item in get("WATCHPOST_ADMINS", "").split(",") if item.strip())
        for admin in sorted(admins):
            if not _SLACK_USER_ID.fullmatch(admin):
                raise ConfigError(f"WATCHPOST_ADMINS: not a Slack user id (U… or W…): {admin[:40]!r}")
        source_timeout_raw = get("WATCHPOST_SOURCE_TIMEOUT", "").strip()
        try:
            source_timeout = float(source_timeout_raw) if source_timeout_raw else None
        except ValueError:
            raise ConfigError("WATCHPOST_SOURCE_TIMEOUT must be a number of seconds") from None
        if source_timeout is not None and not 0 < source_timeout <= 600:
            raise ConfigError("WATCHPOST_SOURCE_TIMEOUT must be more than 0 and at most 600 seconds")
        webhooks = _webhook_settings(env)
        receivers = _receiver_settings(env)
        ct_log_list_url = get("WATCHPOST_CT_LOG_LIST_URL", defaults.ct_log_list_url).strip()
        if ct_log_list_url:
            parsed_list_url = urlsplit(ct_log_list_url)
            if parsed_list_url.scheme not in {"http", "https"} or not parsed_list_url.hostname:
                raise ConfigError(
                    "WATCHPOST_CT_LOG_LIST_URL must be an http:// or https:// URL, or empty (off)"
                )
        certstream_url = get("WATCHPOST_CERTSTREAM_URL", "").strip()
        if certstream_url:
            parsed_stream_url = urlsplit(certstream_url)
            if parsed_stream_url.scheme not in {"ws", "wss"} or not parsed_stream_url.hostname:
                raise ConfigError("WATCHPOST_CERTSTREAM_URL must be a ws:// or wss:// URL, or empty (off)")
        smtp_port = number("WATCHPOST_SMTP_PORT", defaults.smtp_port, 1)
        if smtp_port > 65535:
            raise ConfigError(f"WATCHPOST_SMTP_PORT must be at most 65535, got {smtp_port}")
        data_dir = Path(get("WATCHPOST_DATA_DIR", "").strip() or default_data_dir()).expanduser()
        misp = _misp_settings(env)
        files_dir = Path(get("WATCHPOST_FILES_DIR", "").strip() or data_dir / "files").expanduser()
        return cls(
            slack_bot_token=Secret(get("SLACK_BOT_TOKEN", "").strip()),
            slack_signing_secret=Secret(get("SLACK_SIGNING_SECRET", "").strip()),
            slack_app_token=Secret(get("SLACK_APP_TOKEN", "").strip()),
            slack_api_url=_with_slash(get("SLACK_API_URL", defaults.slack_api_url)),
            host=get("WATCHPOST_HOST", defaults.host).strip() or defaults.host,
            port=number("WATCHPOST_PORT", defaults.port, 0),
            metrics_token=Secret(get("WATCHPOST_METRICS_TOKEN", "").strip()),
            database_url=get("DATABASE_URL", "").strip() or default_database_url(data_dir, cwd),
            data_dir=data_dir,
            files_dir=files_dir,
            dns_nameservers=nameservers,
            dns_timeout=dns_timeout,
            dns_canary=dns_canary,
            whois_server=whois_server,
            circl_url=get("WATCHPOST_CIRCL_URL", "").strip(),
            circl_user=get("WATCHPOST_CIRCL_USER", "").strip(),
            circl_password=Secret(get("WATCHPOST_CIRCL_PASSWORD", "")),
            mnemonic_url=get("WATCHPOST_MNEMONIC_URL", defaults.mnemonic_url).strip(),
            mnemonic_key=Secret(get("WATCHPOST_MNEMONIC_KEY", "").strip()),
            virustotal_url=get("WATCHPOST_VIRUSTOTAL_URL", defaults.virustotal_url).strip(),
            virustotal_key=Secret(get("WATCHPOST_VIRUSTOTAL_KEY", "").strip()),
            rdap_url=get("WATCHPOST_RDAP_URL", defaults.rdap_url).strip(),
            rdap_bootstrap_url=get("WATCHPOST_RDAP_BOOTSTRAP_URL", defaults.rdap_bootstrap_url).strip(),
            crtsh_url=get("WATCHPOST_CRTSH_URL", defaults.crtsh_url).strip(),
            internetdb_url=get("WATCHPOST_INTERNETDB_URL", defaults.internetdb_url).strip(),
            check_interval=number("WATCHPOST_CHECK_INTERVAL", defaults.check_interval, 1),
            check_concurrency=number("WATCHPOST_CHECK_CONCURRENCY", defaults.check_concurrency, 1),
            digest_time=time(int(match.group(1)), int(match.group(2))),
            timezone=timezone,
            api_tokens=_api_tokens(get("WATCHPOST_API_TOKENS", "")),
            api_rate_limit=number("WATCHPOST_API_RATE_LIMIT", defaults.api_rate_limit, 1),
            webhook_url=webhooks.url,
            webhook_urls=webhooks.per_channel,
            webhook_secret=webhooks.secret,
            webhook_format=_webhook_format(get("WATCHPOST_WEBHOOK_FORMAT", "")),
            **receivers,
            active_probes=_flag(get("WATCHPOST_ACTIVE_PROBES", "")),
            summarise_same_asn=_flag(get("WATCHPOST_SUMMARISE_SAME_ASN", "")),
            alert_thread_window=number("WATCHPOST_ALERT_THREAD_WINDOW", defaults.alert_thread_window, 0),
            false_positive_days=number("WATCHPOST_FALSE_POSITIVE_DAYS", defaults.false_positive_days, 1),
            shared_host_names=number("WATCHPOST_SHARED_HOST_NAMES", defaults.shared_host_names, 1),
            share_scope=_share_scope(get("WATCHPOST_SHARE_SCOPE", "")),
            log_level=get("WATCHPOST_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            smtp_host=email.host,
            smtp_port=smtp_port,
            smtp_user=email.user,
            smtp_password=email.password,
            smtp_starttls=email.starttls,
            digest_email_from=email.sender,
            digest_email_to=email.recipients,
            admins=admins,
            channel_quota=number("WATCHPOST_CHANNEL_QUOTA", defaults.channel_quota, 1),
            command_rate=number("WATCHPOST_COMMAND_RATE", defaults.command_rate, 0),
            source_timeout=source_timeout,
            lookalike_resolve_seconds=number(
                "WATCHPOST_LOOKALIKE_RESOLVE_SECONDS", defaults.lookalike_resolve_seconds, 60
            ),
            lookalike_query_budget=number(
                "WATCHPOST_LOOKALIKE_QUERY_BUDGET", defaults.lookalike_query_budget, 0
            ),
            ct_log_list_url=ct_log_list_url,
            ct_poll_seconds=number("WATCHPOST_CT_POLL_SECONDS", defaults.ct_poll_seconds, 1),
            certstream_url=certstream_url,
            quotas=parse_quotas(get("WATCHPOST_QUOTAS", "")),
            source_outage_notice=number("WATCHPOST_SOURCE_OUTAGE_NOTICE", defaults.source_outage_notice, 60),
            workers=number("WATCHPOST_WORKERS", defaults.workers, 0),
            worker_nice=number("WATCHPOST_WORKER_NICE", defaults.worker_nice, 0, 19),
            worker_metrics_port=number("WATCHPOST_WORKER_METRICS_PORT", 0, 0),
            misp_url=misp.url,
            misp_key=misp.key,
            misp_verify_tls=misp.verify_tls,
        )

    @property
    def misp_on(self) -> bool:
        return bool(self.misp_url and self.misp_key)

    @property
    def thehive_on(self) -> bool:
        return bool(self.thehive_url and self.thehive_key)

    def sources_off(self) -> dict[str, str]:
        """Each source that is off, and why in a few words: what the start-up log and
        `/monitor health` say of it (the dataset registry builds none of these)."""
        off: dict[str, str] = {}
        for source, url, variable in (
            ("rdap", self.rdap_url, "WATCHPOST_RDAP_URL"),
            ("crtsh", self.crtsh_url, "WATCHPOST_CRTSH_URL"),
            ("internetdb", self.internetdb_url, "WATCHPOST_INTERNETDB_URL"),
            ("mnemonic", self.mnemonic_url, "WATCHPOST_MNEMONIC_URL"),
            ("circl", self.circl_url, "WATCHPOST_CIRCL_URL"),
            ("virustotal", self.virustotal_url, "WATCHPOST_VIRUSTOTAL_URL"),
        ):
            if not url:
                off[source] = f"no URL: {variable} is empty"
            elif not self.source_enabled(source):
                off[source] = "quota 0 in WATCHPOST_QUOTAS"
        if "virustotal" not in off and not self.virustotal_key:
            off["virustotal"] = "no key: WATCHPOST_VIRUSTOTAL_KEY is unset"
        if not self.rdap_bootstrap_url:
            off["rdap_bootstrap"] = "no URL: WATCHPOST_RDAP_BOOTSTRAP_URL is empty, domains use WHOIS"
        elif self.whois_server is not None:
            off["rdap_bootstrap"] = "WATCHPOST_WHOIS_SERVER is set, every domain asks that server"
        if not self.active_probes:
            off["tls probe"] = "WATCHPOST_ACTIVE_PROBES is off"
        return off

    def summary(self) -> list[str]:
        """What is on, for the start-up log: sources and modes (no secret, no URL); each
        source that is off says why."""
        on = ["dns", "whois (IANA referral)" if self.whois_server is None else f"whois ({self.whois_server})"]
        off_because = self.sources_off()
        off: list[str] = []
        for source, name in (
            ("rdap", "rdap"),
            ("crtsh", "crt.sh"),
            ("internetdb", "internetdb"),
            ("mnemonic", "mnemonic" + (" (key)" if self.mnemonic_key else " (public quota)")),
            ("circl", "circl"),
            ("virustotal", "virustotal"),
            ("tls probe", "tls probe"),
        ):
            if source in off_because:
                off.append(f"{name.split(' (')[0]} ({off_because[source]})")
            else:
                on.append(name)
        webhooks = bool(self.webhook_url) + len(self.webhook_urls)
        receivers = [name for name, on in (("MISP", self.misp_on), ("TheHive", self.thehive_on)) if on]
        modes = [
            f"checks every {self.check_interval} s, {self.check_concurrency} at once",
            f"digest {self.digest_time:%H:%M} {self.timezone}" + (" + email" if self.digest_email else ""),
            f"API {'on (' + str(len(self.api_tokens)) + ' tokens)' if self.api_tokens else 'off'}",
            f"webhooks {webhooks or 'off'}",
            f"receivers {', '.join(receivers) or 'off'}",
            f"/metrics {'token' if self.metrics_token else 'loopback only'}",
            f"active probes {'on' if self.active_probes else 'off'}",
            f"same-ASN summarising {'on' if self.summarise_same_asn else 'off'}",
            f"command rate {self.command_rate or 'unlimited'}/min",
            f"MISP {'on' if self.misp_on else 'off'}"
            + ("" if self.misp_verify_tls else " (TLS not verified)"),
        ]
        return [
            "sources on: " + ", ".join(on) + ("; off: " + ", ".join(off) if off else ""),
            "modes: " + "; ".join(modes),
        ]

    def describe(self) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to log or print. A password written
        into a URL (`postgresql://user:password@db/…`) is a secret too."""
        shown = {item.name: str(getattr(self, item.name)) for item in fields(self)}
        shown["quotas"] = ",".join(
            f"{source}={'+'.join(str(limit) for limit in limits) or '0'}"
            for source, limits in sorted(self.quotas.items())
        )
        shown["share_scope"] = self.share_scope.value
        shown["webhook_format"] = self.webhook_format.value
        for name in _URL_SETTINGS:
            password = _url_password(shown[name])
            if password:
                shown[name] = shown[name].replace(f":{password}@", ":********@", 1)
        return shown

    def secrets(self) -> list[str]:
        """The secret values themselves, for the log filter that scrubs them."""
        found = [
            value.reveal()
            for item in fields(self)
            if isinstance(value := getattr(self, item.name), Secret) and value
        ]
        found.extend(token.reveal() for token in self.api_tokens)
        found.extend(p for name in _URL_SETTINGS if (p := _url_password(getattr(self, name))))
        found.extend(url.reveal() for _, url in self.webhook_urls)
        return found


def default_database_url(data_dir: Path, cwd: Path | None = None) -> str:
    """SQLite in the data folder, or the `watchpost.db` already in the current folder."""
    here = (cwd if cwd is not None else Path.cwd()) / "watchpost.db"
    return sqlite_url(here.absolute() if here.is_file() else data_dir / "watchpost.db")


class Variable(NamedTuple):
    """One environment variable as `watchpost config` shows it."""

    name: str
    value: str  # in effect, secrets masked; "" when unset
    source: str  # "default", "environment" or "derived: <from what>"
    meaning: str


def explain(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    system_nameservers: Callable[[], Sequence[HostPort]] = tuple,
) -> list[Variable]:
    """Every variable, its value in effect (secrets masked), where it came from and what
    it means. `system_nameservers` reads the resolver Watchpost falls back to."""
    env = os.environ if env is None else env
    shown = settings.describe()
    variables = []
    for name, meaning, value_of, _default, _details in _CATALOGUE:
        value = value_of(settings, shown)
        # An empty value of these is read as unset (compose passes `VAR=` for an unset one).
        unset = name not in env or (name in _EMPTY_IS_UNSET and not env[name].strip())
        source = "default" if unset else "environment"
        if unset:
            if name == "WATCHPOST_DNS_NAMESERVERS":
                value = ",".join(str(ns) for ns in system_nameservers())
                source = "derived: /etc/resolv.conf"
            elif name == "DATABASE_URL":
                in_cwd = not settings.database_url.startswith(sqlite_url(settings.data_dir))
                source = "derived: watchpost.db in this folder" if in_cwd else "derived: WATCHPOST_DATA_DIR"
            elif name == "WATCHPOST_FILES_DIR":
                source = "derived: WATCHPOST_DATA_DIR"
            elif name == "WATCHPOST_DATA_DIR":
                source = "default: the user's data folder"
        variables.append(Variable(name, value, source, meaning))
    return variables


def _share_scope(raw: str) -> ShareScope:
    """WATCHPOST_SHARE_SCOPE: `channel` (the default, also when empty) or `workspace`."""
    wanted = raw.strip().lower() or ShareScope.CHANNEL.value
    try:
        return ShareScope(wanted)
    except ValueError:
        raise ConfigError(
            f"WATCHPOST_SHARE_SCOPE must be channel (each channel sees only its own monitors) "
            f"or workspace (a workspace's channels share, unnamed), got {raw.strip()[:40]!r}"
        ) from None


def _webhook_format(raw: str) -> WebhookFormat:
    """WATCHPOST_WEBHOOK_FORMAT: `json` (the default, also when empty) or `stix`."""
    wanted = raw.strip().lower() or WebhookFormat.JSON.value
    try:
        return WebhookFormat(wanted)
    except ValueError:
        raise ConfigError(
            f"WATCHPOST_WEBHOOK_FORMAT must be json (Watchpost's alert JSON) or stix (a STIX 2.1 "
            f"bundle), got {raw.strip()[:40]!r}"
        ) from None


# Settings whose empty value falls back to the derived default (from_env reads them so).
_EMPTY_IS_UNSET = frozenset(
    {"WATCHPOST_DNS_NAMESERVERS", "WATCHPOST_DATA_DIR", "WATCHPOST_FILES_DIR", "DATABASE_URL"}
)


class Declared(NamedTuple):
    """One environment variable: its name, its one-line meaning (`watchpost config`), how
    its value in effect is shown, and what the generated reference (docs/configuration.md)
    adds: the default in words where it is derived, not fixed, and the longer story."""

    name: str
    meaning: str
    value_of: Callable[[Settings, dict[str, str]], str]
    default: str = ""
    details: str = ""


def declarations() -> tuple[Declared, ...]:
    """Every variable the operator may set, in `watchpost config`'s order."""
    return _CATALOGUE


def _secret(value: Secret) -> str:
    return "********" if value else ""


def _attr(name: str) -> Callable[[Settings, dict[str, str]], str]:
    return lambda _settings, shown: shown[name]


def _joined(items: Iterable[object]) -> str:
    return ",".join(str(item) for item in items)


_CATALOGUE: tuple[Declared, ...] = (
    Declared(
        "SLACK_BOT_TOKEN",
        "the bot's OAuth token (xoxb-…)",
        lambda s, _: _secret(s.slack_bot_token),
        details=(
            "Slack app credentials; with `SLACK_SIGNING_SECRET` for HTTP mode, or `SLACK_APP_TOKEN` for"
            " Socket Mode."
        ),
    ),
    Declared(
        "SLACK_SIGNING_SECRET",
        "checks Slack's request signatures (HTTP mode)",
        lambda s, _: _secret(s.slack_signing_secret),
    ),
    Declared(
        "SLACK_APP_TOKEN", "set: Socket Mode, no public URL (xapp-…)", lambda s, _: _secret(s.slack_app_token)
    ),
    Declared("SLACK_API_URL", "base URL of Slack's Web API", _attr("slack_api_url")),
    Declared(
        "WATCHPOST_HOST",
        "address `serve` listens on (0.0.0.0: every interface)",
        _attr("host"),
        default="`127.0.0.1` (the Docker image: `0.0.0.0`)",
    ),
    Declared("WATCHPOST_PORT", "port of /slack/events, /api/v1, /healthz, /metrics", _attr("port")),
    Declared(
        "WATCHPOST_METRICS_TOKEN",
        "bearer token /metrics asks for; unset: /metrics only on loopback",
        lambda s, _: _secret(s.metrics_token),
        default="none: `/metrics` answers loopback only",
    ),
    Declared(
        "WATCHPOST_DATA_DIR",
        "folder of the SQLite database and saved files",
        _attr("data_dir"),
        default="the user's data folder (`$XDG_DATA_HOME/watchpost`, usually `~/.local/share/watchpost`)",
        details="Folder of the SQLite database and of the files the console saves.",
    ),
    Declared(
        "DATABASE_URL",
        "the database (SQLAlchemy URL)",
        _attr("database_url"),
        default=(
            "`watchpost.db` in `WATCHPOST_DATA_DIR`, or in the current folder if one is already there "
            "(timeout 30 s)"
        ),
        details=(
            "`postgresql://user@host/db` for teams; SQLite takes `?timeout=<s>`, how long a write waits"
            " for another's lock."
        ),
    ),
    Declared(
        "WATCHPOST_FILES_DIR",
        "where the console saves files (digest CSVs, pictures)",
        _attr("files_dir"),
        default="`files` in `WATCHPOST_DATA_DIR`",
        details=(
            "Where the console saves what Slack would get as files (digest CSVs, pictures), in a folder"
            " per channel."
        ),
    ),
    Declared(
        "WATCHPOST_DNS_NAMESERVERS",
        "nameservers asked directly, no cache",
        lambda s, _: _joined(s.dns_nameservers),
        default="the `nameserver` lines of `/etc/resolv.conf` (port 53); an empty value counts as unset",
        details="`host[:port]`, comma-separated; asked directly, no cache, every check reaches them.",
    ),
    Declared(
        "WATCHPOST_DNS_TIMEOUT",
        "seconds for one DNS lookup, retries included",
        lambda s, _: f"{s.dns_timeout:g}",
    ),
    Declared(
        "WATCHPOST_WHOIS_SERVER",
        "WHOIS server for every query; unset: IANA referral",
        lambda s, _: str(s.whois_server or ""),
        default="the registry's server (IANA referral)",
        details="`host[:port]` asked for every WHOIS query (and no RDAP for domains).",
    ),
    Declared(
        "WATCHPOST_CIRCL_URL",
        "CIRCL passive DNS (empty: off)",
        _attr("circl_url"),
        default="off",
        details="CIRCL passive DNS, with `WATCHPOST_CIRCL_USER` and `WATCHPOST_CIRCL_PASSWORD`.",
    ),
    Declared("WATCHPOST_CIRCL_USER", "CIRCL account", _attr("circl_user")),
    Declared("WATCHPOST_CIRCL_PASSWORD", "CIRCL password", lambda s, _: _secret(s.circl_password)),
    Declared(
        "WATCHPOST_MNEMONIC_URL",
        "Mnemonic passive DNS (empty: off)",
        _attr("mnemonic_url"),
        details="Mnemonic passive DNS v3.",
    ),
    Declared(
        "WATCHPOST_MNEMONIC_KEY",
        "Mnemonic API key (unset: the public quota)",
        lambda s, _: _secret(s.mnemonic_key),
    ),
    Declared(
        "WATCHPOST_VIRUSTOTAL_URL",
        "VirusTotal resolutions (on with a key)",
        _attr("virustotal_url"),
        details="VirusTotal v3 resolutions: on only when `WATCHPOST_VIRUSTOTAL_KEY` is set.",
    ),
    Declared("WATCHPOST_VIRUSTOTAL_KEY", "VirusTotal API key", lambda s, _: _secret(s.virustotal_key)),
    Declared(
        "WATCHPOST_RDAP_URL",
        "RDAP base (empty: off)",
        _attr("rdap_url"),
        details="RDAP base for IP networks.",
    ),
    Declared("WATCHPOST_CRTSH_URL", "crt.sh base (empty: off)", _attr("crtsh_url")),
    Declared("WATCHPOST_INTERNETDB_URL", "Shodan InternetDB base (empty: off)", _attr("internetdb_url")),
    Declared(
        "WATCHPOST_SOURCE_TIMEOUT",
        "seconds for one source request; unset: each source's own",
        lambda s, _: f"{s.source_timeout:g}" if s.source_timeout else "",
        default="each source's own (15–60 s)",
        details=(
            "Seconds for one request to any HTTP source or WHOIS server, waiting for a free connection "
            "included."
        ),
    ),
    Declared(
        "WATCHPOST_CHECK_INTERVAL",
        "seconds between checks of one monitor",
        _attr("check_interval"),
        details="Each monitor keeps its own moment in the interval, so the first gap is ½–1½ of it.",
    ),
    Declared("WATCHPOST_CHECK_CONCURRENCY", "checks running at once", _attr("check_concurrency")),
    Declared(
        "WATCHPOST_ACTIVE_PROBES",
        "1: probes that contact the monitored host",
        lambda s, _: "1" if s.active_probes else "0",
    ),
    Declared(
        "WATCHPOST_SUMMARISE_SAME_ASN",
        "1: address churn inside known ASNs goes to the digest, not an alert",
        lambda s, _: "1" if s.summarise_same_asn else "0",
        details=(
            "A domain's addresses moving inside the ASNs it already used go to history and the digest, "
            "not an alert (a new ASN still alerts)."
        ),
    ),
    Declared(
        "WATCHPOST_ADMINS",
        "Slack user ids who may remove or mute any monitor",
        lambda s, _: _joined(sorted(s.admins)),
        default="none: only each monitor's creator",
        details="Slack user ids (`U…`, `W…`), comma-separated.",
    ),
    Declared(
        "WATCHPOST_CHANNEL_QUOTA",
        "most monitors one channel may hold",
        _attr("channel_quota"),
        details="A bulk add past it is refused whole.",
    ),
    Declared(
        "WATCHPOST_COMMAND_RATE",
        "commands a minute per person (0: no limit; the console has none)",
        _attr("command_rate"),
        details=(
            "Commands and investigations a minute per person; on PostgreSQL counted in the database, "
            "for every process together; on SQLite by the one process answering Slack."
        ),
    ),
    Declared(
        "WATCHPOST_DIGEST_TIME", "when the daily digest posts (HH:MM)", lambda s, _: f"{s.digest_time:%H:%M}"
    ),
    Declared("WATCHPOST_TIMEZONE", "the team's time zone, for digests and days", _attr("timezone")),
    Declared(
        "WATCHPOST_API_TOKENS",
        "bearer tokens for /api/v1 (unset: API off)",
        lambda s, _: _joined(f"{t.name}=********" for t in s.api_tokens),
        default="none: API off",
        details="Comma-separated, each `name=token` (a bare token is named `tokenN` by its position).",
    ),
    Declared(
        "WATCHPOST_API_RATE_LIMIT",
        "API requests a minute per token",
        _attr("api_rate_limit"),
        details="In bursts of up to as many.",
    ),
    Declared(
        "WATCHPOST_WEBHOOK_URL",
        "gets every alert as a signed POST",
        lambda s, _: _secret(s.webhook_url),
        default="none",
        details="Every alert as a signed JSON POST.",
    ),
    Declared(
        "WATCHPOST_WEBHOOK_URLS",
        "CHANNEL=URL: gets that channel's alerts",
        lambda s, _: _joined(f"{c}=********" for c, _u in s.webhook_urls),
        default="none",
        details="`CHANNEL_ID=URL`, comma-separated: gets the alerts posted to that channel.",
    ),
    Declared(
        "WATCHPOST_WEBHOOK_SECRET",
        "signs the webhooks (HMAC-SHA256)",
        lambda s, _: _secret(s.webhook_secret),
        details="Required with a webhook URL, 16 characters or more.",
    ),
    Declared(
        "WATCHPOST_WEBHOOK_FORMAT",
        "json or stix: the webhooks' body",
        _attr("webhook_format"),
        details=(
            "`json`: Watchpost's alert JSON, as the API's alerts. `stix`: each alert as a STIX 2.1 bundle "
            "(`Content-Type: application/stix+json;version=2.1`), signed and keyed the same way."
        ),
    ),
    Declared(
        "WATCHPOST_MISP_CHANNELS",
        "channels whose alerts go to MISP (empty: every channel)",
        lambda s, _: _joined(s.misp_channels),
        default="every channel",
        details="Channel ids, comma-separated.",
    ),
    Declared(
        "WATCHPOST_THEHIVE_URL",
        "TheHive 5 that gets each alert as an alert",
        _attr("thehive_url"),
        default="none: off",
        details=(
            "With `WATCHPOST_THEHIVE_KEY`, each alert becomes a TheHive alert (type and source"
            " `watchpost`, its changed values as observables). Trusted as written, loopback included;"
            " redirects are never followed."
        ),
    ),
    Declared(
        "WATCHPOST_THEHIVE_KEY",
        "TheHive API key",
        lambda s, _: _secret(s.thehive_key),
        default="none: off",
        details="Sent as `Authorization: Bearer`; never shown or logged.",
    ),
    Declared(
        "WATCHPOST_THEHIVE_CHANNELS",
        "channels whose alerts go to TheHive (empty: every channel)",
        lambda s, _: _joined(s.thehive_channels),
        default="every channel",
        details="Channel ids, comma-separated.",
    ),
    Declared(
        "WATCHPOST_SMTP_HOST",
        "mail server of the email digest",
        _attr("smtp_host"),
        default="off",
        details="The email digest: see [The daily digest](digest.md).",
    ),
    Declared("WATCHPOST_SMTP_PORT", "its submission port", _attr("smtp_port")),
    Declared("WATCHPOST_SMTP_USER", "its login", _attr("smtp_user")),
    Declared("WATCHPOST_SMTP_PASSWORD", "its password", lambda s, _: _secret(s.smtp_password)),
    Declared(
        "WATCHPOST_SMTP_STARTTLS",
        "STARTTLS before anything else",
        lambda s, _: "on" if s.smtp_starttls else "off",
    ),
    Declared("WATCHPOST_DIGEST_EMAIL_FROM", "sender of the email digest", _attr("digest_email_from")),
    Declared(
        "WATCHPOST_DIGEST_EMAIL_TO",
        "recipients of the email digest (unset: no email)",
        lambda s, _: _joined(s.digest_email_to),
    ),
    Declared(
        "WATCHPOST_DNS_CANARY",
        "a name that must resolve before DNS answers count (off: no check)",
        lambda s, _: s.dns_canary or "off",
        details=(
            "A name that exists, asked (with a random name under it that cannot) before any DNS answer "
            "counts; `off`: no check."
        ),
    ),
    Declared(
        "WATCHPOST_RDAP_BOOTSTRAP_URL",
        "IANA's RDAP bootstrap (empty: WHOIS only)",
        _attr("rdap_bootstrap_url"),
        details=(
            "Where IANA's RDAP bootstrap file `dns.json` is read (a local copy for air-gapped teams); "
            "empty: domains use WHOIS only."
        ),
    ),
    Declared(
        "WATCHPOST_CT_LOG_LIST_URL",
        "CT log list, Chrome's v3 schema (empty: CT off)",
        _attr("ct_log_list_url"),
        default="`https://www.gstatic.com/ct/log_list/v3/log_list.json` (Google's published list)",
        details=(
            "Every `usable` or `qualified` log in it is read (RFC 6962 `logs[]` and Static CT API "
            "`tiled_logs[]`); empty: the CT reader is off."
        ),
    ),
    Declared("WATCHPOST_CT_POLL_SECONDS", "how often each CT log is read", _attr("ct_poll_seconds")),
    Declared(
        "WATCHPOST_CERTSTREAM_URL",
        "a certstream server (certstream-server-go's or CaliDog's wire format) read in place of the CT logs",
        lambda s, _: s.certstream_url or "off",
        default="off: the CT logs are read",
        details=(
            "`ws://` or `wss://`; joined only while a lookalike or keyword watch exists. A stream has no "
            "replay: what is sent while disconnected is lost, and `/monitor health` says how often."
        ),
    ),
    Declared(
        "WATCHPOST_LOOKALIKE_RESOLVE_SECONDS",
        "how often lookalike permutations are resolved",
        _attr("lookalike_resolve_seconds"),
    ),
    Declared(
        "WATCHPOST_LOOKALIKE_QUERY_BUDGET",
        "DNS queries for permutations per resolve interval",
        _attr("lookalike_query_budget"),
        details="Two queries a permutation, spread over 24 runs.",
    ),
    Declared(
        "WATCHPOST_ALERT_THREAD_WINDOW",
        "seconds an open alert gathers follow-ups in its thread (0: off)",
        _attr("alert_thread_window"),
    ),
    Declared(
        "WATCHPOST_FALSE_POSITIVE_DAYS",
        "days a false-positive value stays quiet",
        _attr("false_positive_days"),
    ),
    Declared(
        "WATCHPOST_SHARED_HOST_NAMES", "names on an IP that make it a shared host", _attr("shared_host_names")
    ),
    Declared(
        "WATCHPOST_SHARE_SCOPE",
        "what a channel learns of other monitors: channel (its own) or workspace",
        _attr("share_scope"),
        details=(
            "`channel`: a channel is told only about its own monitors. `workspace`: the channels of one "
            'Slack workspace share the "shares … with …" links and investigations\' shared infrastructure, '
            "never naming the other channel (it may be private). Nothing ever crosses workspaces."
        ),
    ),
    Declared(
        "WATCHPOST_QUOTAS",
        "per source: N/second|minute|hour|day joined by + (0: source off)",
        lambda s, _: ",".join(
            f"{name}={'+'.join(map(str, lim)) or '0'}" for name, lim in sorted(s.quotas.items())
        ),
        details=(
            "Requests each source may get, shared by every process: `source=N/unit[+N/unit]`, comma-"
            "separated (units `second`, `minute`, `hour`, `day`; `0`: the source is off; `unlimited`: "
            "no quota); sources `mnemonic`, `circl`, `virustotal`, `crtsh`, `rdap`, `internetdb`. Named"
            " sources replace their default; the others keep theirs."
        ),
    ),
    Declared(
        "WATCHPOST_SOURCE_OUTAGE_NOTICE",
        "seconds a source may fail before its channels hear of it",
        _attr("source_outage_notice"),
        details="The channels that depend on the source get one notice, and one when it is back.",
    ),
    Declared(
        "WATCHPOST_WORKERS",
        "worker processes `watchpost serve` starts (0: none)",
        _attr("workers"),
        details=(
            "Worker processes `watchpost serve` starts for slash commands, checks, deliveries and "
            "digests (`0`: it does them itself)."
        ),
    ),
    Declared(
        "WATCHPOST_WORKER_NICE",
        "how much lower those workers' CPU priority is (0-19; Slack's answers come first)",
        _attr("worker_nice"),
        details="When checks keep every core busy, Slack's answers get a core first.",
    ),
    Declared(
        "WATCHPOST_WORKER_METRICS_PORT",
        "set by serve for its workers: where a worker serves /metrics",
        _attr("worker_metrics_port"),
    ),
    Declared(
        "WATCHPOST_MISP_URL",
        "the team's MISP: `/monitor misp <event>` reads it, alerts go to it (empty: off)",
        _attr("misp_url"),
        default="off",
        details=(
            "Base URL of the MISP instance (`https://misp.example.org`), trusted as written (an internal"
            " address is fine); redirects are never followed. With `WATCHPOST_MISP_KEY`, `/monitor misp`"
            " imports its events, and each alert becomes a sighting on the monitored value in the event"
            " the monitor came from, its new values attributes of that event (a monitor not from MISP"
            " gets an event of its own)."
        ),
    ),
    Declared(
        "WATCHPOST_MISP_KEY",
        "MISP API key (Authorization header)",
        lambda s, _: _secret(s.misp_key),
        details=(
            "The automation key of a MISP user who may read the events to import (and, for alerts,"
            " add attributes and sightings). Never shown or logged."
        ),
    ),
    Declared(
        "WATCHPOST_MISP_VERIFY_TLS",
        "verify MISP's TLS certificate (off: only for a test instance)",
        lambda s, _: "on" if s.misp_verify_tls else "off",
    ),
    Declared("WATCHPOST_LOG_LEVEL", "DEBUG, INFO, WARNING, …", _attr("log_level")),
)


_TOKEN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,27}")


def _api_tokens(raw: str) -> tuple[ApiToken, ...]:
    """`name=token` or bare `token` items, comma-separated; a bare one is named `tokenN`
    after its position. A token that itself contains `=` must be given with a name."""
    tokens: list[ApiToken] = []
    for position, item in enumerate((i.strip() for i in raw.split(",") if i.strip()), start=1):
        name, sep, value = item.partition("=")
        if not sep or not _TOKEN_NAME.fullmatch(name) or not value or value.startswith("="):
            name, value = f"token{position}", item  # bare (base64 padding is not a name)
        value = value.strip()
        if not value:
            raise ConfigError(f"WATCHPOST_API_TOKENS: the token named {name!r} is empty")
        if any(t.name == name for t in tokens):
            raise ConfigError(f"WATCHPOST_API_TOKENS: the name {name!r} is used twice")
        tokens.append(ApiToken(name, value))
    return tuple(tokens)


class _WebhookSettings(NamedTuple):
    url: Secret
    per_channel: tuple[tuple[str, Secret], ...]
    secret: Secret


def _webhook_settings(env: Mapping[str, str]) -> _WebhookSettings:
    """WATCHPOST_WEBHOOK_URL (every alert), WATCHPOST_WEBHOOK_URLS (`CHANNEL=URL,...`: a
    channel's alerts) and the WATCHPOST_WEBHOOK_SECRET that signs them."""
    url = env.get("WATCHPOST_WEBHOOK_URL", "").strip()
    if url:
        _check_webhook_url("WATCHPOST_WEBHOOK_URL", url)
    per_channel: list[tuple[str, Secret]] = []
    for item in (i.strip() for i in env.get("WATCHPOST_WEBHOOK_URLS", "").split(",") if i.strip()):
        channel, sep, channel_url = item.partition("=")
        channel, channel_url = channel.strip(), channel_url.strip()
        if not sep or not re.fullmatch(r"[A-Z0-9]{2,32}", channel):
            raise ConfigError(
                "WATCHPOST_WEBHOOK_URLS: items must be CHANNEL_ID=URL (e.g. C0123ABC=https://…)"
            )
        if any(c == channel for c, _ in per_channel):
            raise ConfigError(f"WATCHPOST_WEBHOOK_URLS: channel {channel} is listed twice")
        _check_webhook_url("WATCHPOST_WEBHOOK_URLS", channel_url)
        per_channel.append((channel, Secret(channel_url)))
    secret = env.get("WATCHPOST_WEBHOOK_SECRET", "").strip()
    if (url or per_channel) and len(secret) < 16:
        raise ConfigError(
            "WATCHPOST_WEBHOOK_SECRET must be set (at least 16 characters) when webhooks are configured"
        )
    return _WebhookSettings(Secret(url), tuple(per_channel), Secret(secret))


def _check_webhook_url(name: str, url: str) -> None:
    # The URL itself may carry a token: errors name the problem, never the URL.
    parsed = urlsplit(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ConfigError(f"{name}: a webhook URL must be http:// or https:// with a host")
    if parsed.username or parsed.password:
        raise ConfigError(f"{name}: a webhook URL must not carry a user name or password")


class _MispSettings(NamedTuple):
    url: str
    key: Secret
    verify_tls: bool


def _misp_settings(env: Mapping[str, str]) -> _MispSettings:
    """WATCHPOST_MISP_URL, WATCHPOST_MISP_KEY and WATCHPOST_MISP_VERIFY_TLS. Errors name the
    variable and the problem, never the key."""
    url = env.get("WATCHPOST_MISP_URL", "").strip().rstrip("/")
    key = env.get("WATCHPOST_MISP_KEY", "").strip()
    if url:
        parsed = urlsplit(url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ConfigError("WATCHPOST_MISP_URL must be an http:// or https:// URL, or empty (off)")
        if parsed.query or parsed.fragment:
            raise ConfigError("WATCHPOST_MISP_URL must be the instance's base URL, without ? or #")
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigError("WATCHPOST_MISP_KEY must be one token, without spaces or control characters")
    verify_raw = env.get("WATCHPOST_MISP_VERIFY_TLS", "").strip().lower()
    if verify_raw in {"", "1", "true", "yes", "on"}:
        verify_tls = True
    elif verify_raw in {"0", "false", "no", "off"}:
        verify_tls = False
    else:
        raise ConfigError(f"WATCHPOST_MISP_VERIFY_TLS must be on or off, got {verify_raw[:20]!r}")
    return _MispSettings(url, Secret(key), verify_tls)


def _receiver_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Which channels' alerts go to MISP (its URL and key are the team's MISP:
    `_misp_settings`), and TheHive's URL, key and channels."""
    found: dict[str, Any] = {}
    for name in ("misp", "thehive"):
        prefix = f"WATCHPOST_{name.upper()}"
        channels = tuple(c.strip() for c in env.get(f"{prefix}_CHANNELS", "").split(",") if c.strip())
        for channel in channels:
            if not re.fullmatch(r"[A-Z0-9]{2,32}", channel):
                raise ConfigError(f"{prefix}_CHANNELS: not a Slack channel id: {channel[:40]!r}")
        found[f"{name}_channels"] = channels
    url = env.get("WATCHPOST_THEHIVE_URL", "").strip()
    if url:
        _no_credentials_in(url, "WATCHPOST_THEHIVE_URL", "WATCHPOST_THEHIVE_KEY")
    found["thehive_url"] = url
    found["thehive_key"] = Secret(env.get("WATCHPOST_THEHIVE_KEY", "").strip())
    return found


def _no_credentials_in(url: str, variable: str, key_variable: str) -> None:
    parsed = urlsplit(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ConfigError(f"{variable} must be an http:// or https:// URL, or empty (off)")
    if parsed.username or parsed.password:
        raise ConfigError(f"{variable} must not carry a user name or password (use {key_variable})")


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


# Settings holding a URL, which may carry a password (`scheme://user:password@host/`).
# Keys held as plain strings: masked by `describe`, scrubbed from logs by `secrets`.

_URL_SETTINGS = (
    "database_url",
    "slack_api_url",
    "mnemonic_url",
    "circl_url",
    "virustotal_url",
    "rdap_url",
    "rdap_bootstrap_url",
    "crtsh_url",
    "internetdb_url",
    "ct_log_list_url",
    "certstream_url",
    "misp_url",
)


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


_HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9_](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


def _dns_canary(raw: str) -> str:
    """WATCHPOST_DNS_CANARY: a host name that exists, or "off" / "" for no resolver check."""
    name = raw.strip().rstrip(".").lower()
    if name in {"", "off", "none"}:
        return ""
    if not _HOST_NAME.fullmatch(name):
        raise ConfigError(f"WATCHPOST_DNS_CANARY must be a host name that exists, got {raw[:80]!r}")
    return name


_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")

# One address, no display name: nothing that could smuggle a header or a second recipient.
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")


def _with_slash(url: str) -> str:
    url = url.strip()
    return url if url.endswith("/") else url + "/"
