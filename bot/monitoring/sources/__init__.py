"""Clients for the external sources the datasets read (HTTP APIs, WHOIS, TLS)."""
