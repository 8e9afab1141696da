"""Content negotiation of the alerts (bot/surfaces/api/app.py `wants_stix`): a STIX 2.1 bundle only
when `Accept` asks for one above JSON; JSON for everything else, never a 406."""

from __future__ import annotations

import pytest

from bot.surfaces.api.app import wants_stix


@pytest.mark.parametrize(
    ("accept", "stix"),
    [
        ("", False),
        ("*/*", False),
        ("application/*", False),
        ("application/json", False),
        ("text/html, application/xhtml+xml", False),
        ("application/stix+json;version=2.1", True),
        ("application/stix+json; version=2.1", True),
        ('Application/STIX+JSON; Version="2.1"', True),
        ("application/stix+json", True),  # no version: the one spoken, 2.1
        ("application/taxii+json;version=2.1, application/stix+json;version=2.1", True),
        ("application/stix+json;version=2.1, */*;q=0.1", True),
        ("application/stix+json;version=2.0", False),
        ("application/stix+json;version=2.1;q=0", False),
        ("application/stix+json;version=2.1;q=nope", False),
        ("application/stix+json;version=2.1, application/json", False),  # a tie: the default
        ("application/stix+json;version=2.1;q=0.5, application/json", False),
        ("application/json;q=0.5, application/stix+json;version=2.1", True),
    ],
)
def test_accept_wants_stix(accept: str, stix: bool) -> None:
    assert wants_stix(accept) is stix
