"""Payouts for managers: pre-flight and batch, payout files, settling one payout or a bank
statement, and the history. Every step that moves money asks for confirmation first."""

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import streamlit as st

from portal.core import fmt
from portal.core.actions import Session
from portal.core.errors import ValidationError
from portal.core.models import PayoutStatus, Role
from portal.core.validation import FieldErrors
from portal.money import currencies, payout_files, payouts
from portal.money.payouts import STATEMENT_COLUMNS, PayoutView, StatementRow
from portal.reporting import exports
from portal.ui import confirm, downloads, tables, two_factor
from portal.ui.feedback import perform, read, show_error
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Payouts")
two_factor.step_up(actor)
confirm.show_confirmed()
today = fmt.utc_today()
# Bumping this clears the settle form and the statement upload after each recorded outcome.
generation = st.session_state.setdefault("payout_form_generation", 0)


def _cleared() -> None:
    st.session_state["payout_form_generation"] = generation + 1


def _totals(rows: Sequence[StatementRow]) -> str:
    """`200.00 USD, 92.17 EUR`: what rows pay, per currency."""
    sums: dict[str, Decimal] = {}
    for row in rows:
        sums[row.currency] = sums.get(row.currency, Decimal("0.00")) + row.amount
    return ", ".join(fmt.money_in(total, code) for code, total in sums.items())


st.subheader("Pre-flight", anchor=False)
cutoff = st.date_input(
    "Cut-off date (UTC)",
    value=today,
    max_value=today,
    help="Pays every commission whose hold ended by the end of this day (UTC) and by the "
    "moment the batch runs, net of every open clawback.",
)
needs = perform(
    lambda session: payouts.preview(session, actor=actor, cutoff=cutoff),
    reads_only=True,
)
if needs is None:
    st.stop()
rates: dict[str, currencies.Quote] = {}
if needs.rates_needed:
    st.markdown("**Exchange rates**")
    st.text(
        f"Partners are paid in {', '.join(needs.rates_needed)}: give the rate of each, in units "
        f"per 1 {needs.currency}, or upload the ECB's eurofxref-daily.xml (or a CSV "
        "currency,rate)."
    )
    rates_file = st.file_uploader(
        "Rates file (ECB XML or CSV)",
        type=["xml", "csv"],
        key=f"rates-{generation}",
        max_upload_size=1,
    )
    if rates_file is not None:
        content = rates_file.getvalue()
        rates = (
            perform(
                lambda _: currencies.read_rates(content, today=today),
                reads_only=True,
            )
            or {}
        )
    columns = st.columns(len(needs.rates_needed))
    rate_errors = FieldErrors()
    for column, code in zip(columns, needs.rates_needed, strict=True):
        uploaded = rates.get(code)
        typed = column.text_input(
            f"{code} per 1 {needs.currency}",
            value=str(uploaded.rate.normalize()) if uploaded else "",
            key=f"rate-{code}-{uploaded.rate if uploaded else ''}",
        )
        if typed.strip():
            rate = currencies.clean_rate(rate_errors, code, typed, label=f"The {code} rate")
            if rate is not None and (uploaded is None or rate != uploaded.rate):
                rates[code] = currencies.Quote(rate, today, f"typed by {actor.display_name}")
            column.caption(
                fmt.inert(
                    rate_errors.errors.get(code)
                    or (f"{uploaded.source}, {uploaded.on}" if uploaded else "typed")
                )
            )
        rates = {k: v for k, v in rates.items() if k != code or k not in rate_errors.errors}
    confirm_jumps = st.checkbox(
        "Use rates that moved far from the last ones used (I checked them)",
        help="A rate more than PORTAL_RATE_MAX_CHANGE away from the last one used for its "
        "currency is refused unless you tick this: it catches a typo such as 9.2 for 0.92.",
    )
else:
    confirm_jumps = False
plan = (
    needs
    if not needs.rates_needed
    else perform(
        lambda session: payouts.preview(session, actor=actor, cutoff=cutoff, rates=rates),
        reads_only=True,
    )
)
if plan is None:
    st.stop()
cards = st.columns(3)
cards[0].metric("Payouts", len(plan.paid))
cards[1].metric("Total", fmt.money(plan.total))
cards[2].metric("Left out", len(plan.left_out))
if len(plan.totals_paid) > 1 or plan.totals_paid.keys() - {plan.currency}:
    st.text(
        "Paid out: " + ", ".join(f"{total:,.2f} {code}" for code, total in plan.totals_paid.items())
    )
