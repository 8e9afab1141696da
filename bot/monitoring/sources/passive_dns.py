"""Normalisation shared by the passive DNS sources (pure: no I/O).

Every provider spells the same row differently (trailing dots, letter case, ms or s
timestamps, numbers as strings); these functions turn each into one PassiveDnsRecord so
the diff sees one fact whatever the source.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from urllib.parse import quote

from bot.monitoring.datasets.base import PassiveDnsRecord

# Types whose rdata is made of domain names (MX, SRV and SOA carry numbers beside them).
_NAME_RDATA_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME", "MX", "SRV", "SOA", "NAPTR"})


def normalise_name(name: str) -> str:
    """Lower-case, no surrounding space, no trailing dot (the root stays ".")."""
    text = name.strip().lower()
    return text.rstrip(".") or ("." if text else "")


def normalise_query(indicator: str) -> str:
    """The queried value in the form rows are compared with: canonical IP or normalised name."""
    text = indicator.strip()
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return normalise_name(text)


def normalise_rdata(rrtype: str, rdata: str) -> str:
    """Canonical rdata: IPs compressed, names lower-case without trailing dots, other text as is.

    Raises ValueError for an A/AAAA row whose rdata is not an address.
    """
    text = rdata.strip()
    if rrtype in ("A", "AAAA"):
        return ipaddress.ip_address(text).compressed
    if rrtype in _NAME_RDATA_TYPES:
        return " ".join(normalise_name(token) for token in text.split())
    return text


def epoch_to_utc(value: object, *, millis: bool = False) -> datetime | None:
    """An epoch timestamp (int, float or numeric string; ISO 8601 text accepted) as aware UTC.

    None and "" mean unknown; anything else unreadable raises ValueError.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    if millis:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp out of range: {number!r}") from exc


def make_record(
    rrname: str,
    rrtype: str,
    rdata: str,
    first_seen: datetime | None,
    last_seen: datetime | None,
    source: str,
) -> PassiveDnsRecord:
    """A normalised record; raises ValueError when the row cannot be one."""
    rtype = rrtype.strip().upper()
    name = normalise_name(rrname)
    if not name or not rtype:
        raise ValueError("empty rrname or rrtype")
    value = normalise_rdata(rtype, rdata)
    if not value:
        raise ValueError("empty rdata")
    return PassiveDnsRecord(name, rtype, value, first_seen, last_seen, source)


def indicator_path(indicator: str) -> str:
    """The indicator as one URL path segment (a '/' can never climb out of the base URL)."""
    return quote(indicator.strip(), safe=":")
