"""Exports for managers: any kind, filtered, counted first, built with a progress bar."""

from datetime import date

import streamlit as st

from portal.core import fmt
from portal.core.config import get_settings
from portal.core.models import Role
from portal.money import tax_reports
from portal.reporting import exports
from portal.ui import downloads, pickers
from portal.ui.feedback import perform
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Exports")
st.caption(
    "UTF-8 CSV with a header row; timestamps in UTC; amounts with 2 decimals; "
    "sensitive fields masked; cells that could run as spreadsheet formulas neutralised."
)
cap = get_settings().export_row_cap

kind = st.selectbox("What", list(exports.KINDS), format_func=lambda k: exports.KINDS[k].title)
spec = exports.KINDS[kind]
columns = st.columns(3)
partner_id = pickers.partner_filter(actor, key="export_partner", container=columns[0])
status = None
if spec.statuses:
    status = columns[1].selectbox("Status", spec.statuses, index=None, placeholder="Any")
elif spec.statuses is None:
    status = columns[1].text_input("Action", max_chars=64, placeholder="e.g. lead.register")
year = None
if spec.needs_year:
    year = columns[2].number_input(
        "Year", min_value=2000, max_value=2100, value=date.today().year, step=1
    )
    span: tuple[()] | tuple[date] | tuple[date, date] = ()
else:
    span = columns[2].date_input("Between", value=[], max_value=date.today())
filters = exports.Filters(
    partner_id=partner_id,
    status=status or None,
    date_from=span[0] if span else None,
    date_to=span[-1] if span else None,
    year=int(year) if year else None,
)
count = perform(
    lambda session: exports.count_rows(session, actor=actor, kind=kind, filters=filters),
    reads_only=True,
)
if count is None:
    st.stop()

st.metric("Rows", f"{count:,}")
if count > cap:
    command = f"python -m portal export {kind} --out {kind}.csv"
    if partner_id:
        command += f" --partner-id {partner_id}"
    if status:
        command += f" --status {status}"
    if span:
        command += f" --from {span[0]} --to {span[-1]}"
    if year:
        command += f" --year {int(year)}"
    st.warning(
        f"That is more than the {cap:,} rows the browser builds. Run this on the "
        "server instead; it streams to a file:"
    )
    st.code(command, language="bash")
    st.stop()

bar = st.empty()


def progress(rows: int) -> None:
    if rows >= 0 and count:
        bar.progress(min(1.0, rows / count), text=f"{rows:,} of {count:,} rows")


if downloads.csv_export(
    actor,
    kind,
    prepare="Build the file",
    file_name=f"{kind}.csv",
    noun="row",
    filters=filters,
    progress=progress,
):
    bar.progress(1.0, text="Ready")

if kind == "tax" and year:
    st.subheader("Filing file", anchor=False)
    st.text(
        f"The {int(year)} tax lists with full taxpayer ids, for whoever files the forms: US "
        f"payees paid at least {fmt.money(tax_reports.tax_threshold(int(year)))} outside PayPal "
        "(1099-NEC), their PayPal payouts apart (PayPal files 1099-K), and foreign payees "
        "(1042-S). Making it is recorded in the audit log."
    )
    if st.button("Prepare the filing file (full tax ids)"):
        made = perform(
            lambda session: tax_reports.tax_filing_file(session, actor=actor, year=int(year or 0)),
        )
        if made is not None:
            st.warning(
                "This file holds full taxpayer ids: download it only to a safe place.",
                icon=":material/lock:",
            )
            st.download_button(
                f"Download {made.file_name} ({fmt.count(made.rows, 'payee')})",
                made.content,
                made.file_name,
                "text/csv",
                on_click="ignore",
            )
