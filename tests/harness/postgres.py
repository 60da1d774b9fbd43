"""A throwaway PostgreSQL server for store tests: a container in docker mode, else a cluster
made with the machine's own `initdb` (Debian's postgresql package, installed by scripts/test.sh)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.processes import free_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL server binaries not found: scripts/test.sh installs Debian's postgresql")


def _as_owner(argv: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


@contextmanager
def local_postgres() -> Iterator[str]:
    bindir = _bindir()
    owner = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    # Not under pytest's tmp dirs: those are private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="dp-pg-"))
    data = base / "pgdata"
    data.mkdir(parents=True)
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chown(data, pw.pw_uid, pw.pw_gid)
    port = free_port()

    def run(argv: list[str]) -> None:
        subprocess.run(_as_owner(argv, owner), check=True, capture_output=True)

    run([str(bindir / "initdb"), "-D", str(data), "-U", "dp", "--auth=trust", "-E", "UTF8"])
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    run([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "pg.log"), "-w", "start"])
    try:
        yield f"postgresql+psycopg://dp@127.0.0.1:{port}/postgres"
    finally:
        run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def container_postgres() -> Iterator[str]:
    from testcontainers.community.postgres import PostgresContainer

    from tests.harness.containers import POSTGRES_IMAGE

    with PostgresContainer(POSTGRES_IMAGE, driver="psycopg") as pg:
        yield pg.get_connection_url()


@contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on the shared server, dropped afterwards: a store under test sees
    no other test's rows (cursors, counters)."""
    import uuid

    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
