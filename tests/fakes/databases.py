"""Database fixtures: every storage test runs on SQLite and on the real PostgreSQL.

PostgreSQL is never skipped silently: if it does not answer, the tests fail and say how
to start it (`make services`). Each test gets its own schema, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate, normalise_database_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/watchpost_test"


def postgres_url() -> str:
    return os.environ.get("WATCHPOST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    engine = create_engine(normalise_database_url(postgres_url()), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {postgres_url()} ({exc.__class__.__name__}); run `make services`"
        )
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_schema_url(postgres_admin: Engine) -> Iterator[str]:
    """A database URL whose search_path is a fresh schema of its own."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = normalise_database_url(postgres_url())
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'watchpost.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(migrated_engine: Engine) -> Database:
    return Database(migrated_engine)
