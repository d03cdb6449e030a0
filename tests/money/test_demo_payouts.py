"""The demo program pays as a new user would see it: a batch run with the ECB's rate file gives
a SEPA file in EUR, a cross-border file in GBP and a NACHA file in USD, each accepted by an
independent parser or the published schema; every payout's base amount, rate and paid amount
agree across the service, the API's answer, the statement and the file."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import achkit
import sepaxml
import xmlschema
from ach.parser import Parser as NachaParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from portal.core.access import Actor
from portal.core.config import PROJECT_ROOT
from portal.core.db import unit_of_work
from portal.core.models import Commission, Payout, PayoutStatus
from portal.core.types import utc_now
from portal.money import currencies, monthly_statements, payout_files, payouts
from portal.money.payment_details import SEPA_CHARACTERS
from portal.reporting import integrity
from portal.tools import seed
from tests.factories import GERMAN_IBAN, make_converted_lead, make_manager, owed_partner

ECB = PROJECT_ROOT / "docs" / "demo" / "eurofxref-daily.xml"
PAIN = xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"))


def _transfers(content: bytes) -> list[dict]:
    document = PAIN.to_dict(content.decode())["CstmrCdtTrfInitn"]
    return [tx for batch in document["PmtInf"] for tx in batch["CdtTrfTxInf"]]


def test_a_demo_batch_with_the_ecb_file_gives_sepa_cross_border_and_nacha_files(engine):
    with unit_of_work(engine) as session:
        seed.seed_demo(session)
    operator = Actor.operator()
    with unit_of_work(engine) as session:
        # A month has passed: every commission's hold is over; the new batch uses the ECB file.
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        rates = currencies.read_rates(ECB.read_bytes(), today=utc_now().date())
        cutoff = utc_now().date()
        result = payouts.run_batch(session, actor=operator, cutoff=cutoff, rates=rates)
        by_currency = {p.payout_currency for p in result.scheduled}
        assert {"EUR", "GBP", "USD"} <= by_currency
        files = {
            (fmt, code): payout_files.build_payout_file(
                session, actor=operator, cutoff=cutoff, file_format=fmt, currency=code
            )
            for fmt, code in (("sepa", "EUR"), ("cross_border", "GBP"), ("nacha", "USD"))
        }
        views = {view.id: view for view in result.scheduled}
        assert integrity.verify_ledger(session) == []
    sepa = _transfers(files["sepa", "EUR"].content)
    PAIN.validate(files["cross_border", "GBP"].content.decode())
    for transfer in sepa:
        assert transfer["Amt"]["InstdAmt"]["@Ccy"] == "EUR"
        assert set(transfer["Cdtr"]["Nm"]) <= SEPA_CHARACTERS
        view = views[int(transfer["PmtId"]["EndToEndId"].removeprefix("PAYOUT-"))]
        # The file pays what the payout says: its base amount at the batch's rate.
        assert transfer["Amt"]["InstdAmt"]["$"] == view.payout_amount
        assert view.payout_amount == currencies.convert(view.amount, rates["EUR"].rate)
        assert view.exchange_rate == rates["EUR"].rate
    for transfer in _transfers(files["cross_border", "GBP"].content):
        assert transfer["Amt"]["InstdAmt"]["@Ccy"] == "GBP"
    text = files["nacha", "USD"].content.decode("ascii")
    assert achkit.validate(text)["ok"]
    entries = [
        entry["entry_detail"]
        for batch in NachaParser(text).as_dict()["batches"]
        for entry in batch["entries"]
    ]
    for entry in entries:
        view = views[int(entry["ind_id"].strip().removeprefix("PAYOUT-"))]
        assert (view.payout_currency, int(entry["amount"])) == ("USD", int(view.amount * 100))


def test_the_statement_and_the_api_show_the_same_base_rate_and_paid_amounts(app_database):
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from portal.accounts import api_keys
    from portal.api import app as api_app

    engine = app_database
    today = utc_now().date()
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = owed_partner(session, manager, GERMAN_IBAN, deal="1234.50")
        rate = currencies.Quote(Decimal("0.92165899"), today, "ECB reference rate")
        (payout,) = payouts.run_batch(
            session, actor=manager, cutoff=today, rates={"EUR": rate}
        ).scheduled
        payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="TRF-EUR")
        statement = monthly_statements.monthly_statement(session, actor=partner, month=today)
        key = api_keys.create_key(session, actor=partner, name="t", scope="read")[1]
    assert (payout.amount, payout.payout_amount) == (Decimal("123.45"), Decimal("113.78"))
    (line,) = [line for line in statement.lines if line.kind == "payout"]
    assert line.amount == Decimal("-123.45")
    assert "113.78 EUR at 0.92165899" in line.description
    api_app.rate_limiter.reset()
    app = Starlette(routes=[Mount("/api/v1", app=api_app.api)])
    with TestClient(app, base_url="http://portal.test") as client:
        answer = client.get("/api/v1/payouts", headers={"Authorization": f"Bearer {key}"})
    (item,) = answer.json()["items"]
    assert (item["amount"], item["payout_amount"], item["exchange_rate"]) == (
        "123.45",
        "113.78",
        "0.92165899",
    )
    assert (item["currency"], item["payout_currency"]) == ("USD", "EUR")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    deals=st.lists(
        st.decimals(min_value="10.00", max_value="99999.99", places=2), min_size=1, max_size=4
    ),
    rate=st.decimals(min_value="0.0001", max_value="200", places=8),
)
def test_every_payout_pays_its_base_amount_at_its_rate(engine, deals, rate):
    """The base/paid invariant: paid = base × rate, half-up, whatever the amounts and rate."""
    from tests.conftest import empty_all_tables

    empty_all_tables(engine)
    today = utc_now().date()
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = owed_partner(
            session,
            manager,
            {"payment_method": "wise", "payment_email": "w@p.example", "payout_currency": "GBP"},
            deal=str(deals[0]),
        )
        for deal in deals[1:]:
            make_converted_lead(session, manager, partner, str(deal))
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        quote = currencies.Quote(rate, today, "test")
        result = payouts.run_batch(
            session, actor=manager, cutoff=today, rates={"GBP": quote}, confirm_rate_jumps=True
        )
        for view in result.scheduled:
            assert view.payout_amount == currencies.convert(view.amount, rate)
        assert integrity.verify_ledger(session) == []
        # A payout edited to pay something else is caught.
        session.execute(
            update(Payout)
            .where(Payout.status == PayoutStatus.SCHEDULED)
            .values(payout_amount=Payout.payout_amount + Decimal("0.01"))
        )
        scheduled = session.scalars(select(Payout.id).where(Payout.status == "scheduled")).all()
        problems = integrity.verify_ledger(session)
        assert len([p for p in problems if "expected" in p]) == len(scheduled)
