"""Replies to /monitor commands (pure). Shown only to the user who typed the command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import NamedTuple

from bot.alerts.messages.alerts import change_line
from bot.alerts.model import ChangeVerdict, Fate
from bot.core.ids import ActionId
from bot.core.limits import (
    MAX_BLOCKS_MESSAGE,
    MAX_SECTION_TEXT,
    fallback_text,
    shorten_line,
    split_lines,
)
from bot.core.message import Block, Message, actions, button, context, header, section
from bot.core.mrkdwn import code, escape, indicator_code, indicator_text, mention, truncate
from bot.core.observations import Change, FactState, FactStatus, SourcePending, SourceStates
from bot.core.order import natural_key
from bot.monitoring.datasets.model import DATASET_NAMES
from bot.triage.model import SuppressionKind, SuppressionView, shown_end

MAX_FACTS_SHOWN = 8
SECTION_LIMIT = MAX_SECTION_TEXT
# An error reply lists at most this many sections; past it, one line says how much is left out.
MAX_ERROR_SECTIONS = 20

HELP = """*Watchpost* watches domains and IPs and tells this channel when they change.
• `/monitor <indicator> [<indicator> …]`: monitor domains, IPs or URLs (defanged is fine: `evil[.]com`, `hxxps://…`)
• `/monitor list`: what this channel monitors
• `/monitor status <indicator>`: what is known now, per dataset
• `/monitor history <indicator> [day=YYYY-MM-DD] [dataset=NAME]`: what changed, newest first
• `/monitor timeline <indicator>`: a picture of its history, every value from first to last seen
• `/monitor check <indicator>` or `/monitor check all`: check now instead of waiting
• `/monitor mute <indicator> <dataset> [30m|12h|7d|2w]`: silence one dataset here (`unmute` to undo)
• `/monitor suppressions`: every suppression, snooze and mute in force here; `/monitor lift <number>` ends one
• `/monitor remove <indicator> [<indicator> …]` or `/unmonitor <indicator>`: stop monitoring
• `/monitor misp <event> [all]`: monitor a MISP event's domains, IPs and URLs (`all`: not only to_ids)
• `/monitor lookalikes <domain> [<domain> …]`: new certificates and domains imitating a brand
• `/monitor keyword <word> [<word> …]`: new certificates naming a word (under 4 letters: add `confirm`)
  (`list`, `status`, `history` and `remove` take `lookalikes <domain>` or `keyword <word>` too)
• `/monitor mute lookalikes <domain> [7d]` (`unmute` to undo), `/monitor snooze lookalikes <domain> [7d]`:
  a watch's findings kept, not alerted here (`keyword <word>` too)
