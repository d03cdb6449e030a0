"""Factories: a partner, a user, an actor or a lead in one line, through the real services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import xmlschema
from sqlalchemy import update
from sqlalchemy.orm import Session

from portal.accounts.users import add_user
from portal.core.access import Actor, load_actor
from portal.core.models import Commission, Lead, Partner, PartnerProfile, PartnerStatus, Role
from portal.core.pagination import Page
from portal.core.types import utc_now
from portal.leads import leads
from portal.reporting import statistics

_numbers = itertools.count(1)
PASSWORD = "correct horse battery staple"


def make_partner(
    session: Session,
    *,
    status: PartnerStatus = PartnerStatus.ACTIVE,
    company_name: str | None = None,
    email: str | None = None,
) -> Partner:
    """A partner company with an empty profile."""
    number = next(_numbers)
    partner = Partner(
        company_name=company_name or f"Partner Co {number}",
        email=email or f"team@partner{number}.example",
        status=status,
    )
    session.add(partner)
    session.flush()
    statistics.count_partner(session, status=status, delta=1)
    session.add(PartnerProfile(partner_id=partner.id))
    session.flush()
    return partner


def make_actor(
    session: Session,
    *,
    role: Role = Role.PARTNER,
    partner: Partner | None = None,
    status: PartnerStatus = PartnerStatus.ACTIVE,
    username: str | None = None,
    password: str = PASSWORD,
) -> Actor:
    """A user (of a new partner company, unless one is given) and its actor."""
    if role is Role.PARTNER and partner is None:
        partner = make_partner(session, status=status)
    number = next(_numbers)
    user = add_user(
        session,
        username=username or f"{role.value}{number}",
        display_name=f"{role.value.title()} User {number}",
        email=f"user{number}@example.com",
        password=password,
        role=role,
        partner_id=partner.id if partner else None,
    )
    return load_actor(session, user_id=user.id)


def make_manager(session: Session) -> Actor:
    return make_actor(session, role=Role.MANAGER)


def make_lead(session: Session, actor: Actor, **overrides: Any) -> leads.LeadView:
    """A freshly registered lead with a unique client."""
    number = next(_numbers)
    fields: dict[str, Any] = {
        "client_name": f"Client {number}",
        "client_email": f"client{number}@client{number}.example",
        "service": "SEO",
    }
    fields.update(overrides)
    return leads.register_lead(session, actor=actor, **fields)


def make_converted_lead(
    session: Session,
    manager: Actor,
    partner: Actor,
    deal_value: str = "1000.00",
    **overrides: Any,
) -> leads.LeadView:
    """A lead of `partner`, qualified and converted by `manager` with this deal value."""
    lead = make_lead(session, partner, **overrides)
    qualified = leads.change_lead_status(
        session, actor=manager, lead_id=lead.id, to="qualified", expected_version=lead.version
    )
    return leads.change_lead_status(
        session,
        actor=manager,
        lead_id=lead.id,
        to="converted",
        expected_version=qualified.version,
        deal_value=deal_value,
    )


# The smallest file the tax-form upload takes as a PDF: the header and the end marker.
TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def verify_tax_form(session: Session, partner: Actor, form: str = "W-9") -> None:
    """Give a partner a verified tax form on file, as the upload and a manager's review do."""
    from portal.money import tax_forms

    document = tax_forms.submit_tax_form(
        session, actor=partner, form=form, file_name="form.pdf", content=TINY_PDF
    )
    tax_forms.review_tax_form(
        session, actor=Actor.operator(), document_id=document.id, decision="verified"
    )


def payable_profile(session: Session, partner: Actor, method: str = "paypal") -> None:
    """Give a partner everything a payout needs: method, its details, a verified tax form."""
    from portal.partners import profiles

    profiles.update_profile(
        session,
        actor=partner,
        password=PASSWORD,
        changes={
            "payment_method": method,
            "payment_email": "pay@partner.example",
            "bank_account": "GB29NWBK60161331926819",
            "address": "1 Main Street",
            "city": "Springfield",
            "zip": "12345",
            "country": "US",
        },
    )
    verify_tax_form(session, partner)


def backdate_lead(session: Session, lead_id: int, age: timedelta) -> None:
    """Make a lead `age` old, with its month's rollups moved along (as if it had been
    registered then), so a later move of the lead finds its counts whatever today's date."""
    lead = session.get_one(Lead, lead_id)
    registered = utc_now() - age
    statistics.count_lead(
        session,
        partner_id=lead.partner_id,
        created_at=lead.created_at,
        status=lead.status,
        delta=-1,
    )
    statistics.count_lead(
        session, partner_id=lead.partner_id, created_at=registered, status=lead.status, delta=1
    )
    session.execute(update(Lead).where(Lead.id == lead_id).values(created_at=registered))
    session.expire(lead)


def ids_page_by_page(page_after: Callable[[str | None], Page[Any]]) -> list[int]:
    """The ids of every item of a listing, read one page after another from the first
    (`page_after(cursor)` reads the page after a cursor, None for the first)."""
    seen: list[int] = []
    cursor = None
    while True:
        page = page_after(cursor)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


CAMT_053_002 = xmlschema.XMLSchema(str(Path(__file__).parent / "schemas" / "camt.053.001.02.xsd"))
DEBTOR_IBAN = "DE89370400440532013000"  # the demo program's paying account


def camt053(entries, *, account=DEBTOR_IBAN, currency="USD", booked=None):
    """A camt.053.001.02 statement with one entry per (end-to-end id, amount[, currency,
    credit/debit, status]), valid against the ISO 20022 schema."""
    booked = booked or utc_now().date()
    rows = []
    for number, entry in enumerate(entries, start=1):
        end_to_end, amount, *rest = entry
        ccy = rest[0] if rest else currency
        sign = rest[1] if len(rest) > 1 else "DBIT"
        status = rest[2] if len(rest) > 2 else "BOOK"
        rows.append(
            f"""<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>
<Sts>{status}</Sts><BookgDt><Dt>{booked.isoformat()}</Dt></BookgDt>
<ValDt><Dt>{booked.isoformat()}</Dt></ValDt><AcctSvcrRef>BANK-{number:04d}</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
</BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>{escape(end_to_end)}</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="{ccy}">{amount}</Amt></TxAmt></AmtDtls></TxDtls></NtryDtls></Ntry>"""
        )
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
<BkToCstmrStmt><GrpHdr><MsgId>STMT-1</MsgId><CreDtTm>{booked.isoformat()}T18:00:00</CreDtTm>
</GrpHdr><Stmt><Id>STMT-1-1</Id><CreDtTm>{booked.isoformat()}T18:00:00</CreDtTm>
<Acct><Id><IBAN>{account}</IBAN></Id></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">100000.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{booked.isoformat()}</Dt></Dt></Bal>
{"".join(rows)}</Stmt></BkToCstmrStmt></Document>"""
    CAMT_053_002.validate(xml)  # the test's own statement is what a bank would send
    return xml.encode()


GERMAN_IBAN = {
    "payment_method": "bank_transfer",
    "bank_account": "DE89370400440532013000",
    "country": "DE",
}


def owed_partner(
    session: Session, manager: Actor, changes: dict[str, Any], deal: str = "1000.00"
) -> Actor:
    """A partner with these profile details and a verified tax form, owed the commission of
    one conversion whose hold is over (every open line's hold is ended)."""
    from portal.partners import profiles

    partner = make_actor(session)
    profiles.update_profile(session, actor=partner, password=PASSWORD, changes=changes)
    verify_tax_form(session, partner)
    make_converted_lead(session, manager, partner, deal)
    session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    return partner
