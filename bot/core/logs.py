"""Logging setup: one format, and a filter that scrubs every configured secret."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path


class SecretScrubber(logging.Filter):
    """Replaces secret values anywhere in a formatted record (message, args, traceback)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg, record.args = self.scrub(message), None
            if record.exc_text:
                record.exc_text = self.scrub(record.exc_text)
        return True


class OverlappingRunsSkipped(logging.Filter):
    """Drops APScheduler's warning that a job's run was skipped because its last run is
    still going: every job runs one at a time by design (a tick is a "look again", not a
    promise), so under load a 0.1 s tick would say so ten times a second."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "skipped: maximum number of running instances reached" not in record.getMessage()


def configure_logging(level: str, secrets: Iterable[str], *, log_file: Path | None = None) -> None:
    """Log to stderr, or to `log_file` (the console: a warning printed over the prompt would
    break the line being typed)."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler()
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretScrubber(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # Libraries that log request URLs or headers at debug level stay at warning; Alembic's
    # INFO lines (its context and plugins, every start) say nothing an operator needs:
    # `watchpost migrate` reports what it applied.
    for noisy in ("apscheduler", "aiohttp.access", "slack_bolt", "slack_sdk", "alembic", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, OverlappingRunsSkipped) for f in scheduler_log.filters):
        scheduler_log.addFilter(OverlappingRunsSkipped())
