"""Environment for running the real `watchpost` process in tests: every source points at
a loopback fake or is off, so nothing can reach the internet."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.fakes.dns_server import FakeDnsServer

REPO = Path(__file__).resolve().parents[2]
WATCHPOST = [sys.executable, "-m", "bot"]


# The resolver check's canary (bot/monitoring/resolver_check.py), served by the fake.
E2E_CANARY = "canary.watchpost.test"


def offline_env(dns_server: FakeDnsServer, database_url: str, **extra: str) -> dict[str, str]:
    dns_server.set(E2E_CANARY, "A", ["192.0.2.53"])
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "WATCHPOST_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "WATCHPOST_DNS_NAMESERVERS": dns_server.nameserver,
            "WATCHPOST_DNS_TIMEOUT": "1",
            "WATCHPOST_DNS_CANARY": E2E_CANARY,
            # Sources that are not under test are off (an empty URL) or on a closed port.
            "WATCHPOST_MNEMONIC_URL": "",
            "WATCHPOST_CIRCL_URL": "",
            "WATCHPOST_VIRUSTOTAL_URL": "",
            "WATCHPOST_RDAP_URL": "",
            "WATCHPOST_RDAP_BOOTSTRAP_URL": "",
            "WATCHPOST_CRTSH_URL": "",
            "WATCHPOST_INTERNETDB_URL": "",
            "WATCHPOST_CT_LOG_LIST_URL": "",
            "WATCHPOST_WHOIS_SERVER": "127.0.0.1:9",
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env
