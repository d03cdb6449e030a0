"""Migrations: up from empty and down to nothing on both databases; models match the schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.core import migrate
from portal.core.db import get_engine
from portal.core.models import Base
from tests.conftest import (
    create_postgres_database,
    create_sqlite_database,
    drop_postgres_database,
    require_postgres,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    if request.param == "postgresql":
        require_postgres()
        url = create_postgres_database()
    else:
        url = create_sqlite_database(tmp_path)
    engine = get_engine(url)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_upgrade_head_then_downgrade_base(empty_engine):
    migrate.upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with empty_engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() is not None
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert differences == []
    migrate.downgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(empty_engine)  # and back up again, cleanly
    assert set(Base.metadata.tables) <= set(inspect(empty_engine).get_table_names())
