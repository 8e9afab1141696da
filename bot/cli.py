"""`watchpost serve|console|check|digest|migrate|config`: the command line.

Every command that opens the database first says which one, on stderr. Exit codes: 0 done;
1 done but something failed (`check`: no dataset could be read; `digest`: a digest not
posted); 2 bad input or configuration; 130 interrupted."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Setting, Settings, declarations, explain
from bot.core.errors import ConfigError, IndicatorError
from bot.core.logs import configure_logging

if TYPE_CHECKING:
    from bot.core.observations import Observation

log = logging.getLogger("watchpost")

_COMMANDS = {
    "console": (
        "try every command and button in the terminal, no Slack needed (the default)",
        "Type what you would type in Slack (/monitor …); alerts, digests and investigations print "
        "as they come, every button is numbered (type its number), files are saved under "
        "WATCHPOST_FILES_DIR.",
    ),
    "serve": (
        "run the Slack bot (HTTP or Socket Mode) and its worker processes",
        "Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket "
        "Mode). Listens on WATCHPOST_HOST:WATCHPOST_PORT (loopback by default); starts "
        "WATCHPOST_WORKERS `watchpost worker` processes for checks, deliveries and digests.",
    ),
    "worker": (
        "run checks, deliveries and digests only (serve starts one; add more to scale)",
        "Needs SLACK_BOT_TOKEN. Several workers share the work through the database "
        "(PostgreSQL for more than one host).",
    ),
    "check": (
        "check one indicator now and print what each dataset sees",
        "Stored only if the indicator is monitored (then changes alert as usual). Exits 1 when "
        "no dataset could be read, 2 for an indicator that cannot be monitored.",
    ),
    "digest": (
        "post the daily digests that are due (Slack with SLACK_BOT_TOKEN, else print them)",
        "For cron; safe beside running `watchpost serve` processes: each digest posts once. "
        "Exits 1 if a digest could not be posted.",
    ),
    "migrate": (
        "create or upgrade the database schema and say what was applied",
        "Every other command migrates too; this one only migrates.",
    ),
    "config": (
        "list every setting: value in effect (secrets masked), where it came from, meaning",
        "Values come from the environment, a default, or are derived (the resolver from "
        "/etc/resolv.conf, the database from WATCHPOST_DATA_DIR).",
    ),
}


def every_setting() -> tuple[Setting, ...]:
    """The whole table: the core settings (bot/config.py), then those a room declares beside
    its code (a stage's or dataset's `SETTINGS`). bot.config is the lowest layer and never
    imports them; this, the entry point, is the one place that knows every room."""
    from bot.alerts.pipeline import same_asn

    return (*declarations(), *same_asn.SETTINGS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="watchpost",
        description="Watch domains and IPs for a Slack channel; alert on change.",
        epilog="Settings come from the environment: `watchpost config` lists them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {
        name: sub.add_parser(name, help=summary, description=f"{summary[0].upper()}{summary[1:]}. {more}")
        for name, (summary, more) in _COMMANDS.items()
    }
    parsers["check"].add_argument("indicator", help="a domain, IP or URL (defanged is fine)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(declared=every_setting())
    except ConfigError as exc:
        print(f"watchpost: configuration error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "console"
    configure_logging(
        settings.log_level if command in ("serve", "worker") else "WARNING",
        settings.secrets(every_setting()),
        log_file=console_log(settings) if command == "console" else None,
    )
    try:
        _say_database(settings)  # `config` too: which database is the first thing to know
        if command == "config":
            return _config(settings)
        if command == "migrate":
            from bot.storage.engine import create_database_engine, migrate

            engine = create_database_engine(settings.database_url)
            try:
                applied = migrate(engine)
            finally:
                engine.dispose()
            for revision in applied:
                print(f"applied {revision}")
            print(f"schema up to date ({len(applied)} migration{'s' * (len(applied) != 1)} applied)")
            return 0
        if command == "check":
            return asyncio.run(_check(settings, args.indicator))
        if command == "digest":
            return asyncio.run(_digest(settings))
        if command == "serve":
            return _serve(settings)
        if command == "worker":
            return _worker(settings)
        return asyncio.run(_console(settings))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`watchpost config | head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def console_log(settings: Settings) -> Path:
    """Where the console's log lines go: beside its database, never over its prompt."""
    return settings.data_dir / "console.log"


def _say_database(settings: Settings) -> None:
    from bot.storage.engine import database_label

    print(f"watchpost: database {database_label(settings.database_url)}", file=sys.stderr)


