"""The daily digest: build (pure: changes -> summary and CSVs), render (pure: Block Kit,
email), service (claims, posting)."""
