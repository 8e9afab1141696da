"""Alembic environment: the engine comes from the caller (bot.storage.engine.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from bot.storage.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through bot.storage.engine.migrate()")

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild a table (copy, drop, rename); with foreign keys on,
        # dropping the old copy would cascade-delete every row that references it.
        # Only outside a transaction does SQLite take this pragma.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Several processes may start at once: one migrates, the others wait here.
                # Keyed by schema, so databases sharing a server do not wait for each other.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274, hashtext(current_schema()))")
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
