"""One module per dataset, each behind the `Dataset` protocol (base.py); registry.py builds
them from the settings. Adding a dataset touches its module and the registry only."""

# The datasets' names, in the order replies list them.
DATASET_NAMES = ("resolutions", "dns_records", "whois", "certificates", "subdomains", "services")
