"""Lookalike and keyword watches on screen (pure): a finding's alert and its thread
replies, and the replies to the watch commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.ids import ActionId
from bot.core.limits import MAX_BLOCKS_MESSAGE
from bot.core.message import Block, Message, actions, button, context, divider, header, section
from bot.core.mrkdwn import channel_link, code, escape, indicator_code, indicator_text, mention, truncate
from bot.triage.model import SNOOZE_CHOICES, SuppressionKind, SuppressionView, format_duration
from bot.watches.model import DomainFacts, Finding, Sighting, Watch, WatchKind

MAX_REASONS = 10
SECTION_BUDGET = 2700  # of Slack's 3,000 characters a section: the title and a "more" line fit
MAX_LISTED = 40
_KIND_WORD = {WatchKind.LOOKALIKE: "lookalikes of", WatchKind.KEYWORD: "names containing"}


def _what_it_is(finding: Finding) -> str:
    """`imitates interfax.ru`, `contains the keyword interfax`, or both."""
    imitated = ", ".join(finding.terms(WatchKind.LOOKALIKE))
    words = ", ".join(finding.terms(WatchKind.KEYWORD))
    parts = [f"imitates {escape(imitated)}"] if imitated else []
    if words:
        parts.append(f"contains the keyword {escape(words)}")
    return " and ".join(parts)


def build_lookalike_alert_message(finding: Finding, facts: DomainFacts, *, detected_at: datetime) -> Message:
    """The channel alert: the lookalike (or keyword match) in Unicode with its punycode
    beside it and a mixed-script flag, what it imitates or contains and why, what is known
    of it at once, and buttons to investigate, monitor or dismiss it."""
    domain = finding.domain
    title = "Keyword match" if finding.keyword_only else "Lookalike"
    blocks: list[Block] = [
        header(f"{title}: {indicator_text(domain, defanged=True)}"),
        section(
            f"*{indicator_code(domain)}* {_what_it_is(finding)}"
            + (f" (seen as {indicator_code(finding.name)})" if finding.name != domain else "")
        ),
        section("*Why*\n" + "\n".join(_reason_lines(finding.reasons))),
        section("*Known now*\n" + "\n".join(_fact_lines(finding, facts))),
    ]
    source = (
        "a certificate logged in CT" if finding.source == "ct" else "DNS (a permutation started to exist)"
    )
    blocks.append(
        context(
            f"Found {detected_at:%Y-%m-%d %H:%M} UTC through {source}"
            f" · first seen {finding.first_seen_at:%Y-%m-%d %H:%M} UTC"
        )
    )
    blocks.append(
        actions(
            [
                button(f"Investigate {domain}", ActionId.INVESTIGATE.numbered(0), domain),
                button(f"Monitor {domain}", ActionId.MONITOR.numbered(0), domain),
                *_snooze_buttons(),
                button("Not a lookalike", ActionId.DISMISS.value, domain, style="danger"),
            ],
            block_id="lookalike",
        )
    )
    what = "keyword match" if finding.keyword_only else "lookalike"
    terms = ", ".join(sorted({str(r.get("term")) for r in finding.reasons}))
    text = truncate(f"Watchpost: {what} {indicator_text(domain)} of {terms}", 3000)
    return Message(escape(text), blocks, label="alert")


def _snooze_buttons() -> list[Block]:
    """Snooze the watches behind the finding in its channel, as an alert's Snooze buttons
    snooze its monitor (the value is the duration; the finding is the pressed message)."""
    buttons = []
    for i, duration in enumerate(SNOOZE_CHOICES):
        days = duration.days
        label = f"Snooze watch {days} day{'s' * (days != 1)}" if i == 0 else f"{days} days"
        action = ActionId.SNOOZE_WATCH.value if i == 0 else f"{ActionId.SNOOZE_WATCH.value}_{days}d"
        buttons.append(button(label, action, format_duration(duration)))
    return buttons


def build_lookalike_sighting_message(finding: Finding, sighting: Sighting) -> Message:
    """A later certificate of a known lookalike, for its alert's thread."""
    what = "keyword match" if finding.keyword_only else "lookalike"
    text = (
        f"Another certificate for {indicator_code(sighting.name)} ({what} {indicator_code(finding.domain)}): "
        f"issuer {code(sighting.issuer, limit=200)}, serial {code(sighting.serial, limit=80)}, "
        f"logged {sighting.logged_at:%Y-%m-%d %H:%M} UTC in {code(sighting.log, limit=120)}"
    )
    fallback = f"Another certificate for {indicator_text(sighting.name)}"
    return Message(escape(fallback), [section(text)], label="thread reply")


