"""The investigation of one indicator, posted in an alert's thread (pure): what the
datasets see of it now, and which monitored indicators share its infrastructure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from bot.alerts.messages.alerts import MAX_PIVOT_BUTTONS, pivot_values
from bot.core.ids import ActionId
from bot.core.limits import MAX_CONTEXT_ELEMENT_TEXT, MAX_SECTION_TEXT, shorten_line
from bot.core.message import Block, Message, actions, button, context, header, section
from bot.core.mrkdwn import channel_link, code, escape, indicator_code, indicator_text, truncate
from bot.core.observations import IndicatorKind, Observation
from bot.core.walls import ANOTHER_CHANNEL
from bot.monitoring.datasets.model import BY_NAME, sections

SECTION_LIMIT = MAX_SECTION_TEXT
MAX_VALUES_PER_FIELD = 12
MAX_CERTIFICATES = 6
MAX_SHARED_LINES = 25


class SharedLink(Protocol):
    """A monitored indicator sharing infrastructure (see Store.shared_infrastructure)."""

    @property
    def indicator(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def channel_ids(self) -> tuple[str, ...]: ...  # named: only the viewer's own channel
    @property
    def other_channels(self) -> int: ...  # other channels of the workspace, never named


def _belongs(title: str) -> Callable[[str, str], bool]:
    """Whether a (dataset, field) fact goes to the section titled `title`: its descriptor
    says (bot/monitoring/datasets/model.py). A dataset with no descriptor goes nowhere, which a test
    forbids (tests/unit/investigations/test_investigation.py)."""

    def belongs(dataset: str, field: str) -> bool:
        descriptor = BY_NAME.get(dataset)
        return descriptor is not None and descriptor.section_of(field).title == title

    return belongs


# (title, which facts belong to it), in the order they are shown.
_SECTIONS = tuple((section.title, _belongs(section.title)) for section in sections())


def build_investigation_message(
    indicator: str,
    kind: IndicatorKind,
    observations: Sequence[Observation],
    shared: Sequence[SharedLink],
    *,
    looked_up_at: datetime,
    monitored_in: Sequence[str] = (),
    monitored_elsewhere: int = 0,
    history_stored: bool = False,
) -> Message:
    """Every applicable dataset's view of `indicator` as seen now, grouped for an analyst,
    with buttons to monitor it and to pivot to what it points at. `monitored_in` are the
    channels that may be named (the asking one); `monitored_elsewhere` counts the other
    channels of the workspace the scope lets it learn of (bot/core/walls.py);
    `history_stored`: the indicator has stored history this channel may read, which the
    header points to."""
    blocks: list[Block] = [
        header(f"Investigation: {indicator_text(indicator, defanged=True)}"),
        _summary(indicator, kind, monitored_in, monitored_elsewhere, history_stored),
        *_dataset_sections(observations),
        section(_shared_section(indicator, shared, observations)),
        _looked_up(observations, looked_up_at),
        *_pivot_blocks(indicator, observations, shared, monitored_in),
    ]
    fact_count = sum(len(o.facts) for o in observations)
    text = truncate(
        f"Investigation of {indicator}: {fact_count} facts, {len(shared)} links to monitored indicators", 3000
    )
    return Message(escape(text), blocks, label="investigation")


def _summary(
    indicator: str,
    kind: IndicatorKind,
    monitored_in: Sequence[str],
    monitored_elsewhere: int,
    history_stored: bool,
) -> Block:
    """What the indicator is, whether history is stored, where it is monitored."""
    where = (
        f"monitored in {places}"
        if (places := where_monitored(monitored_in, monitored_elsewhere))
        else "not monitored here yet"
    )
    return section(
        shorten_line(
            f"*{indicator_code(indicator)}* ({kind.value}) · looked up just now, "
            + (
                f"its stored history in `/monitor history {escape(indicator)}`"
                if history_stored
                else "nothing stored"
            )
            + f" · {where}",
            SECTION_LIMIT,
        )
    )


def _dataset_sections(observations: Sequence[Observation]) -> list[Block]:
    """One section per kind of fact (`_SECTIONS`) that a dataset applies to or was seen."""
    blocks: list[Block] = []
    datasets = {o.dataset for o in observations}
    for title, belongs in _SECTIONS:
        facts = [
            (o.dataset, f.field, f.value, f.source)
            for o in observations
            for f in sorted(o.facts)
            if belongs(o.dataset, f.field)
        ]
        # One source failing for two datasets of a section (crt.sh for certificates and
        # subdomains) is one failure to the reader.
        failures = list(
            dict.fromkeys(
                (failure.source, failure.message)
                for o in observations
                for failure in o.failures
                if (
                    any(belongs(o.dataset, fld) for fld in failure.fields)
                    if failure.fields
                    else _section_of(o.dataset) == title
                )
            )
        )
        if not facts and not failures and not any(_section_of(d) == title for d in datasets):
            continue  # no dataset of this kind applies or is enabled
        blocks.append(section(_fact_section(title, facts, failures)))
    return blocks


def _looked_up(observations: Sequence[Observation], looked_up_at: datetime) -> Block:
    """When, and which sources could not be reached."""
    failed = sorted({f.source for o in observations for f in o.failures})
    return context(
        shorten_line(
            f"Looked up {looked_up_at:%Y-%m-%d %H:%M} UTC"
            + (f" · could not reach: {escape(truncate(', '.join(failed), 500))}" if failed else ""),
            MAX_CONTEXT_ELEMENT_TEXT,
        )
    )


def _pivot_blocks(
    indicator: str,
    observations: Sequence[Observation],
    shared: Sequence[SharedLink],
    monitored_in: Sequence[str],
) -> list[Block]:
    """Buttons to monitor the indicator (if not monitored here) and to investigate what it points at."""
    blocks: list[Block] = []
    pivots = pivot_values(
        ((f.field, f.value) for o in observations for f in sorted(o.facts)), exclude=indicator
    )
    pivots += [
        link.indicator for link in shared if link.indicator not in pivots and link.indicator != indicator
    ]
    buttons = (
        [] if monitored_in else [button(f"Monitor {indicator}", ActionId.MONITOR.numbered(0), indicator)]
    )
    buttons += [
        button(f"Investigate {value}", ActionId.INVESTIGATE.numbered(i), value)
        for i, value in enumerate(pivots[:MAX_PIVOT_BUTTONS])
    ]
    if buttons:
        blocks.append(actions(buttons, block_id="investigation"))
    if len(pivots) > MAX_PIVOT_BUTTONS:
        blocks.append(context(f"…and {len(pivots) - MAX_PIVOT_BUTTONS} more related indicators above"))
    return blocks


def where_monitored(channel_ids: Sequence[str], other_channels: int) -> str:
    """`#own, another channel of this workspace`: the named channels, then the others
    counted, never named (a channel may be private: bot/core/walls.py)."""
    places = [channel_link(c) for c in channel_ids]
    if other_channels == 1:
        places.append(ANOTHER_CHANNEL)
    elif other_channels > 1:
        places.append(f"{other_channels} other channels of this workspace")
    return ", ".join(places)


def _section_of(dataset: str) -> str:
    descriptor = BY_NAME.get(dataset)
    return descriptor.section.title if descriptor is not None else ""


def _fact_section(
    title: str, facts: Sequence[tuple[str, str, str, str]], failures: Sequence[tuple[str, str]]
) -> str:
    by_field: dict[str, dict[str, str]] = defaultdict(dict)
    for _dataset, field, value, source in facts:
        by_field[field].setdefault(value, source)  # one value seen by two datasets is shown once
    lines: list[str] = []
    for field, seen in by_field.items():
        values = list(seen.items())
        limit = MAX_CERTIFICATES if field == "certificate" else MAX_VALUES_PER_FIELD
        shown = ", ".join(
            code(value, limit=200 if field == "certificate" else 120) for value, _ in values[:limit]
        )
        sources = sorted({source for _, source in values if source and source != "dns"})
        via = f" _(via {escape(', '.join(sources))})_" if sources else ""
        more = f" …and {len(values) - limit} more" if len(values) > limit else ""
        lines.append(f"{code(field, limit=40)}: {shown}{more}{via}")
    if not facts:
        lines.append("_nothing observed_")
    for source, message in failures:
        lines.append(f":hourglass: {escape(truncate(source, 100))}: {escape(truncate(message, 200))}")
    return _fit(f"*{title}*", lines)


def _shared_section(indicator: str, shared: Sequence[SharedLink], observations: Sequence[Observation]) -> str:
    title = "*Shared infrastructure with monitored indicators*"
    if not shared:
        return f"{title}\n_none found among the monitors this channel can see_"
    own_fields: dict[str, set[str]] = defaultdict(set)
    for observation in observations:
        for fact in observation.facts:
            own_fields[fact.value].add(fact.field)
    # One line per monitored indicator, with every way it is linked.
    links: dict[str, list[SharedLink]] = defaultdict(list)
    for link in shared:
        links[link.indicator].append(link)
    lines = []
    for monitored, its_links in list(links.items())[:MAX_SHARED_LINES]:
        where = where_monitored(its_links[0].channel_ids[:5], its_links[0].other_channels)
        how = []
        for link in its_links:
            if not link.field:
                fields = ", ".join(code(f, limit=40) for f in sorted(own_fields.get(monitored, ())))
                how.append(f"it is this indicator's {fields or 'value'}")
            elif link.value == indicator:
                how.append(f"its {code(link.field, limit=40)} is {code(indicator)}")
            else:
                how.append(f"same {code(link.field, limit=40)} {code(link.value, limit=120)}")
        lines.append(f"• {code(monitored)}" + (f" (in {where})" if where else "") + ": " + "; ".join(how))
    if len(links) > MAX_SHARED_LINES:
        lines.append(f"…and {len(links) - MAX_SHARED_LINES} more")
    return _fit(title, lines)


def _fit(title: str, lines: Sequence[str]) -> str:
    """Title and as many lines as fit in one section, saying how many were left out."""
    kept: list[str] = []
    size = len(title) + 1
    for index, line in enumerate(lines):
        if size + len(line) + 1 > SECTION_LIMIT - 60:
            kept.append(f"…and {len(lines) - index} more lines")
            break
        kept.append(line)
        size += len(line) + 1
    return title + "\n" + "\n".join(kept)