if plan.paid:
    tables.show(
        [
            {
                "Partner": p.partner_id,
                "Company": p.company_name,
                "Amount": fmt.money(p.amount, currency=False),
                "Paid": fmt.money_in(p.payout_amount, p.payout_currency),
                "Rate": str(p.quote.rate.normalize()) if p.quote else "",
                "Lines": p.lines,
            }
            for p in plan.paid
        ],
        key="batch-paid",
        compact=["Company", "Amount", "Paid"],
    )
if plan.left_out:
    st.text("Left out, and why")
    tables.show(
        [
            {
                "Partner": p.partner_id,
                "Company": p.company_name,
                "Owed": fmt.money(p.amount, currency=False),
                "Why": "; ".join(p.reasons),
            }
            for p in plan.left_out
        ],
        key="batch-left-out",
        compact=["Company", "Owed", "Why"],
    )
if st.button(f"Run the batch for {cutoff}…", type="primary", disabled=not plan.paid):
    confirm.ask("batch", (cutoff, len(plan.paid), plan.total, rates, confirm_jumps))


def _run_batch(
    session: Session, payload: tuple[date, int, Decimal, dict[str, currencies.Quote], bool]
) -> str:
    day, _, _, batch_rates, confirmed = payload
    result = payouts.run_batch(
        session, actor=actor, cutoff=day, rates=batch_rates, confirm_rate_jumps=confirmed
    )
    total = sum((p.amount for p in result.scheduled), Decimal("0.00"))
    scheduled = fmt.count(len(result.scheduled), "payout")
    return f"Scheduled {scheduled} for {day}, {fmt.money(total)} in all."


confirm.dialog(
    "batch",
    title="Run the payout batch?",
    lines=lambda p: [
        f"Cut-off: {p[0]}",
        f"{fmt.count(p[1], 'payout')}, {fmt.money(p[2])} in all, will be scheduled.",
        *[
            f"{code}: {quote.rate.normalize()} per 1 {fmt.program_currency()} "
            f"({quote.source}, {quote.on})"
            for code, quote in p[3].items()
        ],
        "Partners left out stay owed and are paid by a later batch.",
    ],
    confirm_label="Run the batch",
    act=_run_batch,
)

st.subheader("Scheduled payouts", anchor=False)
scheduled = read(
    lambda session: (
        payouts.list_payouts(session, actor=actor, status=PayoutStatus.SCHEDULED, limit=500).items
    )
)
by_id: dict[int, PayoutView] = {p.id: p for p in scheduled}
if not scheduled:
    st.text("Nothing is waiting to be paid.")
