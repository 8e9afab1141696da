"""One module per dataset, all behind the Dataset protocol in base.py."""
