"""`watchpost serve|console|check|migrate|config`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.config import Settings
from bot.errors import ConfigError, IndicatorError
from bot.logs import configure_logging

log = logging.getLogger("watchpost")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="watchpost", description="Watch domains and IPs; alert on change.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("console", help="try every command in the terminal, no Slack needed (default)")
    sub.add_parser("serve", help="run the Slack bot (HTTP or Socket Mode) and its worker processes")
    sub.add_parser(
        "worker", help="run checks, deliveries and digests only (serve starts one; add more to scale)"
    )
    check = sub.add_parser("check", help="check one indicator now and print what was seen")
    check.add_argument("indicator")
    sub.add_parser(
        "digest",
        help="post the daily digests that are due (to Slack with SLACK_BOT_TOKEN, else print them)",
    )
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("config", help="print the settings in effect (secrets masked)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"watchpost: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level if args.command in ("serve", "worker") else "WARNING", settings.secrets()
    )
    command = args.command or "console"
    try:
        if command == "config":
            for name, value in settings.describe().items():
                print(f"{name} = {value}")
            return 0
        if command == "migrate":
            from bot.storage.engine import create_database_engine, migrate

            migrate(create_database_engine(settings.database_url))
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


async def _console(settings: Settings) -> int:
    from bot.composition import build_services
    from bot.console import ConsoleTransport, run_console

    services = build_services(settings, ConsoleTransport(sys.stdout))
    try:
        await run_console(services)
    finally:
        await services.aclose()
    return 0


async def _check(settings: Settings, text: str) -> int:
    from bot.composition import build_services
    from bot.console import ConsoleTransport
    from bot.model.indicators import parse_indicator
    from bot.render.replies import build_check_message
    from bot.render.text import render_text

    try:
        indicator = parse_indicator(text)
    except IndicatorError as exc:
        print(f"watchpost: {exc}", file=sys.stderr)
        return 2
    services = build_services(settings, ConsoleTransport(sys.stdout))
    try:
        subject = await services.store.run(services.store.store.get_subject, indicator.value)
        if subject is None:
            # Not monitored: look without storing anything.
            observations = await services.runner.collect(indicator.value, indicator.kind)
            for observation in observations:
                print(f"{observation.dataset}:")
                for fact in sorted(observation.facts):
                    print(f"  {fact.field} {fact.value}" + (f"  ({fact.source})" if fact.source else ""))
                for failure in observation.failures:
                    print(f"  ! {failure.source}: {failure.message}")
            print("(not monitored: nothing stored; `/monitor` it to keep a baseline)")
            return 0
        report = await services.runner.check(subject)
        failed = sorted({f.source for o in report.outcomes for f in o.observation.failures})
        print(render_text(build_check_message(indicator.value, report.changes, failed=failed)))
        await services.outbox.deliver_due()
        return 0
    finally:
        await services.aclose()


async def _digest(settings: Settings) -> int:
    """The scheduler's digest job, once: for operators who run digests from cron. Claims
    make it safe beside running `watchpost serve` processes (each digest posts once)."""
    from bot.composition import build_services
    from bot.console import ConsoleTransport
    from bot.delivery.transport import Transport
    from bot.slack.transport import SlackTransport, build_web_client

    transport: Transport = (
        SlackTransport(build_web_client(settings))
        if settings.slack_bot_token
        else ConsoleTransport(sys.stdout)
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