def watch_words(kind: WatchKind | str, term: str) -> str:
    """`lookalikes of `interfax.ru``, `names containing `sber``: a watch in a sentence."""
    return f"{_KIND_WORD[WatchKind(kind)]} {code(term)}"


def build_watch_silenced_message(
    watches: Sequence[Watch], *, snoozed: bool, until: datetime | None, user_id: str
) -> Message:
    """Said in the channel: who muted or snoozed which watches, until when."""
    what = "snoozed" if snoozed else "muted"
    named = ", ".join(watch_words(w.kind, w.term) for w in watches[:MAX_REASONS])
    end = f"until {until:%Y-%m-%d %H:%M} UTC" if until is not None else "until unmuted"
    undo = (
        "`/monitor suppressions` lists it; `/monitor lift <number>` ends it sooner."
        if snoozed or until is not None
        else f"Undo with `/monitor unmute {_watch_word(watches[0])} {watches[0].term}`."
    )
    text = (
        f"{mention(user_id)} {what} {named} in this channel {end}: their findings are kept"
        f" (history, digest), not alerted here, and later certificates go to no thread. {undo}"
    )
    fallback = f"{what} {', '.join(w.term for w in watches[:MAX_REASONS])} {end}"
    return Message(escape(fallback), [section(truncate(text, 2900))])


def build_watch_unmuted_message(watch: Watch, *, user_id: str) -> Message:
    text = f"{mention(user_id)} unmuted {watch_words(watch.kind, watch.term)}: its findings alert here again."
    return Message(escape(f"{watch.term} unmuted"), [section(text)])


def build_watch_silence_ended_message(item: SuppressionView) -> Message:
    """A watch's snooze or timed mute ended by itself: said in its channel."""
    what = "snooze" if item.kind is SuppressionKind.SNOOZE else "mute"
    text = (
        f"The {what} of {watch_words(item.watch or WatchKind.LOOKALIKE, item.indicator)} ended:"
        " its findings alert here again."
    )
    return Message(escape(f"{what} of {item.indicator} ended"), [section(text)])


def _watch_word(watch: Watch) -> str:
    return "lookalikes" if watch.kind is WatchKind.LOOKALIKE else "keyword"


def build_dismissed_alert_message(original: Message, *, user_id: str, domain: str, at: datetime) -> Message:
    """The alert once dismissed: its buttons give way to who said it is no lookalike."""
    blocks = [block for block in original.blocks if block.get("type") != "actions"][: MAX_BLOCKS_MESSAGE - 1]
    blocks.append(
        context(
            f":no_bell: Not a lookalike, said {mention(user_id)} on {at:%Y-%m-%d %H:%M} UTC:"
            f" {indicator_code(domain)} stays quiet in this channel"
        )
    )
    return Message(original.text or "Watchpost lookalike (dismissed)", blocks, label="alert")


def build_dismissed_message(domain: str, *, user_id: str, new: bool) -> Message:
    if not new:
        text = f"{indicator_code(domain)} was already dismissed in this channel."
    else:
        quiet = "It stays quiet in this channel."
        text = f"{mention(user_id)} dismissed {indicator_code(domain)}: not a lookalike. {quiet}"
    return Message(text, [section(text)])


