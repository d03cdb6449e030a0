"""Tax forms: a partner uploads its W-9 or W-8 as a PDF; a manager opens it and verifies or
rejects it. Only a verified form counts for payouts and the tax report.

The PDF is checked (type by its content, size against `PORTAL_TAX_FORM_MAX_MB`), encrypted at
rest with the configured key and kept in the database, so every replica serves it. A W-8BEN
or W-8BEN-E stays in effect until the end of the third calendar year after the year it was
signed (taken as the year it was uploaded); a W-9 does not lapse. Partners are warned
`EXPIRY_WARNING_DAYS` before a W-8 lapses, and a lapsed one holds payouts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from portal.core import audit
from portal.core.access import (
    Actor,
    one_partner_id,
    partner_status_refusal,
    refresh,
    require_manager,
    scoped_partner_id,
)
from portal.core.config import get_settings
from portal.core.crypto import decrypt_bytes, encrypt_bytes
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    NotificationKind,
    Partner,
    PartnerProfile,
    PartnerStatus,
    TaxDocumentStatus,
    TaxForm,
    TaxFormDocument,
)
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_choice, clean_text
from portal.messaging.notifications import notify_partner

EXPIRY_WARNING_DAYS = 90
PDF_MAGIC = b"%PDF-"
W8_FORMS = frozenset({TaxForm.W8BEN, TaxForm.W8BENE})


def expiry_of(form: TaxForm, signed: date) -> date | None:
    """When a form lapses: a W-8 at the end of the third calendar year after signing."""
    return date(signed.year + 3, 12, 31) if form in W8_FORMS else None


def expiry_warning(expires_on: date | None, today: date) -> str | None:
    """A warning to show while a verified W-8 nears its lapse, else None."""
    if expires_on is None or not today <= expires_on <= today + timedelta(EXPIRY_WARNING_DAYS):
        return None
    return (
        f"Your tax form lapses on {expires_on.isoformat()}: upload a new one before then, or "
        "payouts after that day are held."
    )


@dataclass(frozen=True)
class TaxFormView:
    id: int
    partner_id: int
    company_name: str
    form: TaxForm
    file_name: str
    size_bytes: int
    sha256: str
    status: TaxDocumentStatus
    rejection_reason: str
    submitted_at: datetime
    reviewed_at: datetime | None
    expires_on: date | None


def _view(document: TaxFormDocument, company_name: str) -> TaxFormView:
    return TaxFormView(
        id=document.id,
        partner_id=document.partner_id,
        company_name=company_name,
        form=document.form,
        file_name=document.file_name,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        status=document.status,
        rejection_reason=document.rejection_reason,
        submitted_at=document.submitted_at,
        reviewed_at=document.reviewed_at,
        expires_on=document.expires_on,
    )


def _clean_file_name(errors: FieldErrors, file_name: str) -> str:
    # Only the last part of a path a browser may send, and nothing a header could break on.
    base = PureWindowsPath(PurePosixPath(file_name or "").name).name
    name = clean_text(errors, "file", base, label="File name", max_length=200) or "tax-form.pdf"
    return name.replace('"', "'")


def _checked_pdf(errors: FieldErrors, content: bytes) -> None:
    limit = int(get_settings().tax_form_max_mb * 1024 * 1024)
    if not content:
        errors.add("file", "The file is empty.")
    elif len(content) > limit:
        errors.add(
            "file",
            f"The file is {len(content) / 1048576:.1f} MB; the limit is {limit // 1048576} MB.",
        )
    elif not content.startswith(PDF_MAGIC) or b"%%EOF" not in content[-2048:]:
        errors.add("file", "The file is not a PDF; upload the signed form as a PDF.")


def submit_tax_form(
    session: Session,
    *,
    actor: Actor,
    form: TaxForm | str,
    file_name: str,
    content: bytes,
    partner_id: int | None = None,
) -> TaxFormView:
    """Upload a signed tax form for review; it counts once a manager verifies it."""
    actor = refresh(session, actor)
    if actor.is_partner and actor.partner_status is PartnerStatus.SUSPENDED:
        raise PermissionDenied(partner_status_refusal(actor.partner_status))
    owner = one_partner_id(actor, partner_id)
    errors = FieldErrors()
    chosen = clean_choice(errors, "form", form, TaxForm, label="Form")
    name = _clean_file_name(errors, file_name)
    _checked_pdf(errors, content)
    errors.raise_if_any()
    assert chosen is not None
    profile = session.scalar(
        select(PartnerProfile).where(PartnerProfile.partner_id == owner).with_for_update()
    )
    if profile is None:
        raise NotFound("Partner not found.")
    document = TaxFormDocument(
        partner_id=owner,
        form=chosen,
        file_name=name,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content_encrypted=encrypt_bytes(content),
        status=TaxDocumentStatus.SUBMITTED,
        rejection_reason="",
        submitted_by=actor.user_id,
        submitted_at=utc_now(),
    )
    session.add(document)
    profile.tax_form_pending = True
    session.flush()
    audit.record_by(
        session,
        actor,
        "tax_form.submit",
        "tax_form",
        document.id,
        after={"partner_id": owner, "form": chosen.value, "file": name, "size": len(content)},
    )
    return _view(document, _company(session, owner))


def _company(session: Session, partner_id: int) -> str:
    return session.scalar(select(Partner.company_name).where(Partner.id == partner_id)) or ""


def _readable(session: Session, actor: Actor, document_id: int) -> TaxFormDocument:
    document = session.get(TaxFormDocument, document_id)
    # Another partner's form is "not found", exactly as a missing one.
    if document is None or (not actor.is_manager and document.partner_id != actor.partner_id):
        raise NotFound("Tax form not found.")
    return document


def open_tax_form(session: Session, *, actor: Actor, document_id: int) -> tuple[TaxFormView, bytes]:
    """The decrypted PDF of a tax form, for a manager or its own partner; audited."""
    actor = refresh(session, actor)
    document = _readable(session, actor, document_id)
    content = decrypt_bytes(document.content_encrypted)
    audit.record_by(session, actor, "tax_form.open", "tax_form", document.id)
    return _view(document, _company(session, document.partner_id)), content


def review_tax_form(
    session: Session,
    *,
    actor: Actor,
    document_id: int,
    decision: TaxDocumentStatus | str,
    reason: str = "",
) -> TaxFormView:
    """Verify or reject a submitted tax form (a rejection needs a reason); managers only.

    A verified form becomes the partner's form on file; the partner is told either way.
    """
    actor = require_manager(session, actor)
    errors = FieldErrors()
    outcome = clean_choice(errors, "decision", decision, TaxDocumentStatus, label="Decision")
    if outcome is TaxDocumentStatus.SUBMITTED:
        errors.add("decision", "Decision must be verified or rejected.")
    note = clean_text(errors, "reason", reason, label="Reason", max_length=1000, multiline=True)
    if outcome is TaxDocumentStatus.REJECTED and not note:
        errors.add("reason", "Say why the form is rejected, so the partner can fix it.")
    errors.raise_if_any()
    assert outcome is not None
    document = session.get(TaxFormDocument, document_id, with_for_update=True)
    if document is None:
        raise NotFound("Tax form not found.")
    if document.status is not TaxDocumentStatus.SUBMITTED:
        raise ValidationError(
            {"decision": f"This form was already {document.status.value}; upload a new one."}
        )
    profile = session.scalar(
        select(PartnerProfile)
        .where(PartnerProfile.partner_id == document.partner_id)
        .with_for_update()
    )
    assert profile is not None
    now = utc_now()
    document.status = outcome
    document.reviewed_at = now
    document.reviewed_by = actor.user_id
    if outcome is TaxDocumentStatus.VERIFIED:
        document.expires_on = expiry_of(document.form, document.submitted_at.date())
        profile.tax_form = document.form
        profile.tax_form_received_at = now
        profile.tax_form_expires_on = document.expires_on
        message = f"Your {document.form.value} was verified; it counts for your payouts."
    else:
        document.rejection_reason = note or ""
        message = (
            f"Your {document.form.value} was rejected: {note}. Please upload a corrected form."
        )
    session.flush()
    profile.tax_form_pending = bool(
        session.scalar(
            select(
                exists().where(
                    TaxFormDocument.partner_id == document.partner_id,
                    TaxFormDocument.status == TaxDocumentStatus.SUBMITTED,
                )
            )
        )
    )
    profile.updated_at = now
    notify_partner(
        session,
        caused_by=actor,
        partner_id=document.partner_id,
        kind=NotificationKind.TAX_FORM,
        message=message,
    )
    audit.record_by(
        session,
        actor,
        f"tax_form.{outcome.value}",
        "tax_form",
        document.id,
        before={"status": "submitted"},
        after={"status": document.status.value, "reason": document.rejection_reason},
    )
    return _view(document, _company(session, document.partner_id))


def list_tax_forms(
    session: Session,
    *,
    actor: Actor,
    partner_id: int | None = None,
    status: TaxDocumentStatus | str | None = None,
    limit: int = 100,
) -> list[TaxFormView]:
    """Uploaded tax forms, newest first (no content); a partner sees only its own."""
    actor = refresh(session, actor)
    owner = scoped_partner_id(actor, partner_id)
    query = select(TaxFormDocument, Partner.company_name).join(
        Partner, Partner.id == TaxFormDocument.partner_id
    )
    if owner is not None:
        query = query.where(TaxFormDocument.partner_id == owner)
    if status:
        errors = FieldErrors()
        wanted = clean_choice(errors, "status", status, TaxDocumentStatus, label="Status")
        errors.raise_if_any()
        query = query.where(TaxFormDocument.status == wanted)
    rows = session.execute(
        query.order_by(TaxFormDocument.id.desc()).limit(min(max(limit, 1), 500))
    ).all()
    return [_view(document, name) for document, name in rows]


def expiring_tax_forms(
    session: Session, *, actor: Actor, within_days: int = EXPIRY_WARNING_DAYS
) -> list[tuple[int, str, TaxForm, date]]:
    """Verified W-8 forms that lapse within `within_days` or already have; managers only."""
    require_manager(session, actor)
    horizon = utc_now().date() + timedelta(days=within_days)
    rows = session.execute(
        select(
            Partner.id,
            Partner.company_name,
            PartnerProfile.tax_form,
            PartnerProfile.tax_form_expires_on,
        )
        .join(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .where(
            PartnerProfile.tax_form_expires_on.is_not(None),
            PartnerProfile.tax_form_expires_on <= horizon,
        )
        .order_by(PartnerProfile.tax_form_expires_on, Partner.id)
    ).all()
    return [
        (row[0], row[1], row[2], row[3])
        for row in rows
        if row[2] is not None and row[3] is not None
    ]
