"""The datasets the settings enable: one `BUILDERS` line per dataset, in the order of the
descriptors (bot/monitoring/datasets/model.py), each building its dataset from the shared
`DatasetSources`. Adding a dataset: its descriptor, its module and one line here
(docs/contributing.md, "Add a dataset")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypedDict, TypeVar

from bot.alerts.pipeline import AlertPolicy
from bot.config import Settings
from bot.monitoring.datasets.base import Dataset, PassiveDnsSource
from bot.monitoring.datasets.certificates import CertificatesDataset
from bot.monitoring.datasets.dns_caa import DnsCaaDataset
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.model import (
    CERTIFICATES_DATASET,
    DNS_CAA,
    DNS_RECORDS,
    ORIGIN_ASN_FIELD,
    RESOLUTIONS,
    SERVICES_DATASET,
    SUBDOMAINS,
    WHOIS,
    DatasetDescriptor,
)
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.datasets.services import ServicesDataset
from bot.monitoring.datasets.subdomains import SubdomainsDataset
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.dns import DnsAnswer, DnsClient
from bot.monitoring.sources.asn import CachedOrigin, CymruAsnLookup
from bot.monitoring.sources.circl import CirclPassiveDns
from bot.monitoring.sources.crtsh import CrtShClient
from bot.monitoring.sources.http import RequestGate
from bot.monitoring.sources.internetdb import InternetDbClient
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.monitoring.sources.rdap import RdapClient
from bot.monitoring.sources.rdap_domains import RdapDomainClient
from bot.monitoring.sources.tls_probe import TlsCertificateProbe
from bot.monitoring.sources.virustotal import VirusTotalPassiveDns
from bot.monitoring.sources.whois import WhoisClient


class _Timeout(TypedDict, total=False):
    timeout: float


class _Closable(Protocol):
    async def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


@dataclass
class DatasetRegistry:
    """The enabled datasets, and the source clients to close at shutdown."""

    datasets: list[Dataset]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


class DatasetSources:
    """What the dataset builders share: the settings, the DNS client, the request gate,
    and the source clients built on first use (one crt.sh client for two datasets), each
    closed with the registry."""

    def __init__(
        self, settings: Settings, dns: DnsClient, gate: RequestGate | None, needs: frozenset[str]
    ) -> None:
        self.settings = settings
        self.dns = dns
        self.gate = gate
        # Fields a policy stage reads (AlertPolicy.needs), collected only when asked for.
        self.needs = needs
        # WATCHPOST_SOURCE_TIMEOUT overrides every source's own timeout (one request each).
        self.timeout = (
            _Timeout() if settings.source_timeout is None else _Timeout(timeout=settings.source_timeout)
        )
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self._crtsh: CrtShClient | None = None
        self._crtsh_built = False
        self._cymru: CymruAsnLookup | None = None

    def on(self, source: str, url: str | None) -> bool:
        """A source whose URL is empty, or whose quota is 0, is off."""
        return bool(url) and self.settings.source_enabled(source)

    def closing(self, client: _C) -> _C:
        self.closers.append(client.close)
        return client

    def cymru(self) -> CymruAsnLookup:
        """One Team Cymru lookup (over DNS) for every dataset that asks."""
        if self._cymru is None:
            dns = self.dns

            async def txt(name: str) -> DnsAnswer:
                return await dns.query(name, "TXT")

            self._cymru = CymruAsnLookup(txt, gate=self.gate)
        return self._cymru

    def crtsh(self) -> CrtShClient | None:
        if not self._crtsh_built:
            self._crtsh_built = True
            if self.on("crtsh", self.settings.crtsh_url):
                # One crt.sh answer serves both of a check's datasets; kept for less than a
                # check interval, so the next check (a failure's retry included) asks again.
                ttl = min(60.0, self.settings.check_interval / 2)
                url = self.settings.crtsh_url
                self._crtsh = self.closing(CrtShClient(url, cache_ttl=ttl, gate=self.gate, **self.timeout))
        return self._crtsh


def _resolutions(sources: DatasetSources) -> Dataset:
    s, gate, timeout = sources.settings, sources.gate, sources.timeout
    passive: list[PassiveDnsSource] = []
    if sources.on("mnemonic", s.mnemonic_url):
        passive.append(
            sources.closing(MnemonicPassiveDns(s.mnemonic_url, s.mnemonic_key, gate=gate, **timeout))
        )
    if sources.on("circl", s.circl_url):
        circl = CirclPassiveDns(s.circl_url, s.circl_user, s.circl_password, gate=gate, **timeout)
        passive.append(sources.closing(circl))
    if s.virustotal_key and sources.on("virustotal", s.virustotal_url):
        passive.append(
            sources.closing(VirusTotalPassiveDns(s.virustotal_url, s.virustotal_key, gate=gate, **timeout))
        )
    # A policy stage reading origin ASNs (same-ASN, CDN churn) has a domain's addresses carry them.
    wanted = ORIGIN_ASN_FIELD in sources.needs
    origin_asn = CachedOrigin(sources.cymru().origin) if wanted else None
    return ResolutionsDataset(sources.dns, passive, origin_asn=origin_asn)


def _whois(sources: DatasetSources) -> Dataset:
    s, gate, timeout = sources.settings, sources.gate, sources.timeout
    rdap = (
        sources.closing(RdapClient(s.rdap_url, gate=gate, **timeout))
        if sources.on("rdap", s.rdap_url)
        else None
    )
    # Domains: RDAP where IANA's bootstrap names a service, WHOIS elsewhere.
    rdap_domains = None
    if s.rdap_bootstrap_url and s.whois_server is None:
        rdap_domains = sources.closing(RdapDomainClient(s.rdap_bootstrap_url, gate=gate, **timeout))
    whois = WhoisClient(s.whois_server, gate=gate, **timeout)
    return WhoisDataset(whois, rdap, sources.cymru(), rdap_domains=rdap_domains)


def _certificates(sources: DatasetSources) -> Dataset | None:
    crtsh = sources.crtsh()
    probe = TlsCertificateProbe(**sources.timeout) if sources.settings.active_probes else None
    return CertificatesDataset(crtsh, probe) if crtsh is not None or probe is not None else None


def _subdomains(sources: DatasetSources) -> Dataset | None:
    crtsh = sources.crtsh()
    return SubdomainsDataset(crtsh) if crtsh is not None else None


def _services(sources: DatasetSources) -> Dataset | None:
    s = sources.settings
    if not sources.on("internetdb", s.internetdb_url):
        return None
    return ServicesDataset(
        sources.closing(InternetDbClient(s.internetdb_url, gate=sources.gate, **sources.timeout))
    )


# One line per dataset, in alert order (the order of bot/monitoring/datasets/model.py's DESCRIPTORS):
# its descriptor and how to build it from the settings (None: no source left, not built).
BUILDERS: tuple[tuple[DatasetDescriptor, Callable[[DatasetSources], Dataset | None]], ...] = (
    (RESOLUTIONS, _resolutions),
    (DNS_RECORDS, lambda sources: DnsRecordsDataset(sources.dns)),
    (WHOIS, _whois),
    (CERTIFICATES_DATASET, _certificates),
    (SUBDOMAINS, _subdomains),
    (SERVICES_DATASET, _services),
    (DNS_CAA, lambda sources: DnsCaaDataset(sources.dns)),
)


def build_datasets(
    settings: Settings,
    dns: DnsClient,
    *,
    gate: RequestGate | None = None,
    needs: frozenset[str] | None = None,
) -> DatasetRegistry:
    """The datasets the operator's settings enable, in alert order. A source whose URL
    is empty, or whose quota is 0, is off; a dataset with no source left is not built at
    all. Every HTTP request passes `gate` (quotas shared by every process, health).
    `needs`: the fields the alert policy's stages read (AlertPolicy.needs; by default,
    those of the policy the settings build). No source
    reads other subjects' facts: a subject's facts are shared by every channel monitoring
    it, so what other channels monitor stays behind their walls (bot/core/walls.py)."""
    if needs is None:
        needs = AlertPolicy.from_settings(summarise_same_asn=settings.summarise_same_asn).needs
    sources = DatasetSources(settings, dns, gate, needs)
    datasets: list[Dataset] = []
    for descriptor, build in BUILDERS:
        dataset = build(sources)
        if dataset is not None:
            if dataset.name != descriptor.name:
                raise AssertionError(f"{descriptor.name}'s builder built {dataset.name}")
            datasets.append(dataset)
    return DatasetRegistry(datasets, sources.closers)
