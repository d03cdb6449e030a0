"""Backups that restore: `python -m portal backup`, then `restore` into an empty database and
`verify`, on both databases; refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text, update

from portal.core import crypto, migrate, program
from portal.core.db import get_engine, unit_of_work
from portal.core.models import AuditEntry, Commission, Lead, Partner, ProgramSettingsVersion
from portal.core.types import utc_now
from portal.money import payouts
from portal.partners import profiles
from portal.tools import backup, rotate_key
from tests.conftest import (
    create_postgres_database,
    create_sqlite_database,
    drop_postgres_database,
)
from tests.factories import (
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    payable_profile,
)
from tests.tools.test_cli import _url, run_cli

COUNTED = (Partner, Lead, Commission, AuditEntry, ProgramSettingsVersion)


def _counts(url: str) -> dict[str, int]:
    with unit_of_work(get_engine(url)) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in COUNTED
        }


@pytest.fixture
def empty_url(engine, tmp_path):
    """A new empty database of the test's backend (dropped afterwards)."""
    if engine.dialect.name == "sqlite":
        yield create_sqlite_database(tmp_path)
        return
    url = create_postgres_database()
    yield url
    get_engine(url).dispose()
    drop_postgres_database(url)


def test_a_backup_restores_into_an_empty_database_and_verifies(engine, empty_url, tmp_path):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)  # encrypted payment details travel too
        make_lead(session, partner)
        make_converted_lead(session, manager, partner, "2500.00")
        program.change(
            session,
            actor=manager,
            changes={"hold_days": 0},
            reason="Backups keep the settings",
            based_on=0,
        )
        make_converted_lead(session, manager, partner, "1000.00")
        payouts.run_batch(session, actor=manager, cutoff=payouts.utc_now().date())
    source = _url(engine)
    out = tmp_path / "portal.backup"
    made = run_cli(source, "backup", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert backup.kind_of(out) == engine.dialect.name

    restored = run_cli(empty_url, "restore", str(out))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "the ledger, payouts and partner totals agree" in restored.stdout
    assert _counts(empty_url) == _counts(source)
    with unit_of_work(get_engine(empty_url)) as session:
        assert program.current(session).hold_days == 0
    with get_engine(empty_url).connect() as connection:
        assert migrate.current_revision(connection) == migrate.head_revision()


def test_restore_refuses_a_database_that_holds_tables_and_a_backup_of_the_other_kind(
    engine, tmp_path
):
    with unit_of_work(engine) as session:
        make_actor(session)
    out = tmp_path / "portal.backup"
    assert run_cli(_url(engine), "backup", "--out", str(out)).returncode == 0
    before = _counts(_url(engine))
    refused = run_cli(_url(engine), "restore", str(out))
    assert refused.returncode == 1
    assert "The database is not empty" in refused.stderr
    assert _counts(_url(engine)) == before

    again = run_cli(_url(engine), "backup", "--out", str(out))
    assert again.returncode == 1 and "never overwritten" in again.stderr

    other = (
        "postgresql+psycopg://x@127.0.0.1/x"
        if engine.dialect.name == "sqlite"
        else (create_sqlite_database(tmp_path))
    )
    refused = run_cli(other, "restore", str(out))
    assert refused.returncode == 1 and f"is a {engine.dialect.name} backup" in refused.stderr

    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    refused = run_cli(_url(engine), "restore", str(junk))
    assert refused.returncode == 1 and "is not a backup made by" in refused.stderr
    assert run_cli(_url(engine), "restore", str(tmp_path / "missing")).returncode == 1


def test_a_sqlite_backup_is_consistent_while_the_app_writes(tmp_path):
    """The online backup API copies a consistent state even with a write transaction open
    on the source (the app does not stop for a backup). SQLite's own: pg_dump works from a
    snapshot of its own."""
    url = create_sqlite_database(tmp_path)
    engine = get_engine(url)
    migrate.upgrade(engine)
    with unit_of_work(engine) as session:
        make_actor(session)
    with engine.connect() as writer:
        writer.execute(text("UPDATE partners SET company_name = 'Mid-write'"))  # not committed
        made = backup.backup(url, tmp_path / "during.backup")
        writer.rollback()
    copy = create_sqlite_database(tmp_path)
    backup.restore(made.path, copy)
    with unit_of_work(get_engine(copy)) as session:
        names = session.scalars(select(Partner.company_name)).all()
        assert names and "Mid-write" not in names


def test_rotate_key_re_encrypts_every_secret_so_the_old_key_can_go(engine, settings_override):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings_override(encryption_key=old)
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner, method="bank_transfer")  # IBAN and tax form PDF
        make_converted_lead(session, manager, partner, "2000.00")
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        payouts.run_batch(session, actor=manager, cutoff=utc_now().date())
        profiles.update_profile(
            session, actor=partner, changes={"tax_id": "123-45-6789", "tax_id_type": "ssn"}
        )
    columns = rotate_key._columns()
    assert {f"{table.name}.{column.name}" for table, column in columns} >= {
        "partner_profiles.bank_account_encrypted",
        "partner_profiles.tax_id",
        "payouts.bank_account_encrypted",
        "tax_form_documents.content_encrypted",
    }

    def tokens():
        with engine.connect() as connection:
            return {
                (table.name, column.name, row[0]): row[1]
                for table, column in columns
                for row in connection.execute(
                    select(*table.primary_key.columns, column).where(column.is_not(None))
                )
            }

    before = tokens()
    assert len({key[:2] for key in before}) >= 3  # secrets of several columns to rotate
    settings_override(encryption_key=f"{new},{old}")
    rotated = rotate_key.rotate_all(engine)
    assert sum(item.values for item in rotated) == len(before)
    settings_override(encryption_key=new)  # the old key retired: everything still reads
    after = tokens()
    assert after.keys() == before.keys()
    for key, token in after.items():
        assert token != before[key]
        clear_after = (
            crypto.decrypt_bytes(token) if isinstance(token, bytes) else crypto.decrypt(token)
        )
        settings_override(encryption_key=old)
        clear_before = (
            crypto.decrypt_bytes(before[key])
            if isinstance(token, bytes)
            else crypto.decrypt(before[key])
        )
        settings_override(encryption_key=new)
        assert clear_after == clear_before
