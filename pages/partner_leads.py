"""Partner leads: register, import, filter, move leads in the table, open one, export."""

from datetime import date

import streamlit as st

from portal.core import fmt
from portal.core.models import PartnerStatus, Role
from portal.leads import imports, leads
from portal.reporting import exports
from portal.ui import downloads, lead_table, partner_state, tables
from portal.ui.feedback import FormErrors, perform, read
from portal.ui.session import require

FORM_FIELDS = {"client_name", "client_email", "client_phone", "company", "service", "notes"}

actor = require(Role.PARTNER)
can_edit = actor.partner_status is PartnerStatus.ACTIVE
st.title("Leads")
partner_state.state_banner(actor)

REGISTERED = "_registered_lead"
registration = FormErrors("register")
registered = st.session_state.pop(REGISTERED, None)
if registered is not None:
    number, claimed_until = registered
    st.success(
        f"Registered lead #{number}: it is highlighted first in the table below. The client "
        f"is claimed for you until {claimed_until}.",
        icon=":material/check_circle:",
    )
if can_edit:
    services = read(lambda session: leads.service_catalogue(session, actor=actor))
    with (
        st.expander("Register a lead", icon=":material/add:", expanded=registration.pending),
        st.form(registration.key),
    ):
        # One row per pair, so that on a phone, where columns stack, the fields keep their
        # reading order (name, email, phone, company).
        left, right = st.columns(2)
        with left:
            client_name = st.text_input("Client name *", max_chars=200)
            registration.under("client_name")
        with right:
            client_email = st.text_input("Client email *", max_chars=254)
            registration.under("client_email")
        left, right = st.columns(2)
        with left:
            client_phone = st.text_input(
                "Client phone", max_chars=40, help="With the country code, e.g. +1 415 555 0100."
            )
            registration.under("client_phone")
        with right:
            company = st.text_input("Company", max_chars=200)
            registration.under("company")
        service = st.selectbox("Service *", services, index=None, placeholder="Choose a service")
        registration.under("service")
        notes = st.text_area("Notes", max_chars=leads.MAX_NOTES)
        registration.under("notes")
        registration.others(FORM_FIELDS)
        if st.form_submit_button("Register lead", type="primary"):
            lead = registration.submit(
                lambda session: leads.register_lead(
                    session,
                    actor=actor,
                    client_name=client_name,
                    client_email=client_email,
                    client_phone=client_phone,
                    company=company,
                    service=service or "",
                    notes=notes,
                ),
                busy="Registering the lead…",
            )
            if lead is not None:
                st.session_state[REGISTERED] = (lead.id, fmt.day(lead.claim_expires_at))
                st.rerun()

    with st.expander("Register many leads from a CSV file", icon=":material/upload_file:"):
        st.caption(
            f"Columns: {imports.TEMPLATE.strip()}. At most {imports.MAX_ROWS:,} rows "
            f"and {imports.MAX_BYTES // 1_000_000} MB, UTF-8."
        )
        st.download_button(
            "Download a template",
            imports.TEMPLATE,
            "leads-template.csv",
            "text/csv",
            on_click="ignore",
        )
        upload = st.file_uploader("CSV file", type=["csv"], key="lead_upload", max_upload_size=1)
        if upload is not None and st.button("Import leads"):
            data = upload.getvalue()
            # The file is read and checked before the first query, so before the write lock.
            result = perform(
                lambda session: imports.register_lead_file(
                    session, actor=actor, lead_file=imports.read_leads_csv(data)
                ),
                busy="Registering the file's leads…",
            )
            if result is not None:
                st.success(f"Imported {fmt.count(len(result.imported), 'lead')}.")
                if result.refused:
                    st.warning(f"{fmt.count(len(result.refused), 'row was', 'rows were')} refused:")
                    tables.show(
                        [{"Line": line, "Reason": reason} for line, reason in result.refused],
                        key="import-refused",
                        compact=["Line", "Reason"],
                    )

lead_table.table(
    actor,
    "leads",
    can_edit=can_edit,
    highlight=registered[0] if registered is not None else None,
    empty="No leads match these filters, or none are registered yet.",
)

st.subheader("Export", anchor=False)
span = st.date_input(
    "Leads registered between", value=[], max_value=date.today(), key="export_span"
)


downloads.csv_export(
    actor,
    "leads",
    prepare="Prepare CSV",
    file_name="leads.csv",
    noun="lead",
    filters=exports.Filters(
        date_from=span[0] if span else None, date_to=span[-1] if span else None
    ),
)
