"""Alerts as STIX 2.1 bundles, for the API (`Accept: application/stix+json;version=2.1`) and
webhooks set to `WATCHPOST_WEBHOOK_FORMAT=stix`. Pure: records in, dicts out, built with the
OASIS `stix2` library.

One alert becomes:

- the Watchpost `identity` (every object's `created_by_ref`, and where the sighting was made);
- an `indicator` of the monitored value (`[domain-name:value = '…']`, `[ipv4-addr:value = '…']`
  or `[ipv6-addr:value = '…']`) and that value's SCO;
- one SCO per new value that has a STIX observable (see `_SCO_OF_FIELD`): addresses, names,
  autonomous systems, certificates, registrant emails, software (CPEs), open ports as
  `network-traffic` to the monitored address;
- `relationship`s between the monitored value and the new ones: `resolves-to` (a domain's
  A/AAAA/CNAME, live or passive; the names passive DNS saw resolving to a monitored IP),
  `belongs-to` (a monitored IP's origin AS), `related-to` for the other names and observables.
  SROs rather than the SCOs' embedded `resolves_to_refs`: an SCO's id is its value (UUIDv5),
  so the same domain-name would carry different refs in different alerts under one id;
- an `observed-data` wrapping those SCOs and SROs, with every change of the alert (added,
  removed and changed, with the SCO it became when it became one) in the `changes` of the
  Watchpost `extension-definition` (STIX 2.1's way for custom properties);
- a `sighting` of the indicator (`observed_data_refs` the observed-data, `where_sighted_refs`
  the Watchpost identity);
- a `note` on the indicator listing, in words, the changes with no SCO (a removed value, a
  registrar, a TXT record, a date...), for receivers that drop custom properties.

Ids are deterministic, so the same alert gives the same bundle (receivers deduplicate by id):
SCOs by the spec's UUIDv5 of their ID contributing properties (the library computes them);
SDOs and SROs from the alert's check (batch) id and its datasets (`alert_seed`), hashed into
a version-4 UUID (the validator wants v4 there, and nothing in a v4 UUID says the random bits
may not come from a hash)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stix2

from bot.alerts.store.alerts import AlertRecord
from bot.core.observations import Change, ChangeKind, IndicatorKind

MEDIA_TYPE = "application/stix+json;version=2.1"
IDENTITY_NAME = "Watchpost"
# The identity has one version, the same in every bundle: its time is fixed.
_IDENTITY_CREATED = datetime(2026, 1, 1, tzinfo=UTC)

_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_ASN = re.compile(r"(?:AS)?(\d{1,10})", re.IGNORECASE)
# bot/monitoring/datasets/certificates.py `certificate_fact_value`.
_CT_CERTIFICATE = re.compile(
    r"(?P<issuer>.*) serial (?P<serial>[0-9A-Fa-f:]+) \((?P<start>[0-9-]+|\?)\.\.(?P<end>[0-9-]+|\?)\)"
    r" names: (?P<names>.*)"
)


def stable_id(kind: str, *parts: str) -> str:
    """`kind--<uuid>`: a version-4 UUID whose bits are a hash of `parts`."""
    digest = hashlib.sha256("\x1f".join((kind, *parts)).encode()).digest()
    return f"{kind}--{uuid.UUID(bytes=digest[:16], version=4)}"


IDENTITY_ID = stable_id("identity", "watchpost")
EXTENSION_ID = stable_id("extension-definition", "watchpost-alert")
_EXTENSION_SCHEMA = (
    "Watchpost alert, a property-extension. On observed-data: `changes`, every change of the alert, "
    "each {dataset, change (added, removed or changed), field, old_value?, new_value?, source?, "
    "first_seen?, last_seen?, object_ref? (the SCO the new value became)}. On sighting: `alert_id` "
    "(integer, the alert's id in Watchpost's API) and `check_id` (the check that found the changes)."
)


def watchpost_identity() -> stix2.Identity:
    return stix2.Identity(
        id=IDENTITY_ID,
        name=IDENTITY_NAME,
        identity_class="system",
        description="Watchpost, a Slack bot that monitors indicators and alerts when they change.",
        created=_IDENTITY_CREATED,
        modified=_IDENTITY_CREATED,
    )


def watchpost_extension() -> stix2.ExtensionDefinition:
    """The extension-definition of the Watchpost properties on observed-data and sightings
    (STIX 2.1's way for custom properties)."""
    return stix2.ExtensionDefinition(
        id=EXTENSION_ID,
        name="Watchpost alert",
        description="What a Watchpost alert says beyond STIX's own properties.",
        schema=_EXTENSION_SCHEMA,
        version="1.0.0",
        extension_types=["property-extension"],
        created_by_ref=IDENTITY_ID,
        created=_IDENTITY_CREATED,
        modified=_IDENTITY_CREATED,
    )


def _extension(**properties: Any) -> dict[str, Any]:
    return {EXTENSION_ID: {"extension_type": "property-extension", **properties}}


def alert_seed(alert: AlertRecord) -> str:
    """What an alert's SDO and SRO ids are derived from: its check, and the datasets it holds
    (a channel's webhook leaves out the datasets the channel muted: other content, other ids;
    the same id never names two different objects)."""
    return "\x1f".join((alert.batch_id, *alert.datasets))


def alert_bundle(alert: AlertRecord) -> dict[str, Any]:
    """One alert as a STIX 2.1 bundle (a JSON-ready dict)."""
    return _bundle(stable_id("bundle", alert_seed(alert)), alert_objects(alert))


def alerts_bundle(alerts: Sequence[AlertRecord]) -> dict[str, Any]:
    """Every alert's objects in one bundle, each id once (the first alert's, which is the
    same object: shared objects are the identity and SCOs, whose content is their id)."""
    objects: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        for obj in alert_objects(alert):
            objects.setdefault(obj["id"], obj)
    return _bundle(stable_id("bundle", *(alert_seed(a) for a in alerts)), list(objects.values()))


def _bundle(bundle_id: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    # Built by hand: the library would omit an empty `objects`, and the dicts are final.
    bundle: dict[str, Any] = {"type": "bundle", "id": bundle_id}
    if objects:
        bundle["objects"] = objects
    return bundle


def alert_objects(alert: AlertRecord) -> list[dict[str, Any]]:
    """The STIX objects of one alert, as JSON-ready dicts, in a stable order."""
    graph = _Graph(alert)
    for change in alert.changes:
        graph.add(change)
    return [json.loads(obj.serialize()) for obj in graph.objects()]


# --- the values that have an SCO ----------------------------------------------------------


def _domain(value: str) -> str | None:
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return name


def _address_sco(value: str) -> stix2.IPv4Address | stix2.IPv6Address | None:
    """An address, or a network (RDAP's CIDRs): ipv4-addr and ipv6-addr take both."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    single = network.num_addresses == 1 and "/" not in value
    text = str(network.network_address) if single else str(network)
    return stix2.IPv4Address(value=text) if network.version == 4 else stix2.IPv6Address(value=text)


def _domain_sco(value: str) -> stix2.DomainName | None:
    name = _domain(value)
    return None if name is None else stix2.DomainName(value=name)


def _mx_sco(value: str) -> stix2.DomainName | None:
    """`<preference> <exchange>`: the exchange."""
    return _domain_sco(value.split()[-1]) if value.split() else None


def _asn_sco(value: str) -> stix2.AutonomousSystem | None:
    match = _ASN.fullmatch(value.strip())
    return None if match is None else stix2.AutonomousSystem(number=int(match.group(1)))


def _email_sco(value: str) -> stix2.EmailAddress | None:
    return stix2.EmailAddress(value=value.strip()) if _EMAIL.fullmatch(value.strip()) else None


def _ct_certificate_sco(value: str) -> stix2.X509Certificate | None:
    """A certificate from the CT logs, as the certificates dataset writes it."""
    match = _CT_CERTIFICATE.fullmatch(value)
    if match is None:
        return None
    names = [name.strip() for name in match["names"].split(",") if name.strip()]
    extensions = {"subject_alternative_name": ", ".join(f"DNS:{n}" for n in names)} if names else None
    return stix2.X509Certificate(
        issuer=match["issuer"], serial_number=match["serial"].lower(), x509_v3_extensions=extensions
    )


def _software_sco(value: str) -> stix2.Software | None:
    """The software a CPE names: a 2.2 URI (`cpe:/` then part, vendor, product, version), kept
    out of `cpe` (which STIX wants in 2.3 form), or a 2.3 string, kept."""
    text = value.strip()
    if text.startswith("cpe:2.3:"):
        parts, cpe = text.split(":")[3:6], text
    elif text.startswith("cpe:/"):
        parts, cpe = text[len("cpe:/") :].split(":")[1:4], None
    else:
        return None
    vendor, product, version = [*parts, "", "", ""][:3]
    if product in ("", "*", "-"):
        return None
    return stix2.Software(
        name=product,
        vendor=vendor if vendor not in ("", "*", "-") else None,
        version=version if version not in ("", "*", "-") else None,
        cpe=cpe,
    )


Sco = Any  # a stix2 observable
_SCO_OF_FIELD: dict[str, Callable[[str], Sco | None]] = {
    **dict.fromkeys(("A", "AAAA", "pdns:A", "pdns:AAAA", "cidr"), _address_sco),
    **dict.fromkeys(
        ("CNAME", "pdns:CNAME", "PTR", "NS", "domain", "subdomain", "hostname", "name_server", "tls_san"),
        _domain_sco,
    ),
    "MX": _mx_sco,
    "asn": _asn_sco,
    "registrant_email": _email_sco,
    "certificate": _ct_certificate_sco,
    "cpe": _software_sco,
}
# A domain's forward resolutions; for an IP, the names passive DNS saw resolving to it.
_RESOLVES_TO = frozenset({"A", "AAAA", "CNAME", "pdns:A", "pdns:AAAA", "pdns:CNAME"})
# Read into the object of another field of the same alert when it has one (field: other field).
_FOLDED = {"tls_subject": "tls_fingerprint", "tls_issuer": "tls_fingerprint", "as_name": "asn"}


# --- one alert's graph ------------------------------------------------------------------------


@dataclass
class _Graph:
    alert: AlertRecord
    scos: dict[str, Sco] = field(default_factory=dict)
    relationships: dict[str, stix2.Relationship] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[Change] = field(default_factory=list)
    built: set[str] = field(default_factory=set)  # fields whose new value became an SCO

    def __post_init__(self) -> None:
        self.at = self.alert.detected_at.astimezone(UTC)
        self.indicator_sco = _indicator_sco(self.alert)
        self.scos[self.indicator_sco.id] = self.indicator_sco
        self.new_values = {c.field: c.new_value for c in self.alert.changes if c.new_value is not None}

    def add(self, change: Change) -> None:
        sco = None if change.kind is ChangeKind.REMOVED else self._sco(change)
        entry = _change_entry(change)
        if sco is not None:
            self.scos.setdefault(sco.id, sco)
            entry["object_ref"] = sco.id
            self._relate(change, sco)
            self.built.add(change.field)
        else:
            self.unmapped.append(change)
        self.changes.append(entry)

    def _sco(self, change: Change) -> Sco | None:
        value = change.new_value or ""
        if change.field == "tls_fingerprint":
            return _served_certificate(value, self.new_values)
        if change.field == "port":
            return self._open_port(value)
        build = _SCO_OF_FIELD.get(change.field)
        sco = None if build is None else build(value)
        if isinstance(sco, stix2.AutonomousSystem) and "as_name" in self.new_values:
            sco = stix2.AutonomousSystem(number=sco.number, name=self.new_values["as_name"])
        return sco

    def _open_port(self, value: str) -> stix2.NetworkTraffic | None:
        """An open port of a monitored IP, as traffic to it (InternetDB does not say whether
        TCP or UDP: the protocols name the IP version only)."""
        if not value.isdigit() or not 0 <= int(value) <= 65535 or self.alert.kind is not IndicatorKind.IP:
            return None
        ip = self.indicator_sco
        protocol = "ipv4" if ip.type == "ipv4-addr" else "ipv6"
        return stix2.NetworkTraffic(dst_ref=ip.id, dst_port=int(value), protocols=[protocol])

    def _relate(self, change: Change, sco: Sco) -> None:
        monitored = self.indicator_sco
        if sco.id == monitored.id or sco.type == "network-traffic":
            return  # the traffic names the address itself (dst_ref)
        if change.field in _RESOLVES_TO and monitored.type == "domain-name":
            self._relationship("resolves-to", monitored.id, sco.id, change)
        elif change.field == "domain" and sco.type == "domain-name":
            self._relationship("resolves-to", sco.id, monitored.id, change)
        elif change.field == "asn" and monitored.type != "domain-name":
            self._relationship("belongs-to", monitored.id, sco.id, change)
        else:
            self._relationship("related-to", monitored.id, sco.id, change)

    def _relationship(self, kind: str, source: str, target: str, change: Change) -> None:
        rel_id = stable_id("relationship", alert_seed(self.alert), kind, source, target)
        if rel_id in self.relationships:
            return
        first_seen = change.first_seen.astimezone(UTC) if change.first_seen else None
        self.relationships[rel_id] = stix2.Relationship(
            id=rel_id,
            relationship_type=kind,
            source_ref=source,
            target_ref=target,
            description=f"{change.dataset} {change.field}, seen by {change.source}"
            if change.source
            else f"{change.dataset} {change.field}",
            start_time=first_seen if first_seen is not None and first_seen < self.at else None,
            created_by_ref=IDENTITY_ID,
            created=self.at,
            modified=self.at,
        )

    def objects(self) -> list[Any]:
        """The identity, the indicator, the SCOs and SROs, the observed-data, the sighting
        and the note, in that order."""
        alert = self.alert
        indicator = _indicator(alert, self.indicator_sco, self.at)
        observed_data = stix2.ObservedData(
            id=stable_id("observed-data", alert_seed(alert)),
            first_observed=self.at,
            last_observed=self.at,
            number_observed=1,
            object_refs=[*self.scos, *self.relationships],
            created_by_ref=IDENTITY_ID,
            created=self.at,
            modified=self.at,
            extensions=_extension(changes=self.changes),
        )
        sighting = stix2.Sighting(
            id=stable_id("sighting", alert_seed(alert)),
            sighting_of_ref=indicator.id,
            observed_data_refs=[observed_data.id],
            where_sighted_refs=[IDENTITY_ID],
            first_seen=self.at,
            last_seen=self.at,
            count=1,
            summary=False,
            description=_summary(alert),
            created_by_ref=IDENTITY_ID,
            created=self.at,
            modified=self.at,
            extensions=_extension(alert_id=alert.id, check_id=alert.batch_id),
        )
        folded = [c for c in self.unmapped if c.new_value and _FOLDED.get(c.field) in self.built]
        unmapped = [c for c in self.unmapped if c not in folded]
        note = _note(alert, unmapped, [indicator.id, observed_data.id], self.at)
        objects: list[Any] = [watchpost_identity(), watchpost_extension(), indicator, *self.scos.values()]
        objects += [*self.relationships.values(), observed_data, sighting]
        return objects + ([note] if note is not None else [])


def _indicator_sco(alert: AlertRecord) -> Sco:
    if alert.kind is IndicatorKind.IP:
        sco = _address_sco(alert.indicator)
        if sco is not None:
            return sco
    return stix2.DomainName(value=alert.indicator.strip().rstrip(".").lower())


def _indicator(alert: AlertRecord, sco: Sco, at: datetime) -> stix2.Indicator:
    value = sco.value.replace("\\", "\\\\").replace("'", "\\'")
    return stix2.Indicator(
        id=stable_id("indicator", alert_seed(alert)),
        name=alert.indicator,
        description=f"Monitored by Watchpost: {_summary(alert)}",
        indicator_types=["unknown"],
        pattern=f"[{sco.type}:value = '{value}']",
        pattern_type="stix",
        pattern_version="2.1",
        valid_from=at,
        created_by_ref=IDENTITY_ID,
        created=at,
        modified=at,
    )


def _served_certificate(fingerprint: str, new_values: dict[str, str]) -> Sco | None:
    """The certificate a monitored IP serves now (the TLS probe), by its SHA-256, with the
    subject and issuer when they changed with it."""
    value = fingerprint.strip().lower().replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        return None
    return stix2.X509Certificate(
        hashes={"SHA-256": value}, subject=new_values.get("tls_subject"), issuer=new_values.get("tls_issuer")
    )


def _change_entry(change: Change) -> dict[str, Any]:
    """A change as the extension's `changes` hold it (no nulls: absent keys)."""
    entry: dict[str, Any] = {"dataset": change.dataset, "change": change.kind.value, "field": change.field}
    for key, value in (
        ("old_value", change.old_value),
        ("new_value", change.new_value),
        ("source", change.source or None),
        ("first_seen", _timestamp(change.first_seen)),
        ("last_seen", _timestamp(change.last_seen)),
    ):
        if value is not None:
            entry[key] = value
    return entry


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _summary(alert: AlertRecord) -> str:
    count = len(alert.changes)
    datasets = ", ".join(alert.datasets) or "no dataset"
    return f"{count} change{'' if count == 1 else 's'} of {alert.indicator} ({datasets}), alert {alert.id}"


def _note(alert: AlertRecord, changes: Iterable[Change], refs: list[str], at: datetime) -> stix2.Note | None:
    lines = [_change_line(change) for change in changes]
    if not lines:
        return None
    return stix2.Note(
        id=stable_id("note", alert_seed(alert)),
        abstract=f"Changes of {alert.indicator} with no STIX observable",
        content="\n".join(lines),
        authors=[IDENTITY_NAME],
        object_refs=refs,
        created_by_ref=IDENTITY_ID,
        created=at,
        modified=at,
    )


def _change_line(change: Change) -> str:
    where = f"{change.dataset} {change.field}"
    source = f" (source: {change.source})" if change.source else ""
    if change.kind is ChangeKind.ADDED:
        return f"{where} added: {change.new_value}{source}"
    if change.kind is ChangeKind.REMOVED:
        return f"{where} removed: {change.old_value}{source}"
    return f"{where} changed: {change.old_value} → {change.new_value}{source}"
