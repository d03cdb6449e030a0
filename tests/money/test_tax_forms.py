"""Tax forms: uploaded as checked PDFs, encrypted at rest, counted only once a manager
verified them, W-8 forms lapsing at the end of the third calendar year."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text, update

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, PartnerProfile, TaxDocumentStatus, TaxFormDocument
from portal.core.types import utc_now
from portal.messaging import notifications
from portal.money import commissions, tax_forms
from portal.partners import partners
from tests.factories import TINY_PDF, make_actor, make_manager


def _submit(session, partner, content=TINY_PDF, form="W-9", file_name="w9.pdf"):
    return tax_forms.submit_tax_form(
        session, actor=partner, form=form, file_name=file_name, content=content
    )


def _profile(session, partner):
    return session.scalar(
        select(PartnerProfile).where(PartnerProfile.partner_id == partner.partner_id)
    )


def test_an_upload_is_encrypted_and_counts_only_once_verified(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        document = _submit(session, partner, file_name="C:\\Users\\me\\my w9.pdf")
        assert (document.status, document.file_name) == (TaxDocumentStatus.SUBMITTED, "my w9.pdf")
        profile = _profile(session, partner)
        assert (profile.tax_form, profile.tax_form_pending) == (None, True)
        blockers = commissions.commission_summary(session, actor=partner).blockers
        assert "tax form awaits verification" in [blocker.reason for blocker in blockers]
        view, content = tax_forms.open_tax_form(session, actor=manager, document_id=document.id)
        assert content == TINY_PDF and view.sha256 == document.sha256
        verified = tax_forms.review_tax_form(
            session, actor=manager, document_id=document.id, decision="verified"
        )
        assert verified.status is TaxDocumentStatus.VERIFIED and verified.expires_on is None
        profile = _profile(session, partner)
        assert (profile.tax_form.value, profile.tax_form_pending) == ("W-9", False)
        told = notifications.list_notifications(session, actor=partner, limit=5)
        assert any("was verified" in note.message for note in told)
        actions = session.scalars(select(AuditEntry.action)).all()
        assert {"tax_form.submit", "tax_form.open", "tax_form.verified"} <= set(actions)
    with engine.connect() as connection:
        raw = connection.execute(text("SELECT content_encrypted FROM tax_form_documents")).scalar()
    assert b"%PDF" not in bytes(raw)


def test_a_rejection_needs_a_reason_and_tells_the_partner(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        document = _submit(session, partner)
        with pytest.raises(ValidationError) as raised:
            tax_forms.review_tax_form(
                session, actor=manager, document_id=document.id, decision="rejected"
            )
        assert "Say why" in raised.value.errors["reason"]
        rejected = tax_forms.review_tax_form(
            session,
            actor=manager,
            document_id=document.id,
            decision="rejected",
            reason="Not signed",
        )
        assert rejected.rejection_reason == "Not signed"
        assert _profile(session, partner).tax_form is None
        assert not _profile(session, partner).tax_form_pending
        told = notifications.list_notifications(session, actor=partner, limit=5)
        assert any("rejected: Not signed" in note.message for note in told)
        with pytest.raises(ValidationError, match="already rejected"):
            tax_forms.review_tax_form(
                session, actor=manager, document_id=document.id, decision="verified"
            )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 a zip file %%EOF", "not a PDF"),
        (b"<html>%PDF-1.4 %%EOF</html>", "not a PDF"),
        (b"%PDF-1.4 truncated, no end marker", "not a PDF"),
        (b"%PDF-1.4" + b"0" * (6 * 1024 * 1024) + b"%%EOF", "the limit is 5 MB"),
    ],
)
def test_anything_but_a_pdf_within_the_limit_is_refused_and_nothing_stored(
    engine, content, fragment
):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        _submit(session, partner, content=content)
    assert fragment in raised.value.errors["file"]
    with unit_of_work(engine) as session:
        assert session.scalar(select(TaxFormDocument.id)) is None
        assert not _profile(session, partner).tax_form_pending


def test_who_may_upload_open_and_review(engine):
    with unit_of_work(engine) as session:
        manager, owner, other = make_manager(session), make_actor(session), make_actor(session)
        document = _submit(session, owner)
        with pytest.raises(NotFound):
            tax_forms.open_tax_form(session, actor=other, document_id=document.id)
        assert tax_forms.list_tax_forms(session, actor=other) == []
        with pytest.raises(NotFound):
            tax_forms.list_tax_forms(session, actor=other, partner_id=owner.partner_id)
        with pytest.raises(PermissionDenied):
            tax_forms.review_tax_form(
                session, actor=owner, document_id=document.id, decision="verified"
            )
        assert tax_forms.open_tax_form(session, actor=owner, document_id=document.id)[1]
        with pytest.raises(ValidationError) as raised:
            _submit(session, owner, form="1099")
        assert "must be one of" in raised.value.errors["form"]
        partners.change_status(
            session, actor=manager, partner_id=owner.partner_id, action="suspend"
        )
        with pytest.raises(PermissionDenied):
            _submit(session, owner)


def test_a_w8_lapses_at_the_end_of_the_third_calendar_year_and_is_warned_before(engine):
    assert tax_forms.expiry_of(tax_forms.TaxForm.W8BEN, date(2026, 3, 1)) == date(2029, 12, 31)
    assert tax_forms.expiry_of(tax_forms.TaxForm.W9, date(2026, 3, 1)) is None
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        document = _submit(session, partner, form="W-8BEN-E")
        tax_forms.review_tax_form(
            session, actor=manager, document_id=document.id, decision="verified"
        )
        expires = _profile(session, partner).tax_form_expires_on
        assert expires == date(utc_now().year + 3, 12, 31)
        soon = utc_now().date() + timedelta(days=30)
        session.execute(update(PartnerProfile).values(tax_form_expires_on=soon))
        summary = commissions.commission_summary(session, actor=partner)
        assert any(f"lapses on {soon.isoformat()}" in reason for reason in summary.held_reasons)
        assert "tax form" not in " ".join(b.reason for b in summary.blockers)
        assert [row[0] for row in tax_forms.expiring_tax_forms(session, actor=manager)] == [
            partner.partner_id
        ]
        lapsed = utc_now().date() - timedelta(days=1)
        session.execute(update(PartnerProfile).values(tax_form_expires_on=lapsed))
        summary = commissions.commission_summary(session, actor=partner)
        assert f"tax form expired on {lapsed.isoformat()}" in [b.reason for b in summary.blockers]
