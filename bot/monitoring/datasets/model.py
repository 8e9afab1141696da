"""What each dataset is, declared once (pure values): its name, label, fields, which
indicators it applies to, where the investigation shows it, and the quota-counted sources
feeding it. Every reader derives its lists from `DESCRIPTORS`: the grammar's and the API's
dataset names, the investigation's sections, the quota tables, the help text. Adding a
dataset is its descriptor here, its module in bot/monitoring/datasets/ and one line in
that package's registry (docs/contributing.md, "Add a dataset")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.observations import IndicatorKind

# The one name of the origin-ASN field: `resolutions` writes it (when a policy stage needs
# it), the same-ASN and CDN stages read it.
ORIGIN_ASN_FIELD = "asn"

DOMAIN = frozenset({IndicatorKind.DOMAIN})
IP = frozenset({IndicatorKind.IP})
BOTH = frozenset({IndicatorKind.DOMAIN, IndicatorKind.IP})


@dataclass(frozen=True, order=True)
class Section:
    """A section of the investigation, shown in `order` (lowest first)."""

    order: int
    title: str


LIVE_DNS = Section(10, "Live DNS")
WHOIS_RDAP = Section(20, "WHOIS / RDAP")
PASSIVE_DNS = Section(30, "Passive DNS history")
CERTIFICATES = Section(40, "Certificates")
SERVICES = Section(50, "Services")


@dataclass(frozen=True)
class DatasetDescriptor:
    """One dataset, as every reader sees it. `section` shows its facts in the investigation,
    except the fields `elsewhere` names (an exact field, or a prefix ending in ":") which go
    to their own section. `sources`: the quota-counted sources that feed it; the last
    three say it in words for the docs."""

    name: str
    label: str
    kinds: frozenset[IndicatorKind]
    fields: tuple[str, ...]
    section: Section
    elsewhere: Mapping[str, Section] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    # The row of the dataset table in docs/datasets.md (scripts/docs_reference.py writes it):
    # what it holds for a domain and for an IP ("–": not applicable), and where it reads it.
    for_domain: str = "–"
    for_ip: str = "–"
    read_from: str = ""

    def section_of(self, field_name: str) -> Section:
        for key, section in self.elsewhere.items():
            if field_name == key or (key.endswith(":") and field_name.startswith(key)):
                return section
        return self.section


RESOLUTIONS = DatasetDescriptor(
    "resolutions",
    "resolutions (live and passive DNS)",
    BOTH,
    ("A", "AAAA", "CNAME", "status", "pdns:A", "pdns:AAAA", "pdns:CNAME", ORIGIN_ASN_FIELD, "PTR", "domain"),
    LIVE_DNS,
    elsewhere={"pdns:": PASSIVE_DNS, "domain": PASSIVE_DNS},
    sources=("mnemonic", "circl", "virustotal"),
    for_domain="live A, AAAA, CNAME, existence (NXDOMAIN); passive DNS history (`pdns:A`, …)",
    for_ip=(
        "PTR; every domain passive DNS saw resolving to it (`domain`; a monitored domain "
        'resolving to it shows, walled, in investigations and the alert\'s "shares" line)'
    ),
    read_from="your resolver; Mnemonic PassiveDNS (optional key); CIRCL pDNS (account); VirusTotal (key)",
)
DNS_RECORDS = DatasetDescriptor(
    "dns_records",
    "DNS records (NS, MX, TXT, SOA)",
    DOMAIN,
    ("NS", "MX", "TXT", "SOA", "status"),
    LIVE_DNS,
    for_domain="NS, MX, TXT, SOA (names, not the serial)",
    read_from="your resolver",
)
DNS_CAA = DatasetDescriptor(
    "dns_caa",
    "CA authorisation (CAA)",
    DOMAIN,
    ("CAA",),
    LIVE_DNS,
    for_domain="CAA: the certificate authorities allowed to issue (its own, else its closest parent's)",
    read_from="your resolver",
)
WHOIS = DatasetDescriptor(
    "whois",
    "registration (WHOIS / RDAP)",
    BOTH,
    # Domains: registration. IPs: the network (RDAP) and its origin AS (Team Cymru).
    (
        "registrar",
        "registrant_org",
        "registrant_email",
        "creation_date",
        "expiration_date",
        "name_server",
        "status",
        "network_name",
        "handle",
        "org",
        "country",
        "cidr",
        "asn",
        "as_name",
    ),
    WHOIS_RDAP,
    sources=("rdap",),
    for_domain=(
        "registrar, registrant org/email, name servers, EPP status, created/expires (asked for "
        "the registered domain: `login.evil.co.uk` → `evil.co.uk`)"
    ),
    for_ip="RDAP network name, handle, CIDR, org, country; origin ASN and AS name (Team Cymru over DNS)",
    read_from=(
        "domains: RDAP (IANA bootstrap → registry → registrar), WHOIS port 43 (IANA → registry "
        "→ registrar) where a TLD has no RDAP; IPs: RDAP (`rdap.org` redirector), your "
        "resolver"
    ),
)
CERTIFICATES_DATASET = DatasetDescriptor(
    "certificates",
    "certificates (CT logs, TLS probe)",
    BOTH,
    ("certificate", "tls_subject", "tls_issuer", "tls_fingerprint", "tls_san"),
    CERTIFICATES,
    sources=("crtsh",),
    for_domain="certificates in CT logs (issuer, serial, validity, names)",
    for_ip="the TLS certificate served on :443 — **only with `WATCHPOST_ACTIVE_PROBES=1`**",
    read_from="crt.sh; the host itself",
)
SUBDOMAINS = DatasetDescriptor(
    "subdomains",
    "subdomains (CT logs)",
    DOMAIN,
    ("subdomain",),
    CERTIFICATES,
    sources=("crtsh",),
    for_domain="names under the domain seen in CT logs",
    read_from="crt.sh",
)
SERVICES_DATASET = DatasetDescriptor(
    "services",
    "services (Shodan InternetDB)",
    IP,
    ("port", "hostname", "cpe", "tag", "vuln"),
    SERVICES,
    sources=("internetdb",),
    for_ip="open ports, hostnames, CPEs, tags, vulns",
    read_from="Shodan InternetDB",
)

# Every dataset, in the order replies and alerts list them (a new one goes last: the
# order users already know stays).
DESCRIPTORS: tuple[DatasetDescriptor, ...] = (
    RESOLUTIONS,
    DNS_RECORDS,
    WHOIS,
    CERTIFICATES_DATASET,
    SUBDOMAINS,
    SERVICES_DATASET,
    DNS_CAA,
)

DATASET_NAMES: tuple[str, ...] = tuple(d.name for d in DESCRIPTORS)
BY_NAME: Mapping[str, DatasetDescriptor] = {d.name: d for d in DESCRIPTORS}


def sections() -> tuple[Section, ...]:
    """Every section some dataset's facts go to, in the order the investigation shows them."""
    found = {d.section for d in DESCRIPTORS} | {s for d in DESCRIPTORS for s in d.elsewhere.values()}
    return tuple(sorted(found))


def source_datasets(source: str) -> tuple[str, ...]:
    """The datasets a quota-counted source feeds, in dataset order."""
    return tuple(d.name for d in DESCRIPTORS if source in d.sources)