def _config(settings: Settings) -> int:
    from bot.monitoring.dns_mux import system_nameservers

    variables = explain(settings, system_nameservers=system_nameservers, declared=every_setting())
    width = max(len(v.name) for v in variables)
    for variable in variables:
        value = variable.value if variable.value != "" else "(not set)"
        print(f"{variable.name:<{width}}  {value}")
        print(f"{'':<{width}}    {variable.source} · {variable.meaning}")
    return 0


async def _console(settings: Settings) -> int:
    from bot.composition import build_services
    from bot.surfaces.console import ConsoleTransport, run_console

    # One local user: the per-person command rate limit protects Slack, not a terminal.
    settings = dataclasses.replace(settings, command_rate=0)
    screen = ConsoleTransport(sys.stdout, files_dir=settings.files_dir)
    print(f"watchpost: log lines go to {console_log(settings)}", file=sys.stderr)
    services = build_services(settings, screen)
    try:
        await run_console(services, screen)
    finally:
        await services.aclose()
    return 0


async def _check(settings: Settings, text: str) -> int:
    from bot.commands.messages.replies import build_check_message
    from bot.composition import build_services
    from bot.core.indicators import parse_indicator
    from bot.core.text import render_text
    from bot.surfaces.console import ConsoleTransport

    try:
        indicator = parse_indicator(text)
    except IndicatorError as exc:
        print(f"watchpost: {exc}", file=sys.stderr)
        return 2
    # Alerts the check delivers print without buttons: nothing here can press them.
    screen = ConsoleTransport(sys.stdout, files_dir=settings.files_dir, buttons=False)
    services = build_services(settings, screen)
    try:
        subject = await services.db.run(services.db.monitors.subject, indicator.value)
        if subject is None:
            # Not monitored: look without storing anything.
            observations = await services.runner.collect(indicator.value, indicator.kind)
            _print_observations(observations)
            print("(not monitored: nothing stored; `/monitor` it to keep a baseline)")
        else:
            report = await services.runner.check(subject)
            observations = [outcome.observation for outcome in report.outcomes]
            _print_observations(observations)
            failed = sorted({f.source for o in observations for f in o.failures})
            await services.outbox.deliver_due()
            ids = sorted({v.outbox_id for v in report.verdicts if v.outbox_id is not None})
            delivered = await services.db.run(services.db.outbox.delivered, ids) if ids else {}
            reply = build_check_message(
                indicator.value,
                report.changes,
                failed=failed,
                verdicts=report.verdicts,
                delivered=delivered,
                nothing_read=report.nothing_read,
            )
            print(render_text(reply))
    finally:
        await services.aclose()
    if observations and all(o.failed for o in observations):
        print("watchpost: no dataset could be read (see the ! lines)", file=sys.stderr)
        return 1
    return 0


def _print_observations(observations: Sequence[Observation]) -> None:
    for observation in observations:
        print(f"{observation.dataset}:")
        for fact in sorted(observation.facts):
            print(f"  {fact.field} {fact.value}" + (f"  ({fact.source})" if fact.source else ""))
        for failure in observation.failures:
            print(f"  ! {failure.source}: {failure.message}")


async def _digest(settings: Settings) -> int:
    """The scheduler's digest job, once: for operators who run digests from cron. Claims
    make it safe beside running `watchpost serve` processes (each digest posts once)."""
    from bot.composition import build_services
    from bot.core.transport import Transport
    from bot.surfaces.console import ConsoleTransport
    from bot.surfaces.slack.transport import SlackTransport, build_web_client

    transport: Transport = (
        SlackTransport(build_web_client(settings))
        if settings.slack_bot_token
        else ConsoleTransport(sys.stdout, files_dir=settings.files_dir)
    )
    services = build_services(settings, transport)
    try:
        report = await services.digests.run_due()
    finally:
        await services.aclose()
    for outcome in ("posted", "skipped", "retried", "failed"):
        for channel, day in getattr(report, outcome):
            print(f"{outcome}: {channel} {day.isoformat()}")
    if not any((report.posted, report.skipped, report.retried, report.failed)):
        print("no digest is due")
    return 1 if report.failed or report.retried else 0


def _worker(settings: Settings) -> int:
    if not settings.slack_bot_token:
        print("watchpost worker needs SLACK_BOT_TOKEN (it posts alerts and digests).", file=sys.stderr)
        return 2
    from bot.worker import work

    return asyncio.run(work(settings))


def _serve(settings: Settings) -> int:
    if not (settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token)):
        print(
            "watchpost serve needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for "
            "Socket Mode). To try Watchpost without Slack, run `watchpost console`.",
            file=sys.stderr,
        )
        return 2
    from bot.server import serve

    return asyncio.run(serve(settings))
