"""Modals (pure): refining a false positive's reason and how long its values stay quiet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.core.message import Block
from bot.triage.model import FALSE_POSITIVE_REASONS, format_duration

FALSE_POSITIVE_MODAL = "false_positive_refine"  # the view's callback_id
REASON_BLOCK, REASON_ACTION = "reason", "reason_choice"
DURATION_BLOCK, DURATION_ACTION = "duration", "duration_choice"
SUPPRESSION_CHOICES = (timedelta(days=7), timedelta(days=30), timedelta(days=90), timedelta(days=365))


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value[:150]}


def build_false_positive_modal(metadata: str, *, reason: str | None, duration: timedelta) -> dict[str, Any]:
    """The modal a "Refine" click opens. `metadata` (its private_metadata, which Slack hands
    back on submission) names the alert message, sealed by the caller so it can be trusted."""
    reasons = [_option(r, r) for r in FALSE_POSITIVE_REASONS]
    durations = [_option(f"{d.days} days", format_duration(d)) for d in SUPPRESSION_CHOICES]
    current_reason = next((o for o in reasons if o["value"] == reason), reasons[0])
    current_duration = next((o for o in durations if o["value"] == format_duration(duration)), durations[1])
    blocks: list[Block] = [
        {
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": {"type": "plain_text", "text": "Why is it a false positive?"},
            "element": {
                "type": "static_select",
                "action_id": REASON_ACTION,
                "options": reasons,
                "initial_option": current_reason,
            },
        },
        {
            "type": "input",
            "block_id": DURATION_BLOCK,
            "label": {"type": "plain_text", "text": "Keep its values quiet for"},
            "element": {
                "type": "static_select",
                "action_id": DURATION_ACTION,
                "options": durations,
                "initial_option": current_duration,
            },
        },
    ]
    return {
        "type": "modal",
        "callback_id": FALSE_POSITIVE_MODAL,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "False positive"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
