"""Engine creation and schema migration (Alembic, applied at start, quietly: `migrate`
returns the revisions it applied for the caller to report)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, Row, Table, create_engine, event, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from bot.core.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def insert_unless_present(
    dialect: str, table: Table | type[Any], key: str
) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT (`key`) DO NOTHING in the dialect's own words (SQLite or
    PostgreSQL): a row another transaction made first is left as it is."""
    make = sqlite.insert if dialect == "sqlite" else postgresql.insert
    return make(table).on_conflict_do_nothing(index_elements=[key])


def claim_open_rows(
    connection: Connection,
    table: Table,
    columns: list[Column[Any]],
    *,
    oldest_first: list[Column[Any]],
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Row[Any]]:
    """Up to `limit` rows of a work queue (`done_at`, `claimed_until`) that are open and
    not leased, oldest first, leased to the caller until `now + lease`: a claimer that dies
    leaves them to another once it passes. On PostgreSQL the rows another transaction is
    claiming are passed over (SKIP LOCKED), never waited for nor taken twice."""
    query = (
        select(table.c.id, *columns)
        .where(table.c.done_at.is_(None), or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))
        .order_by(*oldest_first)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(connection.execute(query).all())
    if rows:
        connection.execute(
            update(table).where(table.c.id.in_([row.id for row in rows])).values(claimed_until=now + lease)
        )
    return rows


def one_writer_at_a_time(connection: Connection, key: int, name: str) -> None:
    """Until the transaction ends, no other transaction that asks the same (`key`, `name`)
    gets past this: a check-then-write (a channel's quota, "is it monitored yet?") is not
    raced by a second one. On SQLite the whole database (BEGIN IMMEDIATE: it must be the
    transaction's first statement); on PostgreSQL an advisory lock for `name` only."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(:name))"), {"key": key, "name": name}
        )


def normalise_database_url(url: str) -> str:
    """Accept the URLs operators paste (postgres://, postgresql://) and pick our driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_database_engine(url: str) -> Engine:
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # How long a write waits for another connection's lock before "database is locked":
        # `?timeout=<seconds>` on the URL, 30 s by default.
        try:
            busy_timeout = float(str(parsed.query.get("timeout", "30")))
        except ValueError:
            raise ConfigError("DATABASE_URL: timeout= must be a number of seconds") from None
        if parsed.database and parsed.database != ":memory:":
            # The data folder may not exist yet on a fresh machine.
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed.difference_update_query(["timeout"]),
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
        )
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout=busy_timeout))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout: float) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> list[str]:
    """Bring the schema to the newest revision (idempotent; safe with several processes
    on PostgreSQL because Alembic's version row is updated in the migration transaction).
    Returns the revisions applied, oldest first, as `id: message` (empty: up to date)."""
    config = alembic_config(engine)
    before = current_revision(engine)
    command.upgrade(config, "head")
    after = current_revision(engine)
    if after == before or after is None:
        return []
    script = ScriptDirectory.from_config(config)
    applied = list(script.iterate_revisions(after, before or "base"))
    return [f"{rev.revision}: {rev.doc}" for rev in reversed(applied) if rev.revision != before]


def current_revision(engine: Engine) -> str | None:
    """The schema's revision now; None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def database_label(url: str) -> str:
    """Which database, for a line on the terminal: the SQLite file, or the URL without
    its password."""
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {Path(parsed.database or ':memory:').expanduser()}"
    return parsed.render_as_string(hide_password=True)
