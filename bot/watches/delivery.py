"""Lookalike messages: what a finding's alert (or a later certificate, in its thread) says,
built at delivery time with what is known of the domain then (DNS, WHOIS). They are rows
of the one Slack outbox (bot/alerts/store/outbox.py), sent by its worker (delivery/outbox.py)
in order with the channel's alerts, with the same retries and the same look-before-resend.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.core.message import Message
from bot.storage.views import PendingLookalike
from bot.watches.messages import build_lookalike_alert_message, build_lookalike_sighting_message
from bot.watches.model import DomainFacts

log = logging.getLogger(__name__)

LOOKALIKE_EVENT = "watchpost_lookalike"


class FactsLookup(Protocol):
    async def facts(self, domain: str) -> DomainFacts: ...


class LookalikeMessages:
    def __init__(self, facts: FactsLookup | None = None) -> None:
        self.facts = facts

    async def message(self, pending: PendingLookalike) -> Message:
        if pending.sighting is not None:
            return build_lookalike_sighting_message(pending.finding, pending.sighting)
        facts = DomainFacts()
        if self.facts is not None:
            try:
                facts = await self.facts.facts(pending.finding.domain)
            except Exception:
                log.exception("facts of lookalike %s", pending.finding.domain)
        return build_lookalike_alert_message(pending.finding, facts, detected_at=pending.created_at)