else:
    tables.show(
        [
            {
                "Payout": p.id,
                "Company": p.company_name,
                "Amount": fmt.money(p.amount),
                "Arrives": fmt.arrives(p.payout_amount, p.payout_currency, p.exchange_rate),
                "Method": fmt.method(p.payment_method),
                "Paid to": p.destination,
                "Cut-off": fmt.day(p.cutoff),
                "In file": f"#{p.payout_file_id}" if p.payout_file_id else "—",
                "Held": p.held_reason,
            }
            for p in scheduled
        ],
        key="scheduled",
        compact=["Company", "Amount", "Held"],
    )

    st.markdown("**Payout files of a batch**")
    batches = sorted({p.cutoff for p in scheduled}, reverse=True)
    batch = st.selectbox("Batch (cut-off)", batches, format_func=fmt.day)
    overview = perform(
        lambda session: payout_files.batch_overview(session, actor=actor, cutoff=batch),
        reads_only=True,
    )
    if overview is not None:
        if overview.approvals_required:
            st.text(
                f"Approved by a second manager: {overview.approved} of "
                f"{fmt.count(overview.scheduled, 'payout')}. Files are made only from approved "
                "payouts."
            )
            if st.button("Approve this batch…", disabled=overview.approved == overview.scheduled):
                confirm.ask("approve", (batch, overview.scheduled - overview.approved))
        for waiting in overview.waiting:
            where = payout_files.FORMATS[waiting.file_format].label if waiting.file_format else ""
            st.warning(
                fmt.inert(
                    f"{fmt.count(len(waiting.payout_ids), 'payout')}, "
                    f"{waiting.reason}"
                    + (f" ({where})" if where else "")
                    + ": #"
                    + ", #".join(map(str, waiting.payout_ids))
                ),
                icon=":material/hourglass:",
            )
        ready = overview.ready
        if ready:
            file_key: payout_files.FileKey = st.selectbox(
                "Make a payout file",
                list(ready),
                format_func=lambda key: (
                    f"{payout_files.FORMATS[key[0]].label}: {fmt.count(ready[key][0], 'payout')}, "
                    f"{fmt.money_in(ready[key][1], key[1])}"
                ),
            ) or next(iter(ready))
            if st.button("Make the payout file…", type="primary"):
                confirm.ask("file", (batch, *file_key, *ready[file_key]))
        else:
            st.text("Every payout of this batch that can be filed is in a live file.")
        if overview.files:
            st.text("Files made for this batch")
            tables.show(
                [
                    {
                        "File": f"#{record.id}",
                        "Format": record.file_format,
                        "Payouts": record.payouts,
                        "Total": fmt.money_in(record.total, record.currency),
                        "State": record.status.value
                        + (f": {record.void_reason}" if record.void_reason else ""),
                        "Made by": record.created_by,
                        "Made": fmt.moment(record.created_at),
                        "SHA-256": record.sha256,
                    }
                    for record in overview.files
                ],
                key="files",
                compact=["File", "Format", "Total", "State"],
            )
            live = [record for record in overview.files if record.status.value == "live"]
            if live:
                left, right = st.columns(2)
                to_void = left.selectbox(
                    "Live file",
                    [record.id for record in live],
                    format_func=lambda i: f"#{i}",
                )
                if right.button("Void this file…"):
                    confirm.ask("void", to_void)
                checks = [record.id for record in live if record.first_check is not None]
                if checks and st.button("Prepare the Positive Pay list of the checks file"):
                    made_list = perform(
                        lambda session: payout_files.positive_pay_file(
                            session, actor=actor, file_id=checks[0]
                        ),
                    )
                    if made_list is not None:
                        st.session_state["payout_file"] = made_list

    made = st.session_state.get("payout_file")
    if made is not None and made.cutoff == batch:
        st.warning(
            "This file holds full bank account numbers: download it only to a safe place, "
            "hand it to the bank, then delete it.",
            icon=":material/lock:",
        )
        st.text(
            f"File #{made.file_id}: {fmt.count(made.payouts, 'payout')}, "
            f"{fmt.money_in(made.total, made.currency)}. "
            f"SHA-256 {made.sha256} (recorded with who made it)."
        )
        st.download_button(
            f"Download {made.file_name}",
            made.content,
            made.file_name,
            made.media_type,
            on_click="ignore",
        )

    def _make_file(session: Session, payload: tuple[date, str, str, int, Decimal]) -> str:
        day, file_format, code, _, _ = payload
        result = payout_files.build_payout_file(
            session, actor=actor, cutoff=day, file_format=file_format, currency=code
        )
        st.session_state["payout_file"] = result
        return (
            f"File #{result.file_id} holds {fmt.count(result.payouts, 'payout')}, "
            f"{fmt.money_in(result.total, result.currency)}; download it below. These payouts "
            "go in no other file unless you void this one."
        )

    confirm.dialog(
        "file",
        title="Make this payout file?",
        lines=lambda p: [
            f"Batch {p[0]}: {fmt.count(p[3], 'payout')}, {fmt.money_in(p[4], p[2])}, "
            f"as {payout_files.FORMATS[p[1]].label}.",
            "Each payout goes in this file only: making it again needs the file voided first.",
        ],
        confirm_label="Make the file",
        act=_make_file,
    )
    confirm.dialog(
        "approve",
        title="Approve this batch?",
        lines=lambda p: [
            f"Batch {p[0]}: {fmt.count(p[1], 'payout')} waiting for approval.",
            "You approve as the second manager; you cannot approve payouts you scheduled.",
        ],
        confirm_label="Approve",
        act=lambda session, p: (
            "Approved "
            + fmt.count(len(payouts.approve_batch(session, actor=actor, cutoff=p[0])), "payout")
            + "."
        ),
    )

    def _void(session: Session, arg: tuple[int, str]) -> str:
        record = payout_files.void_payout_file(session, actor=actor, file_id=arg[0], reason=arg[1])
        return f"File #{record.id} is void; its unpaid payouts can go in a new file."

    confirm.dialog(
        "void",
        title="Void this payout file?",
        lines=lambda file_id: [
            f"File #{file_id} is withdrawn: tell the bank or provider not to process it.",
            "Its payouts that are still scheduled can then go in a new file.",
        ],
        inputs=lambda _: st.text_input("Reason (kept in the audit log)", max_chars=1000),
        confirm_label="Void the file",
        act=_void,
    )

    held = [p for p in scheduled if p.held_reason]
    if held:
        st.markdown("**Held: payment details changed after scheduling**")
        chosen_held = st.selectbox(
            "Held payout",
            [p.id for p in held],
            format_func=lambda i: f"#{i} {by_id[i].company_name} · {fmt.money(by_id[i].amount)}",
        )
        st.text(by_id[chosen_held].held_reason)
        if st.button("Re-approve with the new details…"):
            confirm.ask("reapprove", chosen_held)
    confirm.dialog(
        "reapprove",
        title="Re-approve with the new details?",
        lines=lambda payout_id: [
            f"Payout #{payout_id} is paid to the partner's payment details as they are now.",
            "To pay nothing instead, record it as canceled below.",
        ],
        confirm_label="Re-approve",
        act=lambda session, payout_id: (
            f"Payout #{payouts.reapprove(session, actor=actor, payout_id=payout_id).id} "
            "is released with the new details."
        ),
    )

    st.markdown("**Record the outcome of one payout**")
    with st.form(f"settle-{generation}"):
        chosen = st.selectbox(
            "Payout",
            list(by_id),
            format_func=lambda i: (
                f"#{i} {by_id[i].company_name} · "
                f"{fmt.money_in(by_id[i].payout_amount, by_id[i].payout_currency)} · "
                f"{fmt.method(by_id[i].payment_method)}"
            ),
        )
        outcome = st.radio("Outcome", ["paid", "failed", "canceled"], horizontal=True)
        left, right = st.columns(2)
        reference = left.text_input("Payment reference (for paid)", max_chars=100)
        paid_on = right.date_input("Paid on (UTC)", value=today, max_value=today)
        reason = st.text_input("Reason (for failed or canceled)", max_chars=1000)
        if st.form_submit_button("Review and record…", type="primary"):
            try:  # what is missing is said here, before anything is asked
                payouts.check_outcome(outcome, reference=reference, reason=reason)
            except ValidationError as missing:
                show_error(missing)
            else:
                confirm.ask("settle", (chosen, outcome, reference, paid_on, reason))

    def _settle(session: Session, payload: tuple[int, str, str, date, str]) -> str:
        payout_id, result, ref, day, why = payload
        if result == "paid":
            view = payouts.mark_paid(
                session, actor=actor, payout_id=payout_id, reference=ref, paid_on=day
            )
        else:
            view = payouts.close_unpaid(
                session, actor=actor, payout_id=payout_id, status=result, reason=why
            )
        return f"Payout #{view.id} ({view.company_name}) is now {view.status.value}."

    def _settle_lines(payload: tuple[int, str, str, date, str]) -> list[str]:
        payout_id, result, ref, day, why = payload
        payout = by_id.get(payout_id)
        if payout is None:
            return [f"Payout #{payout_id} is no longer scheduled."]
        lines = [
            f"Payout #{payout.id} to {payout.company_name}",
            f"Amount: {fmt.money_in(payout.payout_amount, payout.payout_currency)} by "
            f"{fmt.method(payout.payment_method)}",
        ]
        if result == "paid":
            return [*lines, f"Mark it paid on {day} with reference {ref.strip()}."]
        return [*lines, f"Mark it {result}: its commissions return to payable. {why}".strip()]

    confirm.dialog(
        "settle",
        title="Record this outcome?",
        lines=_settle_lines,
        confirm_label="Record it",
        act=_settle,
        on_success=_cleared,
    )

    st.markdown("**Mark several payouts paid from the bank's statement**")
    st.text(
        "Upload the bank's ISO 20022 statement (camt.053 XML), or a CSV with the columns "
        f"{', '.join(STATEMENT_COLUMNS)} (paid_date as YYYY-MM-DD). A payout is found by its "
        "end-to-end reference PAYOUT-<number>; the amount and currency must be the payout's. "
        "Every entry is checked first: one refused entry records nothing."
    )
    several = st.multiselect(
        "Payouts for a statement template", list(by_id), format_func=lambda i: f"#{i}"
    )
    template = io.StringIO()
    template.write(",".join(STATEMENT_COLUMNS) + "\n")
    for payout_id in several:
        template.write(
            f"PAYOUT-{payout_id},,{today.isoformat()},{by_id[payout_id].payout_amount},"
            f"{by_id[payout_id].payout_currency}\n"
        )
    st.download_button(
        "Download a statement template",
        template.getvalue(),
        "payout-statement.csv",
        "text/csv",
        disabled=not several,
        on_click="ignore",  # a download changes nothing: no rerun
    )
    statement = st.file_uploader(
        "Statement (camt.053 XML or CSV)",
        type=["xml", "csv"],
        key=f"statement-{generation}",
        max_upload_size=payouts.MAX_STATEMENT_BYTES // 1048576,
    )
    if statement is not None:
        content = statement.getvalue()
        reading = perform(
            lambda session: payouts.read_statement(session, actor=actor, content=content),
            busy="Reading the bank statement…",
        )
        if reading is not None:
            tables.show(
                [
                    {
                        "Payout": row.payout_id,
                        "Company": row.company_name,
                        "Amount": fmt.money_in(row.amount, row.currency),
                        "Reference": row.reference,
                        "Paid on": fmt.day(row.paid_on),
                        "Note": "already recorded" if row.already_paid else "",
                    }
                    for row in reading.rows
                ],
                key="settled",
                compact=["Company", "Amount", "Reference"],
            )
            if reading.ignored:
                st.text("Entries that name no payout to settle (left as they are):")
                st.text("\n".join(reading.ignored))
            if st.button(f"Mark {fmt.count(len(reading.rows), 'payout')} paid…", type="primary"):
                confirm.ask("statement", (content, len(reading.rows), _totals(reading.rows)))

    def _settle_statement(session: Session, payload: tuple[bytes, int, str]) -> str:
        settled = payouts.settle_statement(session, actor=actor, content=payload[0])
        return f"Recorded {fmt.count(len(settled), 'payout')} as paid."

    confirm.dialog(
        "statement",
        title="Mark these payouts paid?",
        lines=lambda p: [f"{fmt.count(p[1], 'payout')}, {p[2]} in all, are marked paid."],
        confirm_label="Mark them paid",
        act=_settle_statement,
        on_success=_cleared,
    )

    downloads.csv_export(
        actor,
        "payouts",
        prepare="Prepare the payout report (CSV, accounts masked)",
        file_name="payouts-scheduled.csv",
        noun="scheduled payout",
        filters=exports.Filters(status="scheduled"),
    )

