"""Partner profile: payment, tax and contact details, tax form upload, notifications, password."""

import math

import streamlit as st

from portal.core import fmt
from portal.core.config import get_settings
from portal.core.models import (
    BankAccountType,
    PartnerStatus,
    PayeeType,
    PaymentMethod,
    Role,
    TaxForm,
    TaxIdType,
)
from portal.money import tax_forms
from portal.partners import partners, profiles
from portal.ui import partner_state, tables, two_factor
from portal.ui.account import (
    api_keys_panel,
    change_password_form,
    sessions_panel,
    webhooks_panel,
)
from portal.ui.feedback import FormErrors, perform, read
from portal.ui.session import require

LABELS = {
    "payment_email": "Payment email",
    "payment_method": "Payment method",
    "bank_account": "Bank account number",
    "bank_code": "BIC or routing number",
    "bank_account_type": "US account type",
    "payee_type": "The account belongs to",
    "payout_currency": "Payout currency",
    "tax_id_type": "Tax id type",
    "tax_id": "Tax id",
    "contact_name": "Contact name",
    "contact_email": "Contact email",
    "contact_phone": "Contact phone",
    "website": "Website",
    "address": "Address",
    "city": "City",
    "state": "State or region",
    "zip": "ZIP or postal code",
    "country": "Country",
    "notifications_enabled": "In-app notifications",
    "email_notifications": "Email notifications",
    "email_digest": "Daily digest",
    "monthly_reports": "Monthly report by email",
    "announcement_emails": "Announcements by email",
    "password": "Your password",
}

SECRET_INPUTS = ("profile_new_bank_account", "profile_new_tax_id", "profile_password")

actor = require(Role.PARTNER)
company, profile, uploads = read(
    lambda session: (
        partners.get_partner(session, actor=actor),
        profiles.get_profile(session, actor=actor),
        tax_forms.list_tax_forms(session, actor=actor, limit=10),
    )
)
read_only = actor.partner_status is PartnerStatus.SUSPENDED

st.title("Profile")
st.text(f"{company.company_name} · {company.email} · status: {company.status.value}")
partner_state.state_banner(actor)


def _optional(options: list[str]) -> list[str | None]:
    """The choices of a field that may be left unset: none first."""
    return [None, *options]


def _choice(options: list[str], current: str | None) -> int:
    values = _optional(options)
    return values.index(current) if current in values else 0


