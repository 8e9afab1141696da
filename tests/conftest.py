"""Shared fixtures. Fakes live in tests/fakes/ and are loaded as pytest plugins."""

pytest_plugins: list[str] = [
    "tests.fakes.dns_server",
    "tests.fakes.whois_server",
    "tests.fakes.http_sources",
    "tests.fakes.databases",
    "tests.fakes.transport",
    "tests.fakes.smtp_server",
    "tests.fakes.slack_api",
    "tests.faults.figures",
    "tests.fakes.api",
    "tests.fakes.webhook_receiver",
    "tests.fakes.misp_receiver",
    "tests.fakes.thehive",
    "tests.fakes.ct_log",
    "tests.fakes.certstream",
]
