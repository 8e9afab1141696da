"""The operator contract: every setting Watchpost reads from the environment.

Each variable is declared once, as a `Setting` in a table: the `Settings` field it fills,
its kind (how the text is parsed and checked, how the value reads with secrets masked,
which secrets it holds), its meaning and what docs/configuration.md adds. From that table
`Settings.from_env()` reads the environment (then checks the `RULES` between settings),
`explain()` says what `watchpost config` prints (the value in effect, where it came from:
default, environment, or derived from another setting or the system; what it means),
`describe()` and `secrets()` mask and scrub, scripts/docs_reference.py writes the
reference. `CORE_SETTINGS` is here; a room declares its own beside its code (the same-ASN
stage: `bot.alerts.pipeline.same_asn.SETTINGS`) and bot/cli.py's `every_setting()`
joins them: this module is the lowest layer and never imports a room.

`Settings.from_env()` is called once by the command line; nothing else reads os.environ.
Secrets are `Secret` values whose repr and str never show the value.

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

from bot.core.errors import ConfigError
from bot.core.walls import ShareScope


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
    # Alerts into MISP and TheHive 5 (bot/alerts/delivery/misp.py, thehive.py): each receiver is on
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
    # Whose monitors a channel may learn about (bot/core/walls.py): its own, or its
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
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
        declared: Sequence[Setting] | None = None,
    ) -> Settings:
        """Read every declared variable, then check the rules between them; raise ConfigError
        naming the bad variable. `declared` is the table (default: `declarations()`, the core
        settings; the command line passes the rooms' too). `cwd` (default: the current folder)
        is where an existing `watchpost.db` is looked for."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in declarations() if declared is None else declared:
            if setting.is_set(env):
                values[setting.field] = setting.kind.parse(env[setting.env], setting.env)
            elif setting.derived is not None and setting.derived.value is not None:
                values[setting.field] = setting.derived.value(values, cwd)
        settings = cls(**values)
        for rule in RULES:
            rule(settings)
        return settings

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

    def __repr__(self) -> str:
        """As `describe()` shows them: a repr ends up in tracebacks and logs, and a password
        written into a URL must not."""
        return "Settings(" + ", ".join(f"{name}={value!r}" for name, value in self.describe().items()) + ")"

    def describe(self, declared: Sequence[Setting] | None = None) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to log or print. A password written
        into a URL (`postgresql://user:password@db/…`) is a secret too. A field no declaration
        in `declared` names shows as `str()` (a `Secret` masks itself)."""
        shown = {item.name: str(getattr(self, item.name)) for item in fields(self)}
        for setting in declarations() if declared is None else declared:
            shown[setting.field] = setting.shown(self)
        return shown

    def secrets(self, declared: Sequence[Setting] | None = None) -> list[str]:
        """The secret values themselves, for the log filter that scrubs them: what each
        declaration says its value holds, and every `Secret` field whatever its declaration."""
        found = [
            value.reveal()
            for item in fields(self)
            if isinstance(value := getattr(self, item.name), Secret) and value
        ]
        for setting in declarations() if declared is None else declared:
            found.extend(s for s in setting.kind.secrets(getattr(self, setting.field)) if s)
        return list(dict.fromkeys(found))


def default_database_url(data_dir: Path, cwd: Path | None = None) -> str:
    """SQLite in the data folder, or the `watchpost.db` already in the current folder."""
    here = (cwd if cwd is not None else Path.cwd()) / "watchpost.db"
    return sqlite_url(here.absolute() if here.is_file() else data_dir / "watchpost.db")


# The declarations: a setting's kind, the `Setting` itself, the kinds many share, the
# parsers of one setting each, then the table, the rules between settings and `explain`.

# A variable's text (present, and not blank where blank counts as unset) and the
# variable's name -> the value; a bad text raises ConfigError naming the variable.
Parse = Callable[[str, str], Any]


def _no_secrets(_value: Any) -> tuple[str, ...]:
    return ()


class Kind(NamedTuple):
    """How a variable's text becomes a value, how the value reads in `watchpost config`
    (secrets masked) and which secret strings the value holds (for the log scrubber)."""

    parse: Parse
    show: Callable[[Any], str] = str
    secrets: Callable[[Any], Iterable[str]] = _no_secrets


@dataclass(frozen=True)
class Derived:
    """A variable whose value, when unset or blank, is derived: from the settings read
    before it and the current folder (`value`), or found by the running code itself
    (`value` None; `from_system`: `watchpost config` asks the system). `source` is what
    `watchpost config` says it came from."""

    source: str | Callable[[Settings], str]
    value: Callable[[Mapping[str, Any], Path | None], Any] | None = None
    from_system: bool = False


@dataclass(frozen=True)
class Setting:
    """One environment variable, declared once: the `Settings` field it fills, its kind
    (parse, show, secrets), its one-line meaning (`watchpost config`), and what the generated
    reference adds: `default` in words where the value shown is not the whole story, and
    `details`. Unset, the field keeps its `Settings` default (or is `derived`);
    `blank_is_unset`: an empty value counts as unset too (compose passes `VAR=`)."""

    env: str
    field: str
    kind: Kind
    meaning: str
    details: str = ""
    default: str = ""
    derived: Derived | None = None
    blank_is_unset: bool = False

    @property
    def secret(self) -> bool:
        return self.kind.secrets is not _no_secrets

    def is_set(self, env: Mapping[str, str]) -> bool:
        if self.env not in env:
            return False
        blank_counts = self.blank_is_unset or self.derived is not None
        return not (blank_counts and not env[self.env].strip())

    def shown(self, settings: Settings) -> str:
        """The value in effect as `watchpost config` prints it, secrets masked."""
        return self.kind.show(getattr(settings, self.field))


# Kinds shared by many settings.


def _masked(value: Secret) -> str:
    return "********" if value else ""


def _revealed(value: Secret) -> tuple[str, ...]:
    return (value.reveal(),)


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def _url_masked(url: str) -> str:
    password = _url_password(url)
    return url.replace(f":{password}@", ":********@", 1) if password else url


def _joined(items: Iterable[object]) -> str:
    return ",".join(str(item) for item in items)


def _items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


TEXT = Kind(lambda raw, _name: raw.strip())
# A credential. `RAW_SECRET` keeps the text as typed (a password may begin or end with a space).
SECRET = Kind(lambda raw, _name: Secret(raw.strip()), _masked, _revealed)
RAW_SECRET = Kind(lambda raw, _name: Secret(raw), _masked, _revealed)
# A URL, which may carry a password (`scheme://user:password@host/`): masked and scrubbed.
URL = Kind(lambda raw, _name: raw.strip(), _url_masked, lambda url: (_url_password(url),))
# 1, true, yes or on: on; anything else: off.
FLAG = Kind(
    lambda raw, _name: raw.strip().lower() in {"1", "true", "yes", "on"}, lambda on: "1" if on else "0"
)


def _on_off(raw: str, name: str) -> bool:
    wanted = raw.strip().lower()
    if wanted in {"1", "true", "yes", "on"}:
        return True
    if wanted in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be on or off, got {wanted[:20]!r}")


# on or off, strictly (blank: the default).
ON_OFF = Kind(_on_off, lambda on: "on" if on else "off")


def whole(minimum: int, maximum: int | None = None) -> Kind:
    """A whole number from `minimum` (to `maximum`)."""

    def parse(raw: str, name: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw.strip()!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value

    return Kind(parse)


def checked_url(schemes: tuple[str, ...], problem: str, *, base_only: bool = False) -> Kind:
    """A URL with one of `schemes` and a host, or empty (off); `problem` ends the error."""

    def parse(raw: str, name: str) -> str:
        url = raw.strip().rstrip("/") if base_only else raw.strip()
        if url:
            parsed = urlsplit(url)
            if parsed.scheme not in schemes or not parsed.hostname:
                raise ConfigError(f"{name} {problem}")
            if base_only and (parsed.query or parsed.fragment):
                raise ConfigError(f"{name} must be the instance's base URL, without ? or #")
        return url

    return Kind(parse, _url_masked, lambda url: (_url_password(url),))


# Parsers of one setting each (or a few alike). Errors name the variable and the problem;
# those of a credential never echo it.


def _with_slash(raw: str, _name: str) -> str:
    url = raw.strip()
    return url if url.endswith("/") else url + "/"


def _path(raw: str, _name: str) -> Path:
    return Path(raw.strip()).expanduser()


def _host_ports(raw: str, name: str) -> tuple[HostPort, ...]:
    try:
        return tuple(parse_host_port(item, 53) for item in raw.split(",") if item.strip())
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _whois_server(raw: str, name: str) -> HostPort | None:
    try:
        return parse_host_port(raw, 43) if raw.strip() else None
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _seconds(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None


def _source_timeout(raw: str, name: str) -> float | None:
    if not raw.strip():
        return None
    seconds = _seconds(raw, name)
    if not 0 < seconds <= 600:
        raise ConfigError(f"{name} must be more than 0 and at most 600 seconds")
    return seconds


def _digest_time(raw: str, name: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw.strip())
    if not match:
        raise ConfigError(f"{name} must be HH:MM, got {raw.strip()!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _timezone(raw: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} is not a known time zone: {raw.strip()!r}") from None


_HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9_](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


def _dns_canary(raw: str, name: str) -> str:
    """A host name that exists, or "off" / "" for no resolver check."""
    host = raw.strip().rstrip(".").lower()
    if host in {"", "off", "none"}:
        return ""
    if not _HOST_NAME.fullmatch(host):
        raise ConfigError(f"{name} must be a host name that exists, got {raw[:80]!r}")
    return host


_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
_CHANNEL_ID = re.compile(r"[A-Z0-9]{2,32}")


def _admins(raw: str, name: str) -> frozenset[str]:
    admins = frozenset(_items(raw))
    for admin in sorted(admins):
        if not _SLACK_USER_ID.fullmatch(admin):
            raise ConfigError(f"{name}: not a Slack user id (U… or W…): {admin[:40]!r}")
    return admins


def _channel_ids(raw: str, name: str) -> tuple[str, ...]:
    channels = tuple(_items(raw))
    for channel in channels:
        if not _CHANNEL_ID.fullmatch(channel):
            raise ConfigError(f"{name}: not a Slack channel id: {channel[:40]!r}")
    return channels


# One address, no display name: nothing that could smuggle a header or a second recipient.
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")


def _email(raw: str, name: str) -> str:
    address = raw.strip()
    if address and not _EMAIL.fullmatch(address):
        raise ConfigError(f"{name}: not an email address: {address!r}")
    return address


def _emails(raw: str, name: str) -> tuple[str, ...]:
    return tuple(_email(item, name) for item in _items(raw))


_TOKEN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,27}")


def _api_tokens(raw: str, name: str) -> tuple[ApiToken, ...]:
    """`name=token` or bare `token` items, comma-separated; a bare one is named `tokenN`
    after its position. A token that itself contains `=` must be given with a name."""
    tokens: list[ApiToken] = []
    for position, item in enumerate(_items(raw), start=1):
        token_name, sep, value = item.partition("=")
        if not sep or not _TOKEN_NAME.fullmatch(token_name) or not value or value.startswith("="):
            token_name, value = f"token{position}", item  # bare (base64 padding is not a name)
        value = value.strip()
        if not value:
            raise ConfigError(f"{name}: the token named {token_name!r} is empty")
        if any(t.name == token_name for t in tokens):
            raise ConfigError(f"{name}: the name {token_name!r} is used twice")
        tokens.append(ApiToken(token_name, value))
    return tuple(tokens)


def _check_webhook_url(name: str, url: str) -> None:
    # The URL itself may carry a token: errors name the problem, never the URL.
    parsed = urlsplit(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ConfigError(f"{name}: a webhook URL must be http:// or https:// with a host")
    if parsed.username or parsed.password:
        raise ConfigError(f"{name}: a webhook URL must not carry a user name or password")


def _webhook_url(raw: str, name: str) -> Secret:
    url = raw.strip()
    if url:
        _check_webhook_url(name, url)
    return Secret(url)


def _webhook_urls(raw: str, name: str) -> tuple[tuple[str, Secret], ...]:
    """`CHANNEL=URL,...`: a channel's alerts."""
    per_channel: list[tuple[str, Secret]] = []
    for item in _items(raw):
        channel, sep, channel_url = (part.strip() for part in item.partition("="))
        if not sep or not _CHANNEL_ID.fullmatch(channel):
            raise ConfigError(f"{name}: items must be CHANNEL_ID=URL (e.g. C0123ABC=https://…)")
        if any(c == channel for c, _ in per_channel):
            raise ConfigError(f"{name}: channel {channel} is listed twice")
        _check_webhook_url(name, channel_url)
        per_channel.append((channel, Secret(channel_url)))
    return tuple(per_channel)


def _webhook_format(raw: str, name: str) -> WebhookFormat:
    """`json` (the default, also when empty) or `stix`."""
    wanted = raw.strip().lower() or WebhookFormat.JSON.value
    try:
        return WebhookFormat(wanted)
    except ValueError:
        raise ConfigError(
            f"{name} must be json (Watchpost's alert JSON) or stix (a STIX 2.1 bundle), "
            f"got {raw.strip()[:40]!r}"
        ) from None


def _share_scope(raw: str, name: str) -> ShareScope:
    """`channel` (the default, also when empty) or `workspace`."""
    wanted = raw.strip().lower() or ShareScope.CHANNEL.value
    try:
        return ShareScope(wanted)
    except ValueError:
        raise ConfigError(
            f"{name} must be channel (each channel sees only its own monitors) "
            f"or workspace (a workspace's channels share, unnamed), got {raw.strip()[:40]!r}"
        ) from None


def _thehive_url(raw: str, name: str) -> str:
    url = raw.strip()
    parsed = urlsplit(url)
    if url and (parsed.scheme not in {"http", "https"} or not parsed.hostname):
        raise ConfigError(f"{name} must be an http:// or https:// URL, or empty (off)")
    if url and (parsed.username or parsed.password):
        raise ConfigError(f"{name} must not carry a user name or password (use WATCHPOST_THEHIVE_KEY)")
    return url


def _misp_key(raw: str, name: str) -> Secret:
    key = raw.strip()
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigError(f"{name} must be one token, without spaces or control characters")
    return Secret(key)


def _quota_text(quotas: Mapping[str, tuple[QuotaLimit, ...]]) -> str:
    return ",".join(f"{name}={'+'.join(map(str, limits)) or '0'}" for name, limits in sorted(quotas.items()))


def _database_source(settings: Settings) -> str:
    in_cwd = not settings.database_url.startswith(sqlite_url(settings.data_dir))
    return "derived: watchpost.db in this folder" if in_cwd else "derived: WATCHPOST_DATA_DIR"


# Kinds of one setting each.
_SECONDS = Kind(_seconds, lambda seconds: f"{seconds:g}")
_API_TOKENS = Kind(
    _api_tokens,
    lambda tokens: _joined(f"{t.name}=********" for t in tokens),
    lambda tokens: [t.reveal() for t in tokens],
)
_WEBHOOK_URL = Kind(_webhook_url, _masked, _revealed)
_WEBHOOK_URLS = Kind(
    _webhook_urls,
    lambda urls: _joined(f"{channel}=********" for channel, _url in urls),
    lambda urls: [url.reveal() for _channel, url in urls],
)


CORE_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SLACK_BOT_TOKEN",
        "slack_bot_token",
        SECRET,
        "the bot's OAuth token (xoxb-…)",
        details=(
            "Slack app credentials; with `SLACK_SIGNING_SECRET` for HTTP mode, or `SLACK_APP_TOKEN` for"
            " Socket Mode."
        ),
    ),
    Setting(
        "SLACK_SIGNING_SECRET",
        "slack_signing_secret",
        SECRET,
        "checks Slack's request signatures (HTTP mode)",
    ),
    Setting("SLACK_APP_TOKEN", "slack_app_token", SECRET, "set: Socket Mode, no public URL (xapp-…)"),
    Setting(
        "SLACK_API_URL",
        "slack_api_url",
        Kind(_with_slash, _url_masked, lambda url: (_url_password(url),)),
        "base URL of Slack's Web API",
    ),
    Setting(
        "WATCHPOST_HOST",
        "host",
        TEXT,
        "address `serve` listens on (0.0.0.0: every interface)",
        default="`127.0.0.1` (the Docker image: `0.0.0.0`)",
        blank_is_unset=True,
    ),
    Setting("WATCHPOST_PORT", "port", whole(0), "port of /slack/events, /api/v1, /healthz, /metrics"),
    Setting(
        "WATCHPOST_METRICS_TOKEN",
        "metrics_token",
        SECRET,
        "bearer token /metrics asks for; unset: /metrics only on loopback",
        default="none: `/metrics` answers loopback only",
    ),
    Setting(
        "WATCHPOST_DATA_DIR",
        "data_dir",
        Kind(_path),
        "folder of the SQLite database and saved files",
        default="the user's data folder (`$XDG_DATA_HOME/watchpost`, usually `~/.local/share/watchpost`)",
        details="Folder of the SQLite database and of the files the console saves.",
        derived=Derived("default: the user's data folder", lambda _values, _cwd: default_data_dir()),
    ),
    Setting(
        "DATABASE_URL",
        "database_url",
        URL,
        "the database (SQLAlchemy URL)",
        default=(
            "`watchpost.db` in `WATCHPOST_DATA_DIR`, or in the current folder if one is already there "
            "(timeout 30 s)"
        ),
        details=(
            "`postgresql://user@host/db` for teams; SQLite takes `?timeout=<s>`, how long a write waits"
            " for another's lock."
        ),
        derived=Derived(_database_source, lambda values, cwd: default_database_url(values["data_dir"], cwd)),
    ),
    Setting(
        "WATCHPOST_FILES_DIR",
        "files_dir",
        Kind(_path),
        "where the console saves files (digest CSVs, pictures)",
        default="`files` in `WATCHPOST_DATA_DIR`",
        details=(
            "Where the console saves what Slack would get as files (digest CSVs, pictures), in a folder"
            " per channel."
        ),
        derived=Derived("derived: WATCHPOST_DATA_DIR", lambda values, _cwd: values["data_dir"] / "files"),
    ),
    Setting(
        "WATCHPOST_DNS_NAMESERVERS",
        "dns_nameservers",
        Kind(_host_ports, _joined),
        "nameservers asked directly, no cache",
        default="the `nameserver` lines of `/etc/resolv.conf` (port 53); an empty value counts as unset",
        details="`host[:port]`, comma-separated; asked directly, no cache, every check reaches them.",
        derived=Derived("derived: /etc/resolv.conf", from_system=True),
    ),
    Setting("WATCHPOST_DNS_TIMEOUT", "dns_timeout", _SECONDS, "seconds for one DNS lookup, retries included"),
    Setting(
        "WATCHPOST_WHOIS_SERVER",
        "whois_server",
        Kind(_whois_server, lambda server: str(server or "")),
        "WHOIS server for every query; unset: IANA referral",
        default="the registry's server (IANA referral)",
        details="`host[:port]` asked for every WHOIS query (and no RDAP for domains).",
    ),
    Setting(
        "WATCHPOST_CIRCL_URL",
        "circl_url",
        URL,
        "CIRCL passive DNS (empty: off)",
        default="off",
        details="CIRCL passive DNS, with `WATCHPOST_CIRCL_USER` and `WATCHPOST_CIRCL_PASSWORD`.",
    ),
    Setting("WATCHPOST_CIRCL_USER", "circl_user", TEXT, "CIRCL account"),
    Setting("WATCHPOST_CIRCL_PASSWORD", "circl_password", RAW_SECRET, "CIRCL password"),
    Setting(
        "WATCHPOST_MNEMONIC_URL",
        "mnemonic_url",
        URL,
        "Mnemonic passive DNS (empty: off)",
        details="Mnemonic passive DNS v3.",
    ),
    Setting("WATCHPOST_MNEMONIC_KEY", "mnemonic_key", SECRET, "Mnemonic API key (unset: the public quota)"),
    Setting(
        "WATCHPOST_VIRUSTOTAL_URL",
        "virustotal_url",
        URL,
        "VirusTotal resolutions (on with a key)",
        details="VirusTotal v3 resolutions: on only when `WATCHPOST_VIRUSTOTAL_KEY` is set.",
    ),
    Setting("WATCHPOST_VIRUSTOTAL_KEY", "virustotal_key", SECRET, "VirusTotal API key"),
    Setting(
        "WATCHPOST_RDAP_URL", "rdap_url", URL, "RDAP base (empty: off)", details="RDAP base for IP networks."
    ),
    Setting("WATCHPOST_CRTSH_URL", "crtsh_url", URL, "crt.sh base (empty: off)"),
    Setting("WATCHPOST_INTERNETDB_URL", "internetdb_url", URL, "Shodan InternetDB base (empty: off)"),
    Setting(
        "WATCHPOST_SOURCE_TIMEOUT",
        "source_timeout",
        Kind(_source_timeout, lambda seconds: f"{seconds:g}" if seconds else ""),
        "seconds for one source request; unset: each source's own",
        default="each source's own (15–60 s)",
        details=(
            "Seconds for one request to any HTTP source or WHOIS server, waiting for a free connection "
            "included."
        ),
    ),
    Setting(
        "WATCHPOST_CHECK_INTERVAL",
        "check_interval",
        whole(1),
        "seconds between checks of one monitor",
        details="Each monitor keeps its own moment in the interval, so the first gap is ½–1½ of it.",
    ),
    Setting("WATCHPOST_CHECK_CONCURRENCY", "check_concurrency", whole(1), "checks running at once"),
    Setting("WATCHPOST_ACTIVE_PROBES", "active_probes", FLAG, "1: probes that contact the monitored host"),
    Setting(
        "WATCHPOST_ADMINS",
        "admins",
        Kind(_admins, lambda admins: _joined(sorted(admins))),
        "Slack user ids who may remove or mute any monitor",
        default="none: only each monitor's creator",
        details="Slack user ids (`U…`, `W…`), comma-separated.",
    ),
    Setting(
        "WATCHPOST_CHANNEL_QUOTA",
        "channel_quota",
        whole(1),
        "most monitors one channel may hold",
        details="A bulk add past it is refused whole.",
    ),
    Setting(
        "WATCHPOST_COMMAND_RATE",
        "command_rate",
        whole(0),
        "commands a minute per person (0: no limit; the console has none)",
        details=(
            "Commands and investigations a minute per person; on PostgreSQL counted in the database, "
            "for every process together; on SQLite by the one process answering Slack."
        ),
    ),
    Setting(
        "WATCHPOST_DIGEST_TIME",
        "digest_time",
        Kind(_digest_time, lambda at: f"{at:%H:%M}"),
        "when the daily digest posts (HH:MM)",
    ),
    Setting("WATCHPOST_TIMEZONE", "timezone", Kind(_timezone), "the team's time zone, for digests and days"),
    Setting(
        "WATCHPOST_API_TOKENS",
        "api_tokens",
        _API_TOKENS,
        "bearer tokens for /api/v1 (unset: API off)",
        default="none: API off",
        details="Comma-separated, each `name=token` (a bare token is named `tokenN` by its position).",
    ),
    Setting(
        "WATCHPOST_API_RATE_LIMIT",
        "api_rate_limit",
        whole(1),
        "API requests a minute per token",
        details="In bursts of up to as many.",
    ),
    Setting(
        "WATCHPOST_WEBHOOK_URL",
        "webhook_url",
        _WEBHOOK_URL,
        "gets every alert as a signed POST",
        default="none",
        details="Every alert as a signed JSON POST.",
    ),
    Setting(
        "WATCHPOST_WEBHOOK_URLS",
        "webhook_urls",
        _WEBHOOK_URLS,
        "CHANNEL=URL: gets that channel's alerts",
        default="none",
        details="`CHANNEL_ID=URL`, comma-separated: gets the alerts posted to that channel.",
    ),
    Setting(
        "WATCHPOST_WEBHOOK_SECRET",
        "webhook_secret",
        SECRET,
        "signs the webhooks (HMAC-SHA256)",
        details="Required with a webhook URL, 16 characters or more.",
    ),
    Setting(
        "WATCHPOST_WEBHOOK_FORMAT",
        "webhook_format",
        Kind(_webhook_format, lambda chosen: chosen.value),
        "json or stix: the webhooks' body",
        details=(
            "`json`: Watchpost's alert JSON, as the API's alerts. `stix`: each alert as a STIX 2.1 bundle "
            "(`Content-Type: application/stix+json;version=2.1`), signed and keyed the same way."
        ),
    ),
    Setting(
        "WATCHPOST_MISP_CHANNELS",
        "misp_channels",
        Kind(_channel_ids, _joined),
        "channels whose alerts go to MISP (empty: every channel)",
        default="every channel",
        details="Channel ids, comma-separated.",
    ),
    Setting(
        "WATCHPOST_THEHIVE_URL",
        "thehive_url",
        Kind(_thehive_url),
        "TheHive 5 that gets each alert as an alert",
        default="none: off",
        details=(
            "With `WATCHPOST_THEHIVE_KEY`, each alert becomes a TheHive alert (type and source"
            " `watchpost`, its changed values as observables). Trusted as written, loopback included;"
            " redirects are never followed."
        ),
    ),
    Setting(
        "WATCHPOST_THEHIVE_KEY",
        "thehive_key",
        SECRET,
        "TheHive API key",
        default="none: off",
        details="Sent as `Authorization: Bearer`; never shown or logged.",
    ),
    Setting(
        "WATCHPOST_THEHIVE_CHANNELS",
        "thehive_channels",
        Kind(_channel_ids, _joined),
        "channels whose alerts go to TheHive (empty: every channel)",
        default="every channel",
        details="Channel ids, comma-separated.",
    ),
    Setting(
        "WATCHPOST_SMTP_HOST",
        "smtp_host",
        TEXT,
        "mail server of the email digest",
        default="off",
        details="The email digest: see [The daily digest](digest.md).",
    ),
    Setting("WATCHPOST_SMTP_PORT", "smtp_port", whole(1, 65535), "its submission port"),
    Setting("WATCHPOST_SMTP_USER", "smtp_user", TEXT, "its login"),
    Setting("WATCHPOST_SMTP_PASSWORD", "smtp_password", RAW_SECRET, "its password"),
    Setting(
        "WATCHPOST_SMTP_STARTTLS",
        "smtp_starttls",
        ON_OFF,
        "STARTTLS before anything else",
        blank_is_unset=True,
    ),
    Setting("WATCHPOST_DIGEST_EMAIL_FROM", "digest_email_from", Kind(_email), "sender of the email digest"),
    Setting(
        "WATCHPOST_DIGEST_EMAIL_TO",
        "digest_email_to",
        Kind(_emails, _joined),
        "recipients of the email digest (unset: no email)",
    ),
    Setting(
        "WATCHPOST_DNS_CANARY",
        "dns_canary",
        Kind(_dns_canary, lambda name: name or "off"),
        "a name that must resolve before DNS answers count (off: no check)",
        details=(
            "A name that exists, asked (with a random name under it that cannot) before any DNS answer "
            "counts; `off`: no check."
        ),
    ),
    Setting(
        "WATCHPOST_RDAP_BOOTSTRAP_URL",
        "rdap_bootstrap_url",
        URL,
        "IANA's RDAP bootstrap (empty: WHOIS only)",
        details=(
            "Where IANA's RDAP bootstrap file `dns.json` is read (a local copy for air-gapped teams); "
            "empty: domains use WHOIS only."
        ),
    ),
    Setting(
        "WATCHPOST_CT_LOG_LIST_URL",
        "ct_log_list_url",
        checked_url(("http", "https"), "must be an http:// or https:// URL, or empty (off)"),
        "CT log list, Chrome's v3 schema (empty: CT off)",
        default="`https://www.gstatic.com/ct/log_list/v3/log_list.json` (Google's published list)",
        details=(
            "Every `usable` or `qualified` log in it is read (RFC 6962 `logs[]` and Static CT API "
            "`tiled_logs[]`); empty: the CT reader is off."
        ),
    ),
    Setting("WATCHPOST_CT_POLL_SECONDS", "ct_poll_seconds", whole(1), "how often each CT log is read"),
    Setting(
        "WATCHPOST_CERTSTREAM_URL",
        "certstream_url",
        checked_url(("ws", "wss"), "must be a ws:// or wss:// URL, or empty (off)")._replace(
            show=lambda url: _url_masked(url) or "off"
        ),
        "a certstream server (certstream-server-go's or CaliDog's wire format) read in place of the CT logs",
        default="off: the CT logs are read",
        details=(
            "`ws://` or `wss://`; joined only while a lookalike or keyword watch exists. A stream has no "
            "replay: what is sent while disconnected is lost, and `/monitor health` says how often."
        ),
    ),
    Setting(
        "WATCHPOST_LOOKALIKE_RESOLVE_SECONDS",
        "lookalike_resolve_seconds",
        whole(60),
        "how often lookalike permutations are resolved",
    ),
    Setting(
        "WATCHPOST_LOOKALIKE_QUERY_BUDGET",
        "lookalike_query_budget",
        whole(0),
        "DNS queries for permutations per resolve interval",
        details="Two queries a permutation, spread over 24 runs.",
    ),
    Setting(
        "WATCHPOST_ALERT_THREAD_WINDOW",
        "alert_thread_window",
        whole(0),
        "seconds an open alert gathers follow-ups in its thread (0: off)",
    ),
    Setting(
        "WATCHPOST_FALSE_POSITIVE_DAYS",
        "false_positive_days",
        whole(1),
        "days a false-positive value stays quiet",
    ),
    Setting(
        "WATCHPOST_SHARED_HOST_NAMES",
        "shared_host_names",
        whole(1),
        "names on an IP that make it a shared host",
    ),
    Setting(
        "WATCHPOST_SHARE_SCOPE",
        "share_scope",
        Kind(_share_scope, lambda scope: scope.value),
        "what a channel learns of other monitors: channel (its own) or workspace",
        details=(
            "`channel`: a channel is told only about its own monitors. `workspace`: the channels of one "
            'Slack workspace share the "shares … with …" links and investigations\' shared infrastructure, '
            "never naming the other channel (it may be private). Nothing ever crosses workspaces."
        ),
    ),
    Setting(
        "WATCHPOST_QUOTAS",
        "quotas",
        Kind(lambda raw, _name: parse_quotas(raw), _quota_text),
        "per source: N/second|minute|hour|day joined by + (0: source off)",
        details=(
            "Requests each source may get, shared by every process: `source=N/unit[+N/unit]`, comma-"
            "separated (units `second`, `minute`, `hour`, `day`; `0`: the source is off; `unlimited`: "
            "no quota); sources `mnemonic`, `circl`, `virustotal`, `crtsh`, `rdap`, `internetdb`. Named"
            " sources replace their default; the others keep theirs."
        ),
    ),
    Setting(
        "WATCHPOST_SOURCE_OUTAGE_NOTICE",
        "source_outage_notice",
        whole(60),
        "seconds a source may fail before its channels hear of it",
        details="The channels that depend on the source get one notice, and one when it is back.",
    ),
    Setting(
        "WATCHPOST_WORKERS",
        "workers",
        whole(0),
        "worker processes `watchpost serve` starts (0: none)",
        details=(
            "Worker processes `watchpost serve` starts for slash commands, checks, deliveries and "
            "digests (`0`: it does them itself)."
        ),
    ),
    Setting(
        "WATCHPOST_WORKER_NICE",
        "worker_nice",
        whole(0, 19),
        "how much lower those workers' CPU priority is (0-19; Slack's answers come first)",
        details="When checks keep every core busy, Slack's answers get a core first.",
    ),
    Setting(
        "WATCHPOST_WORKER_METRICS_PORT",
        "worker_metrics_port",
        whole(0),
        "set by serve for its workers: where a worker serves /metrics",
    ),
    Setting(
        "WATCHPOST_MISP_URL",
        "misp_url",
        checked_url(("http", "https"), "must be an http:// or https:// URL, or empty (off)", base_only=True),
        "the team's MISP: `/monitor misp <event>` reads it, alerts go to it (empty: off)",
        default="off",
        details=(
            "Base URL of the MISP instance (`https://misp.example.org`), trusted as written (an internal"
            " address is fine); redirects are never followed. With `WATCHPOST_MISP_KEY`, `/monitor misp`"
            " imports its events, and each alert becomes a sighting on the monitored value in the event"
            " the monitor came from, its new values attributes of that event (a monitor not from MISP"
            " gets an event of its own)."
        ),
    ),
    Setting(
        "WATCHPOST_MISP_KEY",
        "misp_key",
        Kind(_misp_key, _masked, _revealed),
        "MISP API key (Authorization header)",
        details=(
            "The automation key of a MISP user who may read the events to import (and, for alerts,"
            " add attributes and sightings). Never shown or logged."
        ),
    ),
    Setting(
        "WATCHPOST_MISP_VERIFY_TLS",
        "misp_verify_tls",
        ON_OFF,
        "verify MISP's TLS certificate (off: only for a test instance)",
        blank_is_unset=True,
    ),
    Setting(
        "WATCHPOST_LOG_LEVEL",
        "log_level",
        Kind(lambda raw, _name: raw.strip().upper()),
        "DEBUG, INFO, WARNING, …",
        blank_is_unset=True,
    ),
)