profile_form = FormErrors("profile")
with st.form(profile_form.key):
    st.subheader("Payment", anchor=False)
    # One row per pair of related fields, so a phone stacks them in reading order; each
    # refusal is shown under its own field.
    left, right = st.columns(2)
    methods = [method.value for method in PaymentMethod]
    with left:
        payment_method = st.selectbox(
            "Payment method",
            _optional(methods),
            index=_choice(
                methods, profile.payment_method.value if profile.payment_method else None
            ),
            format_func=lambda value: "—" if value is None else fmt.method(value),
            disabled=read_only,
        )
        profile_form.under("payment_method")
    with right:
        payment_email = st.text_input(
            "Payment email",
            profile.payment_email or "",
            help="Your PayPal or Wise account.",
            disabled=read_only,
        )
        profile_form.under("payment_email")
    left, right = st.columns(2)
    left.text_input("Bank account on file", profile.bank_account or "none", disabled=True)
    with right:
        new_account = st.text_input(
            "Replace bank account number",
            type="password",
            key=SECRET_INPUTS[0],
            help="An IBAN (e.g. DE89 3704 0044 0532 0130 00), or a US account number. Leave "
            "empty to keep the one on file. Stored encrypted; only its last four characters "
            "are ever shown.",
            disabled=read_only,
        )
        profile_form.under("bank_account")
    left, right = st.columns(2)
    with left:
        bank_code = st.text_input(
            "BIC or routing number",
            profile.bank_code or "",
            help="The BIC (SWIFT code) of an IBAN account (filled in for known banks), or the "
            "9-digit ABA routing number of a US account.",
            disabled=read_only,
        )
        profile_form.under("bank_code")
    with right:
        account_types = [kind.value for kind in BankAccountType]
        bank_account_type = st.selectbox(
            "US account type",
            _optional(account_types),
            index=_choice(
                account_types,
                profile.bank_account_type.value if profile.bank_account_type else None,
            ),
            format_func=lambda value: "— (not a US account)" if value is None else fmt.label(value),
            help="A US account is credited as a checking or a savings account; the wrong one "
            "makes the bank return the payment.",
            disabled=read_only,
        )
        profile_form.under("bank_account_type")
    password = st.text_input(
        "Your password",
        type="password",
        key=SECRET_INPUTS[2],
        help="Needed only to change where payouts go (method, payment email, bank account, "
        "bank code or account type): a signed-in browser left open is not enough for that.",
        disabled=read_only,
    )
    profile_form.under("password")
    paid_in = [None, *profile.currency_choices]
    payout_currency = st.selectbox(
        "Payout currency",
        paid_in,
        index=paid_in.index(profile.payout_currency) if profile.payout_currency in paid_in else 0,
        format_func=lambda code: f"Automatic: {profile.paid_in}" if code is None else code,
        help="Your commissions are earned in the program's currency; each payout is paid in "
        "this one, at the exchange rate of its batch. Automatic: for a bank transfer, the "
        "currency of your bank's country when the program pays in it; else the program's.",
        disabled=read_only,
    )
    profile_form.under("payout_currency")
    payee_type = st.radio(
        "The account belongs to",
        [kind.value for kind in PayeeType],
        index=[kind.value for kind in PayeeType].index(profile.payee_type.value),
        format_func=lambda value: "a business" if value == "business" else "a person",
        horizontal=True,
        disabled=read_only,
    )
    profile_form.under("payee_type")
    left, right = st.columns(2)
    kinds = [kind.value for kind in TaxIdType]
    with left:
        tax_id_type = st.selectbox(
            "Tax id type",
            _optional(kinds),
            index=_choice(kinds, profile.tax_id_type.value if profile.tax_id_type else None),
            format_func=lambda v: {None: "—", "ssn": "US SSN", "ein": "US EIN"}.get(
                v, "Foreign tax id"
            ),
            help="A US payee's Form 1099 names the kind of its taxpayer id.",
            disabled=read_only,
        )
        profile_form.under("tax_id_type")
    left, right = st.columns(2)
    left.text_input("Tax id on file", profile.tax_id or "none", disabled=True)
    with right:
        new_tax_id = st.text_input(
            "Replace tax id",
            type="password",
            key=SECRET_INPUTS[1],
            help="Leave empty to keep the one on file.",
            disabled=read_only,
        )
        profile_form.under("tax_id")

    st.subheader("Contact", anchor=False)
    left, right = st.columns(2)
    with left:
        contact_name = st.text_input("Contact name", profile.contact_name or "", disabled=read_only)
        profile_form.under("contact_name")
    with right:
        contact_email = st.text_input(
            "Contact email", profile.contact_email or "", disabled=read_only
        )
        profile_form.under("contact_email")
    left, right = st.columns(2)
    with left:
        contact_phone = st.text_input(
            "Contact phone",
            fmt.phone(profile.contact_phone) if profile.contact_phone else "",
            help="With the country code, e.g. +44 20 7946 0958.",
            disabled=read_only,
        )
        profile_form.under("contact_phone")
    with right:
        website = st.text_input(
            "Website", profile.website or "", help="http:// or https://", disabled=read_only
        )
        profile_form.under("website")
    address = st.text_input("Address", profile.address or "", disabled=read_only)
    profile_form.under("address")
    left, middle, right, last = st.columns(4)
    with left:
        city = st.text_input("City", profile.city or "", disabled=read_only)
        profile_form.under("city")
    with middle:
        state = st.text_input("State or region", profile.state or "", disabled=read_only)
        profile_form.under("state")
    with right:
        zip_code = st.text_input("ZIP or postal code", profile.zip or "", disabled=read_only)
        profile_form.under("zip")
    with last:
        country = st.text_input(
            "Country",
            profile.country or "",
            max_chars=2,
            help="Two-letter code, e.g. US",
            disabled=read_only,
        )
        profile_form.under("country")

    st.subheader("Notifications", anchor=False)
    notifications_enabled = st.checkbox(
        "In-app notifications", profile.notifications_enabled, disabled=read_only
    )
    email_notifications = st.checkbox(
        "Email notifications",
        profile.email_notifications,
        help="An e-mail when a lead moves, a commission is earned or a payout changes.",
        disabled=read_only,
    )
    email_digest = st.checkbox(
        "One daily digest instead of one email per event",
        profile.email_digest,
        help="The day's events in one e-mail, sent the next morning (UTC).",
        disabled=read_only,
    )
    monthly_reports = st.checkbox(
        "Monthly report by email",
        profile.monthly_reports,
        help="Last month's statement, with its CSV, on the first of each month.",
        disabled=read_only,
    )
    announcement_emails = st.checkbox(
        "Announcements by email",
        profile.announcement_emails,
        help="The program's announcements, also shown on your dashboard.",
        disabled=read_only,
    )
    profile_form.others(
        set(LABELS)
        - {
            "notifications_enabled",
            "email_notifications",
            "email_digest",
            "monthly_reports",
            "announcement_emails",
        }
    )
    submitted = st.form_submit_button("Save profile", type="primary", disabled=read_only)

