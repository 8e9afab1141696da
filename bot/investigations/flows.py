"""Read-only views for every surface: an investigation (what each dataset sees of an
indicator now, and which monitored indicators share its infrastructure) and the App Home
(a user's monitors with today's alert summary). Nothing here changes state."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, time, tzinfo

from bot.commands.messages.home import HomeRow, OpenAlertRow, build_home_blocks
from bot.commands.messages.replies import build_error_message
from bot.core.errors import UserInputError
from bot.core.indicators import parse_indicator
from bot.core.limits import MAX_BLOCKS_HOME
from bot.core.message import Block, FileUpload
from bot.core.observations import ADDRESS_AND_NAME_FIELDS
from bot.core.results import CommandResult
from bot.core.walls import Viewer
from bot.investigations.messages.drawing import draw
from bot.investigations.messages.investigation import build_investigation_message
from bot.investigations.messages.timeline import Interval, Mark
from bot.monitoring.messages.health import HealthReport, build_home_health_blocks
from bot.monitoring.requested_checks import CheckRunner
from bot.storage.db import Database
from bot.triage.model import TriageState
from bot.watches.flows import WatchFlows

# Fact fields whose values identify infrastructure: two indicators sharing one of these
# values share infrastructure (an address, a name server, a mail host, a certificate).
SHARED_FIELDS = ADDRESS_AND_NAME_FIELDS - {"subdomain"} | {"registrant_email", "cidr", "tls_fingerprint"}

log = logging.getLogger(__name__)


class Pivots:
    def __init__(
        self,
        db: Database,
        runner: CheckRunner,
        watches: WatchFlows,
        *,
        clock: Callable[[], datetime],
        timezone: tzinfo,
        health: Callable[[], Awaitable[HealthReport]] | None = None,
    ) -> None:
        self.db = db
        # Sources, the resolver and CT, for the App Home (the flows compute it).
        self.health = health
        self.runner = runner
        self.watches = watches
        self.clock = clock
        self.timezone = timezone

    async def investigate(self, text: str, *, team_id: str, channel_id: str = "") -> CommandResult:
        """What every dataset sees of an indicator now (nothing stored), and which
        monitored indicators share its infrastructure — among those the channel may learn
        of (bot/core/walls.py; no channel known: none): a public reply (for the alert's
        thread), or an error for the one who asked."""
        viewer = Viewer(team_id, channel_id, self.db.share_scope)
        try:
            indicator = parse_indicator(text)
            observations = await self.runner.collect(indicator.value, indicator.kind)
            values = [fact.value for o in observations for fact in o.facts if fact.field in SHARED_FIELDS]
            shared = await self.db.run(
                self.db.infrastructure.shared_with,
                viewer=viewer,
                indicator=indicator.value,
                values=values,
                fields=SHARED_FIELDS,
            )
            monitors = await self.db.run(self.db.monitors.list, team_id=team_id)
            monitoring = [
                m.channel_id
                for m in monitors
                if m.indicator == indicator.value and viewer.sees_channel(team_id, m.channel_id)
            ]
        except UserInputError as exc:
            return CommandResult(build_error_message(str(exc)))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("investigation failed (incident %s)", incident)
            apology = f"Sorry, the investigation failed on our side (incident `{incident}`)."
            return CommandResult(build_error_message(apology))
        here = [c for c in monitoring if c == channel_id]
        message = build_investigation_message(
            indicator.value,
            indicator.kind,
            observations,
            shared,
            looked_up_at=self.clock(),
            monitored_in=here,
            monitored_elsewhere=len(monitoring) - len(here),
            # Stored history is pointed to only where the walls let this channel see it.
            history_stored=bool(monitoring),
        )
        files: tuple[FileUpload, ...] = ()
        subject = await self.db.run(self.db.monitors.subject, indicator.value) if monitoring else None
        if subject is not None:  # monitored where this channel may see: its history as a picture
            try:
                files = (await self.timeline_picture(subject.id, indicator.value),)
            except Exception:
                log.exception("timeline of %s not drawn", indicator.value)
        return CommandResult(message, public=True, files=files)

    async def timeline_picture(self, subject_id: int, indicator: str) -> FileUpload:
        """A PNG of the subject's history, drawn in a child process (messages/drawing.py)."""
        intervals = await self.db.run(self.db.history.intervals, subject_id)
        records = await self.db.run(self.db.history.history, subject_id, limit=2000)
        now = self.clock()
        bars = [
            Interval(i.dataset, i.field, i.value, i.first_seen, None if i.open else i.last_seen)
            for i in intervals
        ]
        marks = [
            Mark(r.change.dataset, r.change.field, value, r.change.kind, r.detected_at)
            for r in records
            for value in {r.change.old_value, r.change.new_value} - {None}
            if value is not None
        ]
        png = await draw("render_timeline", indicator, bars, marks, now=now)
        values = len({(i.dataset, i.field, i.value) for i in intervals})
        title = f"{values} value{'s' * (values != 1)}, {len(records)} change{'s' * (len(records) != 1)}"
        safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in indicator)[:80]
        return FileUpload(f"watchpost-timeline-{safe}-{now:%Y%m%d-%H%M}.png", png, title)

    async def home_blocks(
        self, *, team_id: str, user_id: str, channel_ids: Collection[str] | None
    ) -> list[Block]:
        """The App Home of a user: the team's monitors in `channel_ids` (the channels the
        user is in), or, when those are unknown, the monitors the user created."""
        monitors = await self.db.run(self.db.monitors.list, team_id=team_id)
        if channel_ids is None:
            visible = [m for m in monitors if m.created_by == user_id]
        else:
            wanted = set(channel_ids)
            visible = [m for m in monitors if m.channel_id in wanted]
        now = self.clock()
        day_start = datetime.combine(now.astimezone(self.timezone).date(), time(0), self.timezone)
        subject_ids = sorted({m.subject_id for m in visible})
        summaries = await self.db.run(
            self.db.history.summaries, subject_ids, day_start=day_start.astimezone(UTC)
        )
        by_indicator: dict[str, list[str]] = {}
        muted: dict[str, set[str]] = {}
        for m in visible:
            by_indicator.setdefault(m.indicator, []).append(m.channel_id)
            muted.setdefault(m.indicator, set()).update(m.muted)
        rows = []
        for summary in summaries.values():
            rows.append(
                HomeRow(
                    indicator=summary.indicator,
                    kind=summary.kind.value,
                    channel_ids=tuple(sorted(by_indicator.get(summary.indicator, ()))),
                    datasets_today=summary.datasets_today,
                    last_alert_at=summary.last_alert_at,
                    alert_count=summary.alert_count,
                    muted=tuple(sorted(muted.get(summary.indicator, ()))),
                )
            )
        channels = sorted({m.channel_id for m in visible})
        alerts = await self.db.run(self.db.triage.open_alerts, team_id, channels, now=now)
        open_alerts = [
            OpenAlertRow(
                a.indicator,
                a.channel_id,
                a.detected_at,
                len(a.changes) + a.follow_ups.changes,
                a.triage.by if a.triage.state is TriageState.ACKNOWLEDGED else None,
            )
            for a in alerts
        ]
        blocks = build_home_blocks(rows, now=now, timezone=self.timezone, open_alerts=open_alerts)
        extra = await self.watches.home_blocks(team_id=team_id, user_id=user_id, channel_ids=channel_ids)
        if extra:
            footer = blocks.pop()
            blocks = [*blocks[: MAX_BLOCKS_HOME - len(extra) - 1], *extra, footer]
        if self.health is not None:
            report = await self.health()
            health = build_home_health_blocks(
                report.sources, resolver=report.resolver, ct_logs=report.ct_logs, ct_reading=report.ct_reading
            )
            if len(blocks) + len(health) <= MAX_BLOCKS_HOME:
                blocks.extend(health)
        return blocks
