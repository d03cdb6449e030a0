"""Bulk registration from CSV: valid rows in, each refused row explained, bad files refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import imports
from portal.db import unit_of_work
from portal.errors import PermissionDenied, ValidationError
from portal.models import Lead, PartnerStatus
from tests.factories import make_actor


def _count(engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(Lead)) or 0


def test_valid_rows_are_registered_and_refused_rows_explained(engine):
    data = (
        b"Client Name,client_email,service,client_phone,company\n"
        b"Ada Lovelace,ada@engines.example,SEO,+44 20 7946 0958,Engines Ltd\n"
        b"No Email,,SEO,,\n"
        b"Bad Service,bad@x.example,Astrology,,\n"
        b'"Quoted, Name",quoted@x.example,Branding,,"Comma, Inc"\n'
        b"Dup Again,ADA@engines.example,SEO,,\n"
        b"Short Row,short@x.example\n"
        b"\n"
    )
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        result = imports.import_leads_csv(session, actor=partner, data=data)
    assert [line for line, _ in result.imported] == [2, 5]
    refused = dict(result.refused)
    assert "client_email: Client email is required." in refused[3]
    assert "service: Service must be one of" in refused[4]
    assert "already registered on" in refused[6]
    assert refused[7] == "has 2 values; the header has 5"
    assert _count(engine) == 2


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"client_name,client_email,service\n" + b"x" * 1_000_001, "the limit is 1 MB"),
        (
            "client_name,client_email,service\nJos\xe9,j@x.example,SEO\n".encode("latin-1"),
            "not UTF-8",
        ),
        (b'client_name,client_email,service\n"unclosed,a@x.example,SEO\n', "quoting is broken"),
        (b"", "The file is empty."),
        (b"name,email\nA,a@x.example\n", "missing: client_name, client_email, service"),
        (b"client_name,client_email,service,secret\nA,a@x.example,SEO,1\n", "unknown: secret"),
        (
            b"client_name,client_email,service\n" + b"A,a@x.example,SEO\n" * 1001,
            "more than 1000 rows",
        ),
        (b"client_name,client_email,service\nA\x00,a@x.example,SEO\n", "NUL bytes"),
    ],
)
def test_unreadable_files_are_refused_whole_and_nothing_is_written(engine, data, fragment):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        imports.import_leads_csv(session, actor=partner, data=data)
    assert fragment in raised.value.errors["file"]
    assert _count(engine) == 0


def test_utf8_with_bom_and_excel_line_ends_are_accepted(engine):
    data = "\ufeffclient_name,client_email,service\r\nJosé Núñez,jose@x.example,SEO\r\n"
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        result = imports.import_leads_csv(session, actor=partner, data=data.encode())
        assert len(result.imported) == 1
        assert session.scalar(select(Lead.client_name)) == "José Núñez"


def test_only_active_partners_import(engine):
    with unit_of_work(engine) as session:
        pending = make_actor(session, status=PartnerStatus.PENDING)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        imports.import_leads_csv(session, actor=pending, data=imports.TEMPLATE.encode())
