"""Triage of each channel's copy of an alert: values (model), SQL (store), the use cases
(flows) and the forms (messages)."""
