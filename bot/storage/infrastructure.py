"""Infrastructure queries across monitored subjects: who shares an address, a name server,
a certificate; which monitored domains resolve to an address (the bot's own passive DNS)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from bot.model.observations import FactStatus, IndicatorKind
from bot.storage.models import FactRow, Monitor, Subject
from bot.storage.views import SharedInfrastructure


class Infrastructure:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def shared_with(
        self,
        *,
        team_id: str,
        indicator: str,
        values: Iterable[str],
        fields: Iterable[str],
        limit: int = 40,
    ) -> list[SharedInfrastructure]:
        """Subjects monitored in the team that share infrastructure with `indicator`: an
        open fact (of one of `fields`) whose value is one of `values` or `indicator` itself,
        or a monitored indicator that is one of `values`."""
        wanted = list(dict.fromkeys(v for v in values if v and v != indicator))[:1000]
        with self._sessions() as session:
            monitored = select(Monitor.subject_id).where(Monitor.team_id == team_id)
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
                .where(Monitor.team_id == team_id, Subject.indicator.in_(names))
                .order_by(Monitor.channel_id)
            ):
                channels[name].append(channel_id)
            return [
                SharedInfrastructure(name, kind, fact_field, value, tuple(channels[name]))
                for (name, fact_field, value), kind in sorted(found.items())
            ][:limit]

    def domains_resolving_to(self, ip: str) -> list[tuple[str, str, datetime]]:
        """Monitored domains whose live A/AAAA records currently hold `ip`:
        (domain, record type, first seen)."""
        with self._sessions() as session:
            rows = session.execute(
                select(Subject.indicator, FactRow.field, FactRow.first_seen)
                .join(Subject, FactRow.subject_id == Subject.id)
                .where(
                    FactRow.dataset == "resolutions",
                    FactRow.field.in_(("A", "AAAA")),
                    FactRow.value == ip,
                    FactRow.status.in_((FactStatus.ACTIVE.value, FactStatus.REMOVING.value)),
                )
                .order_by(Subject.indicator)
            )
            return [(indicator, field_name, first_seen) for indicator, field_name, first_seen in rows]
