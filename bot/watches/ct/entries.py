"""What the reader hands on: one logged certificate or precertificate, reduced to the
fields a watch matches and an alert shows (pure values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CtEntry:
    log: str  # the log's identity: its url (RFC 6962) or monitoring_url (static CT)
    index: int  # leaf index in that log
    names: tuple[str, ...]  # CN and SAN dNSNames, lower-cased, deduplicated, as logged ("*.x" kept)
    precertificate: bool
    issuer: str  # issuer organisation (O=), else CN, else ""
    logged_at: datetime  # the leaf's timestamp (ms since epoch), UTC
    serial: str  # certificate serial as hex: a precert and its cert share issuer+serial
