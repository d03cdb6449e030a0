"""Backups of the whole database, and their restore into an empty one (docs/operations.md).

SQLite is copied with its online backup API: a consistent copy while the app keeps writing.
PostgreSQL is dumped by `pg_dump` in its custom format (compressed, restored table by table
by `pg_restore`): the tools PostgreSQL itself keeps exact across its versions, not a dump of
our own making. A restore goes into an empty database only, then migrates it to the schema
this code runs (a backup taken before an upgrade) and runs `verify`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from portal.core import migrate
from portal.core.db import get_engine
from portal.core.errors import PortalError

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"PGDMP"


class BackupError(PortalError):
    """A backup or restore that cannot be done as asked; nothing was changed."""


@dataclass(frozen=True)
class Backup:
    path: Path
    kind: str  # "sqlite" or "postgresql"
    size: int


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return Path(url.database)


def _sqlite_copy(source_path: Path, target_path: Path) -> None:
    """SQLite's online backup API: a consistent copy of a database that may be in use."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq address of `url` for pg_dump and pg_restore, and their environment: the
    password goes in PGPASSWORD, never on a command line the process list shows."""
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    address = url.set(drivername="postgresql", password=None, query={})
    return address.render_as_string(hide_password=False), environment


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: PostgreSQL backups use PostgreSQL's own tools "
            "(Debian: apt install postgresql-client, of the server's major version or newer)."
        )
    return found


def _run(command: list[str], environment: dict[str, str]) -> None:
    # The command is PostgreSQL's own tool found on PATH, with our arguments: no shell.
    done = subprocess.run(  # noqa: S603
        command, env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")


def backup(database_url: str, out: Path) -> Backup:
    """Write a backup of the database at `database_url` to `out` (which must not exist)."""
    url = make_url(database_url)
    if out.exists():
        raise BackupError(
            f"{out} already exists: choose a new file (backups are never overwritten)."
        )
    partial = out.with_name(out.name + ".partial")
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_copy(_sqlite_path(url), partial)
            kind = "sqlite"
        elif url.get_backend_name() == "postgresql":
            address, environment = _libpq(url)
            _run(
                [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", address],
                environment,
            )
            kind = "postgresql"
        else:
            raise BackupError(f"No backup for a {url.get_backend_name()} database.")
        os.chmod(partial, 0o600)  # it holds every partner's (encrypted) bank details
        partial.rename(out)  # a file named as asked is a whole backup
    finally:
        partial.unlink(missing_ok=True)
    return Backup(out, kind, out.stat().st_size)


def kind_of(path: Path) -> str:
    """What a backup file holds, by its first bytes."""
    try:
        with path.open("rb") as source:
            head = source.read(len(SQLITE_HEADER))
    except OSError as error:
        raise BackupError(f"Cannot read {path}: {error.strerror}.") from None
    if head.startswith(SQLITE_HEADER):
        return "sqlite"
    if head.startswith(PG_DUMP_HEADER):
        return "postgresql"
    raise BackupError(f"{path} is not a backup made by `python -m portal backup`.")


def _is_empty(database_url: str) -> bool:
    engine = get_engine(database_url)
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def restore(path: Path, database_url: str) -> None:
    """Restore the backup at `path` into the empty database at `database_url`, then migrate
    it to this code's schema. Refused, with nothing written, for a database that holds
    tables or for a backup of the other kind of database."""
    kind = kind_of(path)
    url = make_url(database_url)
    backend = url.get_backend_name()
    if kind != backend:
        raise BackupError(
            f"{path} is a {kind} backup; the database is {backend}. Restore into the kind of "
            "database it was taken from (moving between them is an export and import)."
        )
    if backend == "sqlite" and not _sqlite_path(url).exists():
        _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    elif not _is_empty(database_url):
        raise BackupError(
            "The database is not empty: restore into a new, empty database (then point "
            "DATABASE_URL at it), so that nothing of what is there is mixed or lost."
        )
    if backend == "sqlite":
        _sqlite_copy(path, _sqlite_path(url))
    else:
        address, environment = _libpq(url)
        _run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={address}",
                str(path),
            ],
            environment,
        )
    get_engine(database_url).dispose()  # connections opened before the restore saw no tables
    migrate.upgrade(get_engine(database_url))