def build_watches_added_message(
    kind: WatchKind,
    added: Sequence[str],
    already: Sequence[str],
    notes: Sequence[str] = (),
    outlook: Sequence[str] = (),
) -> Message:
    """`outlook`: what the watch can see now (bot/watches/ct/messages.watch_outlook_lines),
    said rather than promised."""
    parts = []
    if added:
        parts.append(
            f"Now watching {_KIND_WORD[kind]} {_codes(added)} for this channel"
            + (": names IDN-decoded, look-alike letters folded." if kind is WatchKind.KEYWORD else ".")
        )
    if already:
        parts.append(f"Already watched here: {_codes(already)}.")
    parts.extend(notes)
    text = " ".join(parts)
    if not added or not outlook:
        return Message(text, [section(text)])
    seen = "*What it sees now*\n" + "\n".join(f"• {line}" for line in outlook)
    return Message(text, [section(text), section(truncate(seen, 2900))])


def build_first_look_message(kind: WatchKind, added: Sequence[str], outlook: Sequence[str]) -> Message:
    """After a new watch's first read of CT: what it sees now that the reader has looked."""
    text = f"First look for {_KIND_WORD[kind]} {_codes(added)}:"
    seen = text + "\n" + "\n".join(f"• {line}" for line in outlook)
    return Message(text, [section(truncate(seen, 2900))])


def build_watches_removed_message(kind: WatchKind, removed: Sequence[str], missing: Sequence[str]) -> Message:
    parts = []
    if removed:
        parts.append(f"Stopped watching {_KIND_WORD[kind]} {_codes(removed)}.")
    if missing:
        parts.append(f"Not watched here: {_codes(missing)}.")
    text = " ".join(parts)
    return Message(text, [section(text)])


def watch_list_lines(
    watches: Sequence[Watch], findings: dict[int, int], silences: Sequence[SuppressionView] = ()
) -> list[str]:
    """One line per watch for `/monitor list`: what, since when, how many findings, and
    whether it is muted or snoozed (`silences`: the channel's watch suppressions in force)."""
    lines = []
    for watch in watches:
        count = findings.get(watch.id, 0)
        quiet = "".join(
            f" · {'snoozed' if s.kind is SuppressionKind.SNOOZE else 'muted'} "
            + (f"until {s.expires_at:%Y-%m-%d %H:%M} UTC" if s.expires_at else "until unmuted")
            for s in silences
            if s.watch == watch.kind.value and s.indicator == watch.term and s.channel_id == watch.channel_id
        )
        lines.append(
            f"• {code(watch.term)} ({watch.kind.value} watch) · since {watch.created_at:%Y-%m-%d}"
            f" · {count} finding{'s' * (count != 1)}{quiet}"
        )
    return lines


def build_watch_list_blocks(
    watches: Sequence[Watch], findings: dict[int, int], silences: Sequence[SuppressionView] = ()
) -> list[Block]:
    if not watches:
        return []
    lines = watch_list_lines(watches[:MAX_LISTED], findings, silences)
    blocks = [header(f"Lookalike and keyword watches: {len(watches)}"), section("\n".join(lines))]
    if len(watches) > MAX_LISTED:
        blocks.append(context(f"…and {len(watches) - MAX_LISTED} more"))
    return blocks


def build_watch_status_message(
    watch: Watch,
    findings: Sequence[Finding],
    permutation_count: int | None,
    silences: Sequence[SuppressionView] = (),
) -> Message:
    """`silences`: the watch's mutes and snoozes in force (its findings kept, not alerted)."""
    by = f" (set by {mention(watch.created_by)})" if watch.created_by else ""
    lines = [
        f"Watching {_KIND_WORD[watch.kind]} {code(watch.term)}"
        f" since {watch.created_at:%Y-%m-%d %H:%M} UTC{by}."
    ]
    for item in silences:
        what = ":zzz: Snoozed" if item.kind is SuppressionKind.SNOOZE else ":no_bell: Muted"
        end = f"until {item.expires_at:%Y-%m-%d %H:%M} UTC" if item.expires_at else "until unmuted"
        lines.append(f"{what} here {end} (#{item.id}): findings are kept, not alerted.")
    if permutation_count is not None:
        lines.append(
            f"{permutation_count} permutations listed (resolved daily), plus look-alike spellings"
            " and names containing the brand."
        )
    active = [f for f in findings if not f.dismissed]
    lines.append(
        f"{len(findings)} finding{'s' * (len(findings) != 1)} ({len(findings) - len(active)} dismissed)."
    )
    if findings:
        last = findings[-1]
        lines.append(f"Latest: {indicator_code(last.domain)} on {last.first_seen_at:%Y-%m-%d %H:%M} UTC.")
    text = "\n".join(lines)
    return Message(text, [header(f"Watch: {watch.term}"), section(text)])


