"""Imports: MISP events and STIX 2.1 bundles into monitors (model, warninglists, flows, messages)."""
