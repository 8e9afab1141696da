"""The REST API at /api/v1: monitors, alerts and indicators as JSON, for SOARs and scripts.

app.py mounts it on the aiohttp server (auth, rate limit, errors, handlers); payloads.py
turns requests into values and values into JSON (pure); openapi.py is the document that
describes both, served at /api/v1/openapi.json and checked against the implementation
by the tests."""
