"""Schema migrations (Alembic) run from code: the CLI, first start and the tests use this."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config bound to an engine (default: the configured database)."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["configure_logging"] = False
    config.attributes["engine"] = engine or get_engine()
    return config


def _run(engine: Engine | None, action: str, revision: str) -> None:
    config = alembic_config(engine)
    with config.attributes["engine"].begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    """Take the schema down to `revision`."""
    _run(engine, "downgrade", revision)


@cache  # the migrations shipped with this code: fixed for the life of the process
def head_revision() -> str | None:
    """The newest revision this code's migrations reach."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database's schema is at (None before the first migration)."""
    return MigrationContext.configure(connection).get_current_revision()
