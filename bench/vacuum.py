"""A stand-in for PostgreSQL's autovacuum, for servers that run without it.

This machine's PostgreSQL is configured for CI with `autovacuum = off`. Without it no
table is ever analysed, so after the first thousands of rows the planner still thinks
`facts` is empty and reads it whole for every batch, and dead row versions pile up:
the benchmark would measure a server nobody runs. When the server's autovacuum is off,
this runs `VACUUM (ANALYZE)` every `every` seconds in a thread of the benchmark (not of
the measured process), as autovacuum would; when it is on, it does nothing."""

from __future__ import annotations

import threading
from types import TracebackType

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.storage.engine import normalise_database_url


class AutovacuumStandIn:
    def __init__(self, database_url: str, *, every: float = 20.0) -> None:
        self.url = database_url
        self.every = every
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> AutovacuumStandIn:
        if make_url(normalise_database_url(self.url)).get_backend_name() != "postgresql":
            return self
        self._engine = create_engine(normalise_database_url(self.url), isolation_level="AUTOCOMMIT")
        with self._engine.connect() as connection:
            if connection.execute(text("SHOW autovacuum")).scalar() == "on":
                return self  # the server does it
        self.vacuum()  # what autovacuum would have done after the bulk load
        self._thread = threading.Thread(target=self._run, name="autovacuum stand-in", daemon=True)
        self._thread.start()
        return self

    def vacuum(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
        self.runs += 1

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.vacuum()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._engine.dispose()
