"""What the CT reader hands on: one log entry's names, whoever reads them next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CtEntry:
    """One leaf of one log. `names`: CN and SAN DNS names, lower-case, wildcards as `*.x`.
    A precertificate and its certificate share issuer and serial."""

    log: str
    index: int
    names: tuple[str, ...]
    precertificate: bool
    issuer: str
    logged_at: datetime
    serial: str