def build_watch_history_message(watch: Watch, findings: Sequence[Finding]) -> Message:
    if not findings:
        text = f"Nothing found for {code(watch.term)} yet."
        return Message(text, [section(text)])
    newest = list(reversed(findings))[:MAX_LISTED]
    lines = []
    for finding in newest:
        why = next((str(r.get("why")) for r in finding.reasons if r.get("watch_id") == watch.id), "")
        quiet = " · dismissed" if finding.dismissed else ""
        if finding.silenced and not finding.dismissed:
            quiet = f" · not alerted ({'muted' if finding.silenced == 'mute' else 'snoozed'} here)"
        lines.append(
            f"• {finding.first_seen_at:%Y-%m-%d %H:%M} {indicator_code(finding.domain)}:"
            f" {escape(truncate(why, 200))}"
            f" · {finding.certificates} certificate{'s' * (finding.certificates != 1)}{quiet}"
        )
    blocks = [header(f"Findings for {watch.term}: {len(findings)}"), section("\n".join(lines)[:2900])]
    if len(findings) > len(newest):
        blocks.append(context(f"…and {len(findings) - len(newest)} older"))
    return Message(f"{len(findings)} findings for {escape(watch.term)}", blocks)


def _reason_lines(reasons: Sequence[dict[str, Any]]) -> list[str]:
    """One line per matching watch, as many as fit in a section (the rest counted)."""
    lines: list[str] = []
    size = 0
    for reason in reasons[:MAX_REASONS]:
        line = f"• {escape(truncate(str(reason.get('why') or reason.get('rule')), 240))}"
        if size + len(line) > SECTION_BUDGET:
            break
        lines.append(line)
        size += len(line) + 1
    if len(reasons) > len(lines):
        lines.append(f"…and {len(reasons) - len(lines)} more watches")
    return lines


def _fact_lines(finding: Finding, facts: DomainFacts) -> list[str]:
    def listed(values: tuple[str, ...] | None, none: str) -> str:
        if values is None:
            return "unknown (lookup failed)"
        return ", ".join(code(v, limit=100) for v in values[:5]) if values else none

    lines = [
        f"Resolves to: {listed(facts.addresses, 'nothing (no A/AAAA)')}",
        f"MX: {listed(facts.mail_servers, 'none')}",
    ]
    if facts.registrar or facts.created:
        lines.append(
            f"Registrar: {code(facts.registrar or 'unknown', limit=120)}"
            f" · created {code(facts.created or 'unknown', limit=40)}"
        )
    if finding.issuer:
        lines.append(f"Certificate issuer: {code(finding.issuer, limit=200)}")
    return lines


def _codes(items: Sequence[str]) -> str:
    shown = ", ".join(code(i) for i in items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def build_home_watch_blocks(watches: Sequence[Watch], findings: dict[int, int]) -> list[Block]:
    """The App Home's lookalike and keyword watches, in the channels the user can see."""
    if not watches:
        return []
    lines = [
        f"{line} · {channel_link(watch.channel_id)}"
        for line, watch in zip(watch_list_lines(watches[:MAX_LISTED], findings), watches, strict=False)
    ]
    if len(watches) > MAX_LISTED:
        lines.append(f"…and {len(watches) - MAX_LISTED} more")
    return [divider(), section(truncate("*Lookalike and keyword watches*\n" + "\n".join(lines), 2900))]
