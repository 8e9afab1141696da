"""One module per dataset, all behind the Dataset protocol in base.py. Adding a dataset
means writing its module and adding it to `build_datasets`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypedDict

from bot.config import Settings
from bot.monitoring.datasets.base import Dataset, PassiveDnsSource
from bot.monitoring.datasets.certificates import CertificatesDataset
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
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


@dataclass
class DatasetRegistry:
    """The enabled datasets, and the source clients to close at shutdown."""

    datasets: list[Dataset]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


def build_datasets(
    settings: Settings,
    dns: DnsClient,
    *,
    gate: RequestGate | None = None,
) -> DatasetRegistry:
    """The datasets the operator's settings enable, in alert order. A source whose URL
    is empty, or whose quota is 0, is off; a dataset with no source left is not built at
    all. Every HTTP request passes `gate` (quotas shared by every process, health). No
    source reads other subjects' facts: a subject's facts are shared by every channel
    monitoring it, so what other channels monitor stays behind their walls
    (bot/model/walls.py)."""
    closers: list[Callable[[], Awaitable[None]]] = []
    # WATCHPOST_SOURCE_TIMEOUT overrides every source's own timeout (one request each).
    timeout = _Timeout() if settings.source_timeout is None else _Timeout(timeout=settings.source_timeout)
    on = settings.source_enabled
    passive: list[PassiveDnsSource] = []
    if settings.mnemonic_url and on("mnemonic"):
        mnemonic = MnemonicPassiveDns(settings.mnemonic_url, settings.mnemonic_key, gate=gate, **timeout)
        passive.append(mnemonic)
        closers.append(mnemonic.close)
    if settings.circl_url and on("circl"):
        circl = CirclPassiveDns(
            settings.circl_url, settings.circl_user, settings.circl_password, gate=gate, **timeout
        )
        passive.append(circl)
        closers.append(circl.close)
    if settings.virustotal_url and settings.virustotal_key and on("virustotal"):
        virustotal = VirusTotalPassiveDns(
            settings.virustotal_url, settings.virustotal_key, gate=gate, **timeout
        )
        passive.append(virustotal)
        closers.append(virustotal.close)

    rdap = RdapClient(settings.rdap_url, gate=gate, **timeout) if settings.rdap_url and on("rdap") else None
    if rdap is not None:
        closers.append(rdap.close)
    # Domains: RDAP where IANA's bootstrap names a service, WHOIS elsewhere.
    rdap_domains = None
    if settings.rdap_bootstrap_url and settings.whois_server is None:
        rdap_domains = RdapDomainClient(settings.rdap_bootstrap_url, gate=gate, **timeout)
        closers.append(rdap_domains.close)

    async def txt(name: str) -> DnsAnswer:
        return await dns.query(name, "TXT")

    cymru = CymruAsnLookup(txt, gate=gate)
    # With same-ASN churn summarised, a domain's addresses carry their origin ASNs.
    origin_asn = CachedOrigin(cymru.origin) if settings.summarise_same_asn else None
    datasets: list[Dataset] = [
        ResolutionsDataset(dns, passive, origin_asn=origin_asn),
        DnsRecordsDataset(dns),
        WhoisDataset(
            WhoisClient(settings.whois_server, gate=gate, **timeout), rdap, cymru, rdap_domains=rdap_domains
        ),
    ]
    # One crt.sh answer serves both of a check's datasets; kept for less than a check
    # interval, so the next check (a failure's retry included) asks again.
    crtsh_ttl = min(60.0, settings.check_interval / 2)
    crtsh = (
        CrtShClient(settings.crtsh_url, cache_ttl=crtsh_ttl, gate=gate, **timeout)
        if settings.crtsh_url and on("crtsh")
        else None
    )
    probe = TlsCertificateProbe(**timeout) if settings.active_probes else None
    if crtsh is not None:
        closers.append(crtsh.close)
        datasets.append(SubdomainsDataset(crtsh))
    if crtsh is not None or probe is not None:
        datasets.insert(3, CertificatesDataset(crtsh, probe))
    if settings.internetdb_url and on("internetdb"):
        internetdb = InternetDbClient(settings.internetdb_url, gate=gate, **timeout)
        closers.append(internetdb.close)
        datasets.append(ServicesDataset(internetdb))
    return DatasetRegistry(datasets, closers)
