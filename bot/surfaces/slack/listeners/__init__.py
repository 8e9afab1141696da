"""Slack listeners, one module per surface: slash commands (`SlashCommands`, which the
front takes before Bolt: bot/surfaces/slack/front.py), and buttons and App Home, each with
`register(app, deps)`. They translate Slack payloads into use-case calls and back."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp

from bot.commands.flows import MonitorFlows
from bot.core.transport import Transport
from bot.surfaces.slack.handover import CommandHandover
from bot.surfaces.slack.listeners.origin import FormSeal
from bot.surfaces.slack.responses import ResponseUrls
from bot.triage.flows.deliveries import TriageFlows


@dataclass(frozen=True)
class SlackDeps:
    """What the listeners need: the use cases, where to post into threads, and the session
    replies to response_urls go over. Without `triage` the alert's triage buttons answer
    that triage is not available. With `handover` (a web process with workers) slash
    commands are handed to the workers rather than run here."""

    flows: MonitorFlows
    transport: Transport
    replies: ResponseUrls
    triage: TriageFlows | None = None
    handover: CommandHandover | None = None


def register(app: AsyncApp, deps: SlackDeps, seal: FormSeal) -> None:
    """Every Bolt listener (slash commands have none: the front takes them before Bolt);
    `seal` signs what a modal keeps in its private_metadata."""
    from bot.surfaces.slack.listeners import actions, home

    actions.register(app, deps, seal)
    home.register(app, deps)
