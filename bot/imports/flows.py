"""Monitors from where indicators already live: a MISP event read from the team's MISP
(`/monitor misp <event>`), or a MISP event, STIX 2.1 bundle or list given to the API
(`POST /api/v1/monitors/import`). One use case for every surface: read the document
(bot/imports/model.py), leave out what MISP's warning lists name, and add the rest to
the channel in one transaction, tagged with where they came from, or nothing at all
when an item cannot be read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.core.errors import SourceError, UserInputError
from bot.core.indicators import Indicator
from bot.core.observations import IndicatorKind
from bot.core.results import Caller, CommandResult
from bot.imports.messages import build_import_refused_message, build_imported_message
from bot.imports.model import IndicatorImport, read_document, read_misp_event, screen
from bot.imports.warninglists import WarningLists, warning_lists
from bot.monitoring.sources.misp import event_reference
from bot.storage.views import AddedMonitor

MAX_IMPORTED = 1000  # monitors one import may add: the API's bulk limit

log = logging.getLogger(__name__)

AddMonitors = Callable[..., Awaitable[list[AddedMonitor]]]

NOT_CONFIGURED = (
    "MISP is not configured on this Watchpost: the operator sets `WATCHPOST_MISP_URL` (the MISP's address) "
    "and `WATCHPOST_MISP_KEY` (an API key of a MISP user who may read the event), and "
    "`WATCHPOST_MISP_VERIFY_TLS=off` only for a test MISP without a valid certificate. Nothing was changed."
)


class MispNotConfigured(UserInputError):
    """`/monitor misp` on a Watchpost without WATCHPOST_MISP_URL and WATCHPOST_MISP_KEY."""


class MispUnavailable(UserInputError):
    """MISP did not give the event: unreachable, refused the key, no such event."""


class MispEvents(Protocol):
    """The team's MISP, as far as imports need it (bot/monitoring/sources/misp.py)."""

    host: str

    async def event(self, reference: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ImportOutcome:
    """A document read and, unless it had errors, its indicators added."""

    imported: IndicatorImport
    added: tuple[AddedMonitor, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.imported.errors)


class ImportFlows:
    def __init__(
        self,
        add_monitors: AddMonitors,
        *,
        misp: MispEvents | None = None,
        lists: Callable[[], WarningLists] = warning_lists,
    ) -> None:
        self._add_monitors = add_monitors
        self.misp = misp
        # Compiled on first use, in a thread: about 1.3 s, once per process.
        self._lists = lists

    async def misp_event(self, event: str, caller: Caller, *, all_attributes: bool = False) -> CommandResult:
        """`/monitor misp <event> [all]`: the reply names what is monitored and what was left out."""
        outcome = await self.import_misp_event(event, caller, all_attributes=all_attributes)
        if outcome.refused:
            return CommandResult(build_import_refused_message(outcome.imported))
        again = "" if all_attributes else f"/monitor misp {event_reference(event)} all"
        added = [(a.indicator, a.new_for_channel) for a in outcome.added]
        return CommandResult(build_imported_message(outcome.imported, added, again=again))

    async def import_misp_event(
        self, event: str, caller: Caller, *, all_attributes: bool = False
    ) -> ImportOutcome:
        """Read the event from the configured MISP and import it. UserInputError when MISP is
        not configured or did not give the event (saying why), nothing changed."""
        reference = event_reference(event)
        if self.misp is None:
            raise MispNotConfigured(NOT_CONFIGURED)
        try:
            document = await self.misp.event(reference)
        except SourceError as exc:
            raise MispUnavailable(
                f"Could not read MISP event `{reference}`: {exc.message}. Nothing was changed."
            ) from None
        imported = read_misp_event(document, all_attributes=all_attributes)
        log.info(
            "read MISP event %s from %s for %s/%s: %d values",
            reference,
            self.misp.host,
            caller.team_id,
            caller.channel_id,
            len(imported.items),
        )
        return await self.store(imported, caller)

    async def import_document(
        self, document: Any, caller: Caller, *, all_attributes: bool = False
    ) -> ImportOutcome:
        """A MISP event, STIX bundle or list given as JSON (the API)."""
        return await self.store(read_document(document, all_attributes=all_attributes), caller)

    async def store(self, imported: IndicatorImport, caller: Caller) -> ImportOutcome:
        """Screen against the warning lists and add what is left, all or nothing: with any
        error nothing is added. The new monitors' baselines come with the next tick."""
        imported = await self.screened(imported)
        if imported.errors:
            return ImportOutcome(imported)
        indicators = imported.indicators
        if len(indicators) > MAX_IMPORTED:
            raise UserInputError(
                f"{imported.title} names {len(indicators):,} indicators to monitor, and one import adds at "
                f"most {MAX_IMPORTED:,}. Nothing was changed."
            )
        if not indicators:
            return ImportOutcome(imported)
        tags = (imported.tag,) if imported.tag else ()
        added = await self._add_monitors(indicators, caller, tags=tags, baseline_by_scheduler=True)
        log.info(
            "imported %d monitors (%d new) from %s into %s/%s, %d left out",
            len(added),
            sum(a.new_for_channel for a in added),
            imported.source.value,
            caller.team_id,
            caller.channel_id,
            len(imported.left_out),
        )
        return ImportOutcome(imported, tuple(added))

    async def screened(self, imported: IndicatorImport) -> IndicatorImport:
        """`imported` with what MISP's warning lists name left out."""
        if not imported.indicators:
            return imported

        def screen_here() -> IndicatorImport:
            lists = self._lists()
            return screen(imported, lambda indicator: _hits(lists, indicator))

        # In a thread: the first call compiles the lists; a thousand lookups take a while too.
        return await asyncio.to_thread(screen_here)


def _hits(lists: WarningLists, indicator: Indicator) -> Sequence[str]:
    if indicator.kind is IndicatorKind.IP:
        return lists.address_hits(indicator.value)
    return lists.domain_hits(indicator.value)
