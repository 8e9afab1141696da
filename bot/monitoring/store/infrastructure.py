"""Infrastructure queries across monitored subjects: who shares an address, a name server,
a certificate — among the monitors the asking channel may learn of (bot/core/walls.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from bot.core.observations import FactStatus, IndicatorKind
from bot.core.walls import Viewer
from bot.storage.models import FactRow, Monitor, Subject
from bot.storage.views import SharedInfrastructure
from bot.storage.walls import shown_fact, visible_monitors


class Infrastructure:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def shared_with(
        self,
        *,
        viewer: Viewer,
        indicator: str,
        values: Iterable[str],
        fields: Iterable[str],
        limit: int = 40,
    ) -> list[SharedInfrastructure]:
        """Subjects monitored where `viewer` may see (its channel, or its workspace under the
        workspace scope: bot/core/walls.py) that share infrastructure with `indicator`: an
        open fact (of one of `fields`) whose value is one of `values` or `indicator` itself,
        or a monitored indicator that is one of `values`. Only the viewer's own channel is
        named; other channels are counted."""
        wanted = list(dict.fromkeys(v for v in values if v and v != indicator))[:1000]
        with self._sessions() as session:
            visible = visible_monitors(viewer)
            monitored = select(Monitor.subject_id).where(*visible)
            found: dict[tuple[str, str, str], IndicatorKind] = {}
            for name, kind in session.execute(
                select(Subject.indicator, Subject.kind)
                .where(Subject.id.in_(monitored), Subject.indicator.in_(wanted))
                .order_by(Subject.indicator)
                .limit(limit)
            ):
                found[(name, "", name)] = IndicatorKind(kind)
            for name, kind, fact_field, value in session.execute(
                select(Subject.indicator, Subject.kind, FactRow.field, FactRow.value)
                .join(FactRow, FactRow.subject_id == Subject.id)
                .where(
                    Subject.id.in_(monitored),
                    Subject.indicator != indicator,
                    FactRow.status != FactStatus.CLOSED.value,
                    shown_fact(),
                    FactRow.field.in_(list(fields)),
                    FactRow.value.in_([*wanted, indicator]),
                )
                .distinct()
                .order_by(Subject.indicator, FactRow.field, FactRow.value)
                .limit(limit)
            ):
                found.setdefault((name, fact_field, value), IndicatorKind(kind))
            channels: dict[str, list[str]] = defaultdict(list)
            names = sorted({name for name, _, _ in found})
            for name, channel_id in session.execute(
                select(Subject.indicator, Monitor.channel_id)
                .join(Monitor, Monitor.subject_id == Subject.id)
                .where(*visible, Subject.indicator.in_(names))
                .order_by(Monitor.channel_id)
            ):
                channels[name].append(channel_id)
            return [
                SharedInfrastructure(
                    name,
                    kind,
                    fact_field,
                    value,
                    tuple(c for c in channels[name] if c == viewer.channel_id),
                    other_channels=sum(1 for c in channels[name] if c != viewer.channel_id),
                )
                for (name, fact_field, value), kind in sorted(found.items())
            ][:limit]
