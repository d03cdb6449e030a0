"""Tax forms for managers: open each uploaded form, verify or reject it, see W-8s lapsing."""

import streamlit as st

from portal.core import fmt
from portal.core.models import Role, TaxDocumentStatus
from portal.money import tax_forms
from portal.ui import tables
from portal.ui.feedback import perform, read
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Tax forms")
for message in st.session_state.pop("tax_form_messages", []):
    st.success(fmt.inert(message))  # it names the partner company, as typed

waiting, lapsing = read(
    lambda session: (
        tax_forms.list_tax_forms(session, actor=actor, status=TaxDocumentStatus.SUBMITTED),
        tax_forms.expiring_tax_forms(session, actor=actor),
    )
)

st.subheader("Waiting for review", anchor=False)
if not waiting:
    st.caption("No tax form is waiting for review.")
else:
    tables.show(
        [
            {
                "Form": document.id,
                "Partner": document.partner_id,
                "Company": document.company_name,
                "Kind": document.form.value,
                "File": document.file_name,
                "Size (KB)": round(document.size_bytes / 1024, 1),
                "Uploaded": fmt.moment(document.submitted_at),
            }
            for document in waiting
        ],
        key="tax-forms",
        compact=["Company", "Kind", "Uploaded"],
    )
    by_id = {document.id: document for document in waiting}
    chosen = st.selectbox(
        "Form to review",
        list(by_id),
        format_func=lambda i: f"#{i} · {by_id[i].company_name} · {by_id[i].form.value}",
    )
    document = by_id[chosen]
    opened = st.session_state.get("tax_form_opened")
    if st.button(
        "Decrypt the PDF to read it",
        help="Decrypts the form for you and offers it as a download; the opening is audited.",
    ):
        form = perform(
            lambda session: tax_forms.open_tax_form(session, actor=actor, document_id=chosen)
        )
        if form is not None:
            st.session_state["tax_form_opened"] = opened = (chosen, form[1])
    if opened and opened[0] == chosen:
        st.download_button(
            f"Download {document.file_name} to read it",
            opened[1],
            file_name=document.file_name,
            mime="application/pdf",
            on_click="ignore",  # a download changes nothing: no rerun
        )
    with st.form(f"review-{chosen}", clear_on_submit=True):
        decision = st.radio(
            "Decision", ["verified", "rejected"], horizontal=True, format_func=fmt.label
        )
        reason = st.text_area("Reason (needed to reject; the partner reads it)", max_chars=1000)
        if st.form_submit_button("Record decision", type="primary"):
            view = perform(
                lambda session: tax_forms.review_tax_form(
                    session, actor=actor, document_id=chosen, decision=decision, reason=reason
                ),
            )
            if view is not None:
                st.session_state.pop("tax_form_opened", None)
                st.session_state["tax_form_messages"] = [
                    f"Tax form #{view.id} of {view.company_name} is {view.status.value}; "
                    "the partner has been told."
                ]
                st.rerun()

st.subheader("W-8 forms lapsing within 90 days", anchor=False)
if not lapsing:
    st.caption("No verified W-8 form lapses within 90 days.")
else:
    tables.show(
        [
            {"Partner": partner_id, "Company": name, "Form": form.value, "Lapses": fmt.day(day)}
            for partner_id, name, form, day in lapsing
        ],
        key="lapsing",
        compact=["Partner", "Company", "Form", "Lapses"],
    )
