"""Lookalike and keyword watches as values: what a channel watches, and why a name matched."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.alerts.model import ActiveSuppression


class WatchKind(enum.StrEnum):
    LOOKALIKE = "lookalike"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Watch:
    id: int
    team_id: str
    channel_id: str
    kind: WatchKind
    term: str  # a brand's registrable domain, or a keyword (folded, lower-case)
    created_at: datetime
    created_by: str = ""


@dataclass(frozen=True)
class Reason:
    watch_id: int
    rule: str  # permutation, tld-swap, homoglyph, edit, contains, keyword, resolves, mx
    detail: str  # e.g. dnstwist's fuzzer name, or the matched label

    def describe(self, term: str) -> str:
        """One line for the alert: which rule matched which brand or word."""
        match self.rule:
            case "permutation":
                return f"{self.detail} permutation of {term}"
            case "tld-swap":
                return f"{term} under another TLD"
            case "homoglyph":
                return f"homoglyph of {term} (reads the same once look-alike letters are folded)"
            case "edit":
                return f"one letter from {term} once look-alike letters are folded"
            case "contains":
                return f"a label contains {self.detail!r} (brand {term})"
            case "keyword":
                return f"contains the keyword {term!r}"
            case "resolves":
                return f"{self.detail} permutation of {term} now resolves (was NXDOMAIN)"
            case "mx":
                return f"{self.detail} permutation of {term} now has mail servers (MX)"
        return f"{self.rule} ({term})"


@dataclass(frozen=True)
class DomainFacts:
    """What is known at once about a lookalike, for its alert. None: not looked up or failed."""

    addresses: tuple[str, ...] | None = None
    mail_servers: tuple[str, ...] | None = None
    registrar: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class Sighting:
    """A certificate that named the domain."""

    log: str
    index: int
    name: str
    issuer: str
    serial: str
    logged_at: datetime


@dataclass(frozen=True)
class Finding:
    id: int
    team_id: str
    channel_id: str
    domain: str
    name: str
    reasons: tuple[dict[str, Any], ...]
    source: str
    issuer: str | None
    first_seen_at: datetime
    message_ts: str | None
    certificates: int = 0
    dismissed: bool = False
    silenced: str | None = None  # the stage (mute, snooze) that kept its alert out of the channel

    def terms(self, kind: WatchKind) -> list[str]:
        """The watched terms of `kind` behind this finding, sorted (a reason stored without
        a kind is a lookalike's: keyword watches came later)."""
        return sorted(
            {str(r.get("term")) for r in self.reasons if (r.get("kind") or "lookalike") == kind.value}
        )

    @property
    def keyword_only(self) -> bool:
        """Found by keyword watches alone: a name containing a word, not one imitating a brand."""
        return bool(self.reasons) and not self.terms(WatchKind.LOOKALIKE)


@dataclass(frozen=True)
class WatchTarget:
    """One watch behind a match, as the finding policy sees it: the mutes and snoozes of
    the watch in force (bot/alerts/pipeline/)."""

    watch_id: int
    suppressions: tuple[ActiveSuppression, ...] = ()

    def silenced_by(self, kind: str, now: datetime) -> ActiveSuppression | None:
        """The suppression of `kind` in force now that lasts longest, if any."""
        active = [s for s in self.suppressions if s.kind == kind and s.expires_at > now]
        return max(active, key=lambda s: s.expires_at, default=None)


@dataclass(frozen=True)
class FindingVerdict:
    """The policy's decision for one match in one channel: alerted, or silenced by `stage`
    (every watch behind the match muted or snoozed there)."""

    stage: str | None = None  # None: alerted
    suppression: ActiveSuppression | None = None  # the one that silenced the last watch

    @property
    def alerted(self) -> bool:
        return self.stage is None