if submitted:
    changes = {
        "payment_email": payment_email,
        "payment_method": payment_method,
        "bank_account": new_account,
        "bank_code": bank_code,
        "bank_account_type": bank_account_type,
        "payee_type": payee_type,
        "payout_currency": payout_currency,
        "tax_id": new_tax_id,
        "tax_id_type": tax_id_type,
        "contact_name": contact_name,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "website": website,
        "address": address,
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": country,
        "notifications_enabled": notifications_enabled,
        "email_notifications": email_notifications,
        "monthly_reports": monthly_reports,
        "email_digest": email_digest,
        "announcement_emails": announcement_emails,
    }
    done = profile_form.submit(
        lambda session: profiles.update_profile(
            session, actor=actor, changes=changes, password=password
        ),
        busy="Saving the profile…",
    )
    if done is not None:
        # A saved secret must not linger in its input (the show-password toggle reveals it).
        for key in SECRET_INPUTS:
            st.session_state.pop(key, None)
        st.session_state["profile_saved"] = done.changed
        st.rerun()
saved = st.session_state.pop("profile_saved", None)
if saved is not None:
    if saved:
        words = ", ".join(LABELS.get(name, fmt.label(name)) for name in saved)
        st.success(f"Saved. Changed: {words}.", icon=":material/check_circle:")
    else:
        st.info("Nothing to save: the profile already says this.", icon=":material/info:")

st.subheader("Tax form", anchor=False)
if profile.tax_form:
    lapse = (
        f", valid until {fmt.day(profile.tax_form_expires_on)}"
        if profile.tax_form_expires_on
        else ""
    )
    st.text(
        f"On file: {profile.tax_form.value}, "
        f"verified {fmt.day(profile.tax_form_received_at)}{lapse}."
    )
else:
    st.text("No verified tax form on file yet: payouts wait for one.")
warning = tax_forms.expiry_warning(profile.tax_form_expires_on, fmt.utc_today())
if warning:
    st.warning(warning, icon=":material/event:")
if uploads:
    tables.show(
        [
            {
                "Form": upload.form.value,
                "File": upload.file_name,
                "Uploaded": fmt.day(upload.submitted_at),
                "Status": fmt.label(upload.status.value),
                "Why rejected": upload.rejection_reason,
            }
            for upload in uploads
        ],
        key="tax-uploads",
        compact=["Form", "Uploaded", "Status"],
    )
if not read_only:
    limit = get_settings().tax_form_max_mb
    with (
        st.expander(
            "Upload a tax form",
            icon=":material/upload_file:",
            # Open while payouts wait for a verified form; a renewal is a tap away.
            expanded=profile.tax_form is None or bool(warning),
        ),
        st.form("tax_form_upload", clear_on_submit=True),
    ):
        st.caption(
            "Upload your signed form as a PDF: a W-9 if you are a US person, a W-8BEN "
            "(individuals) or W-8BEN-E (companies) otherwise. A partner manager verifies it; "
            f"payouts start once it is verified. Up to {limit:g} MB; stored encrypted."
        )
        form_kind = st.selectbox("Form", [form.value for form in TaxForm])
        upload = st.file_uploader(
            "Signed form (PDF)", type=["pdf"], max_upload_size=math.ceil(limit)
        )
        if st.form_submit_button("Upload tax form"):
            if upload is None:
                st.error("Choose the signed form (PDF) to upload.", icon=":material/warning:")
            else:
                signed = upload
                uploaded = perform(
                    lambda session: tax_forms.submit_tax_form(
                        session,
                        actor=actor,
                        form=form_kind,
                        file_name=signed.name,
                        content=signed.getvalue(),
                    ),
                )
                if uploaded is not None:
                    st.session_state["tax_form_uploaded"] = True
                    st.rerun()
if st.session_state.pop("tax_form_uploaded", False):
    st.success("Tax form uploaded: a partner manager will review it.")

change_password_form(actor)
two_factor.setup_panel(actor)
sessions_panel(actor)
api_keys_panel(actor)
webhooks_panel(actor)