• `/monitor digest`: post today's digest now
• `/monitor health`: how every data source is doing (requests, quotas, errors, latency)
• `/monitor help`: this message
Datasets: """ + ", ".join(f"`{name}`" for name in DATASET_NAMES)


def build_help_message() -> Message:
    return Message(
        "Watchpost help: /monitor <indicator>, list, status, history, timeline, check, mute, unmute, "
        "suppressions, lift, remove, misp, digest, health",
        [section(HELP)],
    )


def build_error_message(text: str) -> Message:
    """A user error. `text` is ours (it may quote the user's input, already escaped). A long
    one (a list of problems) is split between its lines over several sections; past
    MAX_ERROR_SECTIONS, one line says how many lines are not shown."""
    sections = split_lines(f":warning: {text}".splitlines() or [":warning:"])
    blocks = [section(part) for part in sections[:MAX_ERROR_SECTIONS]]
    hidden = sum(part.count("\n") + 1 for part in sections[MAX_ERROR_SECTIONS:])
    if hidden:
        blocks.append(context(f"…and {hidden} more lines not shown"))
    return Message(fallback_text(text or "Error"), blocks)


def build_added_message(added: Sequence[tuple[str, bool]]) -> Message:
    """`added`: (indicator, new for this channel)."""
    new = [indicator for indicator, is_new in added if is_new]
    old = [indicator for indicator, is_new in added if not is_new]
    lines = []
    if new:
        lines += _listed("Now monitoring", new, "for this channel. Capturing the baseline…")
    if old:
        lines += _listed("Already monitored here:", old, ".")
    return _sections_message(lines)


def build_baseline_message(indicator: str, datasets: Sequence[DatasetView]) -> Message:
    """What the baseline holds per dataset, right after a monitor is set."""
    return _state_message("Baseline for", indicator, datasets)


def build_status_message(
    indicator: str,
    datasets: Sequence[DatasetView],
    monitored_since: datetime,
    *,
    snoozed_until: datetime | None = None,
    muted_until: Sequence[tuple[str, datetime]] = (),
    plans: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> Message:
    """`plans`: one line per quota-limited source, how often its budget lets it be asked
    ("passive DNS every 11 h: Mnemonic allows 1,000 a day for 460 monitors")."""
    message = _state_message("Status of", indicator, datasets)
    notes = [f"Monitored here since {monitored_since:%Y-%m-%d %H:%M} UTC"]
    if snoozed_until is not None:
        notes.append(f":zzz: snoozed until {snoozed_until:%Y-%m-%d %H:%M} UTC")
    notes += [f":no_bell: {code(d)} muted until {until:%Y-%m-%d %H:%M} UTC" for d, until in muted_until]
    if tags:
        notes.append(":label: " + ", ".join(code(tag, limit=80) for tag in list(tags)[:10]))
    blocks = [*message.blocks[: MAX_BLOCKS_MESSAGE - 3]]
    if plans:
        blocks.append(context(shorten_line(escape("; ".join(plans)), 2900)))
    blocks += [
        context(*notes),
        actions(
            [button("Timeline picture", ActionId.TIMELINE.value, escape(indicator))], block_id="timeline"
        ),
    ]
    return Message(message.text, blocks)


class DatasetView:
    """What a reply shows of a dataset: its open facts and whether it is fresh."""

    def __init__(
        self,
        name: str,
        facts: Sequence[FactState],
        *,
        stale: bool,
        error: str | None,
        has_baseline: bool,
        pending: Sequence[tuple[str, datetime]] = (),
        sources: SourceStates | None = None,
    ) -> None:
        self.name = name
        self.facts = [f for f in facts if f.status is not FactStatus.ADDING]
        self.stale = stale
        self.error = error
        self.has_baseline = has_baseline
        # Sources waiting for a quota slot for this dataset: (source, when one is expected).
        self.pending = list(pending)
        # Which sources have their baseline, which are pending and why.
        self.sources = sources


_PENDING_WORDS = {
    SourcePending.FAILED: "failed",
    SourcePending.DEFERRED: "waiting for its quota",
    SourcePending.DISTRUSTED: "the resolver check failed",
}


def source_baselines_line(sources: SourceStates | None) -> str:
    """`baselined: dns, mnemonic · pending: circl (failed: HTTP 500)` — per source."""
    if sources is None or not (sources.baselined or sources.pending):
        return ""
    parts = []
    if sources.baselined:
        parts.append("baselined: " + escape(truncate(", ".join(sources.sources), 300)))
    pending = [
        f"{p.source} ({_PENDING_WORDS[p.why]}"
        + (f": {truncate(p.message, 120)})" if p.why is SourcePending.FAILED and p.message else ")")
        for p in sources.pending
    ]
    if pending:
        parts.append("pending: " + escape(truncate(", ".join(pending), 600)))
    return "sources " + " · ".join(parts)


def _state_message(heading: str, indicator: str, datasets: Sequence[DatasetView]) -> Message:
    """`heading` and the indicator: defanged in the header, as every header shows it (an
    alert's, an investigation's, history's), plain in the notification text."""
    title = f"{heading} {indicator_text(indicator)}"
    blocks: list[Block] = [header(f"{heading} {indicator_text(indicator, defanged=True)}")]
    summary = []
    for dataset in datasets[: MAX_BLOCKS_MESSAGE - 2]:
        name = escape(truncate(dataset.name, 100))
        waiting = ", ".join(f"{source} at {at:%Y-%m-%d %H:%M} UTC" for source, at in dataset.pending)
        if not dataset.has_baseline and dataset.pending:
            blocks.append(
                section(f"*{name}*: baseline pending, waiting for a quota slot: expected from {waiting}")
            )
            summary.append(f"{name}: pending")
            continue
        per_source = source_baselines_line(dataset.sources)
        if not dataset.has_baseline:
            reason = f": {escape(truncate(dataset.error, 500))}" if dataset.error else ""
            blocks.append(section(f"*{name}*: no data yet{reason} (retried on the next check)"))
            if per_source:
                blocks.append(context(per_source))
            summary.append(f"{dataset.name}: pending")
            continue
        lines = [code(f"{f.field} {f.value}", limit=200) for f in dataset.facts[:MAX_FACTS_SHOWN]]
        more = len(dataset.facts) - MAX_FACTS_SHOWN
        if more > 0:
            lines.append(f"…and {more} more")
        stale = f" :hourglass: stale ({escape(truncate(dataset.error or '', 300))})" if dataset.stale else ""
        if waiting:
            stale += f" · waiting for a quota slot: {waiting}"
        lines.insert(0, f"*{name}* ({len(dataset.facts)}){stale}")
        if len(lines) == 1:
            lines.append("_nothing observed_")
        blocks.append(section(split_lines(lines)[0]))
        if per_source:
            blocks.append(context(per_source))
        summary.append(f"{dataset.name}: {len(dataset.facts)}")
    if not datasets:
        blocks.append(section("_No dataset has reported yet._"))
    return Message(fallback_text(escape(f"{title}: " + ", ".join(summary))), blocks[:MAX_BLOCKS_MESSAGE])


def build_removed_message(indicators: Sequence[str]) -> Message:
    return _sections_message(_listed("Stopped monitoring", indicators, "in this channel."))


def build_list_message(
    rows: Sequence[tuple[str, str, datetime | None, Sequence[str]] | ListRow],
) -> Message:
    """rows: (indicator, kind, last checked, stale datasets), or ListRow with mutes."""
    if not rows:
        text = "This channel monitors nothing yet. Start with `/monitor example.com`."
        return Message(text, [section(text)])
    lines = []
    for row in sorted(rows, key=lambda r: natural_key(r[0])):
        indicator, kind, checked, stale = row[:4]
        muted = row.muted if isinstance(row, ListRow) else ()
        tags = row.tags if isinstance(row, ListRow) else ()
        when = f"checked {checked:%Y-%m-%d %H:%M} UTC" if checked else "not checked yet"
        warn = f" · :hourglass: stale: {_names(stale)}" if stale else ""
        quiet = f" · :no_bell: muted: {_names(muted)}" if muted else ""
        labels = f" · :label: {_names(tags)}" if tags else ""
        lines.append(
            shorten_line(
                f"• {indicator_code(indicator)} ({escape(kind)}) · {when}{warn}{quiet}{labels}", 1000
            )
        )
    blocks: list[Block] = [header(f"Monitored here: {len(rows)}")]
    shown = 0
    # Header, sections, and room for the "more" line within 50 blocks.
    for part in split_lines(lines)[: MAX_BLOCKS_MESSAGE - 2]:
        blocks.append(section(part))
        shown += part.count("\n") + 1
    if shown < len(rows):
        blocks.append(context(f"…and {len(rows) - shown} more"))
    return Message(f"This channel monitors {len(rows)} indicators.", blocks)


def build_check_message(
    indicator: str,
    changes: Sequence[Change],
    *,
    failed: Sequence[str],
    verdicts: Sequence[ChangeVerdict] | None = None,
    delivered: Mapping[int, bool] | None = None,
    nothing_read: bool = False,
) -> Message:
    """What a check did, in words that match what was posted: per change, posted (in a new
    alert or the thread of an open one), silenced (by what, until when) or kept for the
    digest. `verdicts`: the fates in the channels this reply speaks for (None: not known,
    e.g. an older worker); `delivered`: per delivery, whether Slack confirmed it."""
    if nothing_read:
        text = (
            f"Checked {indicator_text(indicator)}: nothing could be read — every source failed"
            f" ({', '.join(failed)}). The last known state stands; nothing was posted."
        )
        shown = shorten_line(escape(text), SECTION_LIMIT)
        return Message(shown, [section(shown)])
    lines: list[str] = []
    if not changes:
        text = f"Checked {indicator_text(indicator)}: no change."
    elif verdicts is None:
        plural = "s" * (len(changes) != 1)
        text = f"Checked {indicator_text(indicator)}: {len(changes)} change{plural} recorded."
        lines = [change_line(c) for c in changes[:15]]
    else:
        text = f"Checked {indicator_text(indicator)}: " + _fates_summary(changes, verdicts, delivered or {})
        lines = [f"{change_line(v.change)} — {_fate_words(v, delivered or {})}" for v in verdicts[:15]]
        if not verdicts:
            lines = [change_line(c) for c in changes[:15]]
    shown_count = len(verdicts) if verdicts else len(changes)
    if shown_count > 15:
        lines.append(f"…and {shown_count - 15} more")
    if failed:
        text += f" Could not reach: {', '.join(failed)} (kept the last known state)."
    shown = shorten_line(escape(text), SECTION_LIMIT)
    blocks = [section(shown)]
    if lines:
        blocks += [section(part) for part in split_lines(lines)]
    return Message(shown, blocks)


def _fates_summary(
    changes: Sequence[Change], verdicts: Sequence[ChangeVerdict], delivered: Mapping[int, bool]
) -> str:
    """ "3 changes: 2 posted in a new alert, 1 silenced." — counts of what really happened."""
    plural = "s" * (len(changes) != 1)
    if not verdicts:
        return f"{len(changes)} change{plural} recorded; no channel here receives its alerts."
    counts: dict[str, int] = {}
    for verdict in verdicts:
        key = _fate_words(verdict, delivered, short=True)
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{count} {words}" for words, count in counts.items()]
    return f"{len(changes)} change{plural}: " + ", ".join(parts) + "."


def _fate_words(verdict: ChangeVerdict, delivered: Mapping[int, bool], *, short: bool = False) -> str:
    confirmed = verdict.outbox_id is not None and delivered.get(verdict.outbox_id, False)
    if verdict.fate is Fate.POSTED:
        return "posted in a new alert" if confirmed else "queued as a new alert (not yet confirmed by Slack)"
    if verdict.fate is Fate.THREADED:
        where = "in the thread of the open alert"
        return f"posted {where}" if confirmed else f"queued {where} (not yet confirmed by Slack)"
    if verdict.fate is Fate.HELD:
        return "kept for history and the digest" + ("" if short else f" ({verdict.stage or 'policy'})")
    if short:
        return f"silenced ({_STAGE_WORDS.get(verdict.stage or '', verdict.stage or 'policy')})"
    return "silenced: " + _silence_words(verdict)


_STAGE_WORDS = {"mute": "muted here", "snooze": "snoozed here", "suppress": "marked false positive here"}


def _silence_words(verdict: ChangeVerdict) -> str:
    words = _STAGE_WORDS.get(verdict.stage or "", f"by {verdict.stage or 'the policy'}")
    suppression = verdict.suppression
    if suppression is None:
        return words
    end = shown_end(suppression.expires_at)
    until = f"until {end:%Y-%m-%d %H:%M} UTC" if end is not None else "until unmuted"
    return f"{words}, #{suppression.id} {until}"


def _names(names: Sequence[str]) -> str:
    """A short list of dataset names, escaped: never more than a line's worth."""
    return escape(truncate(", ".join(truncate(name, 60) for name in list(names)[:12]), 300))


def _listed(before: str, items: Sequence[str], after: str) -> list[str]:
    """`before a, b, c after` as lines of at most one section each, split between items."""
    codes = [indicator_code(item) for item in items]
    lines: list[str] = []
    line = before
    for index, item in enumerate(codes):
        piece = item + ("," if index < len(codes) - 1 else "")
        if len(line) + 1 + len(piece) > SECTION_LIMIT - len(after) - 2:
            lines.append(line)
            line = piece
        else:
            line = f"{line} {piece}"
    lines.append(line + (f" {after}" if after[:1].isalnum() else after))
    return lines


def _sections_message(lines: Sequence[str]) -> Message:
    """Lines over as few sections as they fit in; the fallback is their start."""
    parts = split_lines(lines)
    blocks = [section(part) for part in parts[:MAX_BLOCKS_MESSAGE]]
    return Message(fallback_text(" ".join(lines)), blocks)


class ListRow(NamedTuple):
    indicator: str
    kind: str
    last_checked_at: datetime | None
    stale: Sequence[str]
    muted: Sequence[str] = ()
    tags: Sequence[str] = ()


MAX_HISTORY_LINES = 40


def build_history_message(
    indicator: str,
    records: Sequence[tuple[datetime, Change]],
    *,
    day: date | None,
    dataset: str | None,
    limited: bool,
    suppressed: Sequence[bool] = (),
) -> Message:
    """Changes of one indicator, newest first: (detected at, change) pairs. `suppressed`
    (parallel to `records`) marks the changes a mute, snooze or suppression kept out of
    this channel's alerts: stored and shown, never silenced invisibly."""
    scope = " ".join(
        part for part in (f"on {day.isoformat()}" if day else "", f"in {dataset}" if dataset else "") if part
    )
    title = f"History of {indicator_text(indicator)}" + (f" {scope}" if scope else "")
    shown_title = f"History of {indicator_text(indicator, defanged=True)}" + (f" {scope}" if scope else "")
    if not records:
        text = (
            f"No changes recorded for {indicator_code(indicator)}"
            + (f" {escape(scope)}" if scope else "")
            + "."
        )
        fallback = fallback_text(escape(f"{title}: no changes"))
        return Message(fallback, [header(shown_title), section(shorten_line(text, SECTION_LIMIT))])
    quiet = list(suppressed) + [False] * (len(records) - len(suppressed))
    lines = [
        f"{at:%Y-%m-%d %H:%M} · {escape(change.dataset)}: {change_line(change)}"
        + (" _(suppressed here)_" if silenced else "")
        for (at, change), silenced in zip(records[:MAX_HISTORY_LINES], quiet, strict=False)
    ]
    more = len(records) - MAX_HISTORY_LINES
    blocks: list[Block] = [header(shown_title)]
    blocks += [section(part) for part in split_lines(lines)]
    notes = []
    if more > 0:
        notes.append(f"…and {more} older changes")
    if limited:
        notes.append("older changes not shown: narrow it with `day=` or `dataset=`")
    notes.append("times in UTC")
    blocks.append(context(" · ".join(notes)))
    plural = "s" * (len(records) != 1)
    return Message(fallback_text(escape(f"{title}: {len(records)} change{plural}")), blocks)


def build_timed_mute_message(indicator: str, dataset: str, *, until: datetime, user_id: str) -> Message:
    """Said in the channel: who muted what, and until when (it ends by itself)."""
    text = (
        f"{mention(user_id)} muted {code(dataset)} alerts for {code(indicator)} in this channel "
        f"until {until:%Y-%m-%d %H:%M} UTC; they come back by themselves then. "
        f"Undo sooner with `/monitor unmute {indicator} {dataset}`."
    )
    return Message(
        escape(f"{dataset} alerts for {indicator} muted until {until:%Y-%m-%d %H:%M} UTC"), [section(text)]
    )


_SUPPRESSION_KINDS = {
    SuppressionKind.VALUE: "false positive",
    SuppressionKind.SNOOZE: "snooze",
    SuppressionKind.MUTE: "mute",
}
MAX_SUPPRESSIONS_SHOWN = 40


def build_suppressions_message(suppressions: Sequence[SuppressionView], *, now: datetime) -> Message:
    """Everything silenced in the channel, soonest end first, each with a Lift button."""
    if not suppressions:
        return Message(
            "Nothing is silenced in this channel.", [section("Nothing is silenced in this channel.")]
        )
    blocks: list[Block] = [header(f"Silenced in this channel ({len(suppressions)})")]
    for number, item in enumerate(suppressions[:MAX_SUPPRESSIONS_SHOWN]):
        what = _SUPPRESSION_KINDS[item.kind]
        scope = ""
        if item.value is not None:
            scope = f" of {code(item.value)} in {code(item.dataset or '')}"
        elif item.dataset is not None:
            scope = f" of {code(item.dataset)}"
        until = f"until {item.expires_at:%Y-%m-%d %H:%M} UTC" if item.expires_at else "until unmuted"
        reason = f" · {escape(truncate(item.reason, 200))}" if item.reason else ""
        line = (
            f"#{item.id} *{what}*{scope} on {_silenced_subject(item)} {until}"
            f" · by {mention(item.created_by)} (owner {mention(item.monitor_owner)}){reason}"
        )
        if item.expires_at is None and item.watch is None:
            # A monitor's mute until unmuted: Lift ends it, and so does this command.
            line += f" · `/monitor unmute {item.indicator} {item.dataset}`"
        block = section(line)
        block["accessory"] = button("Lift", ActionId.LIFT.numbered(number), str(item.id))
        blocks.append(block)
    if len(suppressions) > MAX_SUPPRESSIONS_SHOWN:
        blocks.append(context(f"…and {len(suppressions) - MAX_SUPPRESSIONS_SHOWN} more"))
    return Message(
        f"{len(suppressions)} suppressions, snoozes and mutes in this channel", blocks[:MAX_BLOCKS_MESSAGE]
    )


def _silenced_subject(item: SuppressionView) -> str:
    """A monitor's indicator, or a lookalike or keyword watch named as such."""
    if item.watch is not None:
        return f"the {escape(item.watch)} watch {code(item.indicator)}"
    return code(item.indicator)


def build_lifted_message(item: SuppressionView, *, user_id: str) -> Message:
    what = _SUPPRESSION_KINDS[item.kind]
    text = (
        f"{mention(user_id)} lifted the {what} #{item.id} on {_silenced_subject(item)}:"
        " its alerts are back on."
    )
    return Message(escape(f"{what} on {item.indicator} lifted"), [section(text)])


def build_muted_message(indicator: str, dataset: str, *, muted: bool, user_id: str) -> Message:
    """Said in the channel, so everyone sees who silenced what."""
    shown = indicator_code(indicator)
    if muted:
        text = (
            f"{mention(user_id)} muted {code(dataset)} alerts for {shown} in this channel. "
            f"Undo with {code(f'/monitor unmute {indicator} {dataset}', limit=600)}."
        )
    else:
        text = f"{mention(user_id)} unmuted {code(dataset)} alerts for {shown} in this channel."
    verb = "muted" if muted else "unmuted"
    fallback = fallback_text(escape(f"{dataset} alerts for {indicator} {verb}"))
    return Message(fallback, [section(shorten_line(text, SECTION_LIMIT))])


def build_notice_message(text: str) -> Message:
    """A short notice (progress, confirmation); `text` is plain and gets escaped."""
    shown = shorten_line(escape(text), SECTION_LIMIT)
    return Message(shown, [section(shown)])


def fit_responses(messages: Sequence[Message], limit: int) -> list[Message]:
    """At most `limit` messages: Slack's response_url takes five posts. Whatever does not
    fit is merged into the last one, cut to Slack's block limit with a note."""
    if len(messages) <= limit:
        return list(messages)
    kept = list(messages[: limit - 1])
    rest = messages[limit - 1 :]
    blocks: list[Block] = []
    for message in rest:
        if len(blocks) + len(message.blocks) > MAX_BLOCKS_MESSAGE - 2:
            break
        blocks.extend(message.blocks)
    shown = 0
    total = 0
    for message in rest:
        total += len(message.blocks)
        if total > len(blocks):
            break
        shown += 1
    if shown < len(rest):
        blocks.append(context(f"…and {len(rest) - shown} more: see `/monitor status <indicator>`"))
    text = truncate(" ".join(m.text for m in rest), 3000)
    kept.append(Message(text, blocks))
    return kept