st.subheader("History", anchor=False)
history = read(lambda session: payouts.list_payouts(session, actor=actor, limit=100).items)
tables.show(
    [
        {
            "Payout": p.id,
            "Company": p.company_name,
            "Amount": fmt.money(p.amount),
            "Arrives": fmt.arrives(p.payout_amount, p.payout_currency, p.exchange_rate),
            "Status": fmt.label(p.status.value),
            "Reference": p.reference,
            "Scheduled": fmt.day(p.created_at),
            "Paid": fmt.day(p.paid_at),
            "Returned": p.return_reason,
        }
        for p in history
    ],
    key="payout-history",
    compact=["Company", "Amount", "Status"],
)
paid_recently = [p for p in history if p.status is PayoutStatus.PAID]
if paid_recently:
    st.markdown("**Record a payout the bank sent back**")
    with st.form(f"return-{generation}"):
        returned = st.selectbox(
            "Paid payout",
            [p.id for p in paid_recently],
            format_func=lambda i: next(
                f"#{p.id} {p.company_name} · {fmt.money(p.amount)} · {p.reference}"
                for p in paid_recently
                if p.id == i
            ),
        )
        code = st.selectbox(
            "Bank's return reason",
            list(payouts.RETURN_REASONS),
            format_func=lambda c: f"{c}: {payouts.RETURN_REASONS[c]}",
        )
        note = st.text_input("Note (required for OTHER)", max_chars=150)
        if st.form_submit_button("Review and record…"):
            confirm.ask("return", (returned, code, note))


def _record_return(session: Session, payload: tuple[int, str, str]) -> str:
    payout_id, code, note = payload
    view = payouts.mark_returned(
        session, actor=actor, payout_id=payout_id, reason_code=code, note=note
    )
    return f"Payout #{view.id} is marked returned; its commissions are payable again."


confirm.dialog(
    "return",
    title="Record this return?",
    lines=lambda p: [
        f"Payout #{p[0]} came back: {p[1]} {payouts.RETURN_REASONS.get(p[1], '')}.",
        "Its commissions become payable again and the partner is asked to check its details.",
    ],
    confirm_label="Record the return",
    act=_record_return,
    on_success=_cleared,
)
