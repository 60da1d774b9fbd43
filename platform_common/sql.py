"""SQL plumbing shared by the services' stores: engines, UTC timestamps, migrations, and running
blocking SQLAlchemy calls from asyncio. SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes on every backend (SQLite drops offsets)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine, migrations: Path, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default); safe to run at every start.

    On SQLite, Alembic changes a table by copying it into a new one and dropping the old; with
    foreign keys enforced, dropping a parent table that has rows deletes or refuses them. So
    foreign keys are off while migrating (SQLite allows that only outside a transaction) and
    checked as a whole before the migration commits: a migration that broke a reference fails."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration to {revision} broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def run_alembic_env(metadata: MetaData, service: str) -> None:
    """The body of every service's migrations/env.py: migrate on the connection handed over by
    `migrate`, with the service's own version table (services may share one PostgreSQL database
    and must not share migration history)."""
    from alembic import context

    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=metadata,
        render_as_batch=True,
        version_table=f"{service}_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


class SqlStore:
    """Runs blocking SQLAlchemy work in a dedicated pool; serializes writes on SQLite.

    SQLite has one writer: serializing writes here keeps every pool thread from blocking on the
    file lock. PostgreSQL writers run concurrently and rely on row locks and conditional updates.
    """

    def __init__(self, url: str, migrations: Path, pool_name: str) -> None:
        self.engine = make_engine(url)
        migrate(self.engine, migrations)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = url.startswith("sqlite")
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix=pool_name)
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write transaction. A cancelled caller (client deadline) does not cut it short:
        the thread finishes and the SQLite lock is held until it has, so no other writer can
        read state that a still-running transaction is about to change."""
        async with self._writing():
            future = asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await future
                raise

    def close(self) -> None:
        self.engine.dispose()
        self._pool.shutdown(wait=False)