def declarations() -> tuple[Setting, ...]:
    """The core settings, in `watchpost config`'s order (bot/cli.py's `every_setting()` adds
    those the rooms declare beside their code)."""
    return CORE_SETTINGS


# Rules between settings, checked in this order once every variable is read.


def webhooks_need_a_secret(settings: Settings) -> None:
    if (settings.webhook_url or settings.webhook_urls) and len(settings.webhook_secret.reveal()) < 16:
        raise ConfigError(
            "WATCHPOST_WEBHOOK_SECRET must be set (at least 16 characters) when webhooks are configured"
        )


def smtp_password_needs_a_user(settings: Settings) -> None:
    if settings.smtp_password and not settings.smtp_user:
        raise ConfigError("WATCHPOST_SMTP_PASSWORD is set but WATCHPOST_SMTP_USER is not")


def email_digest_needs_a_server_and_sender(settings: Settings) -> None:
    """Email is off unless WATCHPOST_DIGEST_EMAIL_TO is set; then what sending needs is there."""
    if settings.digest_email_to and not settings.smtp_host:
        raise ConfigError("WATCHPOST_SMTP_HOST must be set when WATCHPOST_DIGEST_EMAIL_TO is")
    if settings.digest_email_to and not settings.digest_email_from:
        raise ConfigError("WATCHPOST_DIGEST_EMAIL_FROM must be set when WATCHPOST_DIGEST_EMAIL_TO is")


def smtp_login_needs_starttls(settings: Settings) -> None:
    if settings.smtp_user and not settings.smtp_starttls:
        raise ConfigError(
            "WATCHPOST_SMTP_STARTTLS is off: refusing to send WATCHPOST_SMTP_USER's password in clear text"
        )


RULES: tuple[Callable[[Settings], None], ...] = (
    smtp_password_needs_a_user,
    email_digest_needs_a_server_and_sender,
    smtp_login_needs_starttls,
    webhooks_need_a_secret,
)


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
    declared: Sequence[Setting] | None = None,
) -> list[Variable]:
    """Every declared variable, its value in effect (secrets masked), where it came from
    and what it means. `system_nameservers` reads the resolver Watchpost falls back to."""
    env = os.environ if env is None else env
    variables = []
    for setting in declarations() if declared is None else declared:
        value, source = setting.shown(settings), "environment"
        if not setting.is_set(env):
            source = "default"
            if (derived := setting.derived) is not None:
                source = derived.source if isinstance(derived.source, str) else derived.source(settings)
                if derived.from_system:
                    value = _joined(system_nameservers())
        variables.append(Variable(setting.env, value, source, setting.meaning))
    return variables
