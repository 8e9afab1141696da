"""Certificate Transparency: reading logs directly (RFC 6962 and Static CT API logs)."""
