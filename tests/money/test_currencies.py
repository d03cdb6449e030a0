"""Payout currencies: each partner paid in its own currency at the batch's rate, read from the
ECB's reference-rate file or a CSV or typed; rounding half-up; a typo guard on rates."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.core.config import PROJECT_ROOT
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.types import utc_now
from portal.money import currencies, payouts
from portal.money.currencies import Quote, convert
from portal.partners import profiles
from portal.reporting import integrity
from tests.factories import PASSWORD, make_actor, make_manager, owed_partner

DEMO_ECB = PROJECT_ROOT / "docs" / "demo" / "eurofxref-daily.xml"
IBAN_DE = {
    "payment_method": "bank_transfer",
    "bank_account": "DE89 3704 0044 0532 0130 00",
    "address": "Friedrichstrasse 1",
    "city": "Berlin",
    "zip": "10117",
    "country": "DE",
}
IBAN_GB = {
    "payment_method": "bank_transfer",
    "bank_account": "GB29NWBK60161331926819",
    "address": "1 High Street",
    "city": "London",
    "zip": "EC1A 1BB",
    "country": "GB",
}


@given(
    amount=st.decimals(min_value="0.01", max_value="9999999.99", places=2),
    rate=st.decimals(min_value="0.00000001", max_value="9999.99999999", places=8),
)
def test_conversion_rounds_half_up_to_cents(amount, rate):
    paid = convert(amount, rate)
    exact = amount * rate
    assert paid == paid.quantize(Decimal("0.01"))
    assert abs(paid - exact) <= Decimal("0.005")
    # Exactly half a cent goes up, never to even.
    assert paid == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_ecb_file_gives_cross_rates_from_the_program_currency():
    rates = currencies.read_rates(DEMO_ECB.read_bytes(), today=date(2026, 12, 6))
    assert rates["EUR"] == Quote(
        Decimal("0.92165899"), date(2026, 12, 4), "ECB reference rate via EUR/USD"
    )
    assert rates["GBP"].rate == Decimal("0.78820276")  # 0.85520 / 1.0850
    assert "USD" not in rates  # the program currency needs none


def test_the_ecb_file_in_a_euro_program_is_read_as_it_is(settings_override):
    settings_override(currency="EUR")
    rates = currencies.read_rates(DEMO_ECB.read_bytes(), today=date(2026, 12, 6))
    assert rates["USD"] == Quote(Decimal("1.085"), date(2026, 12, 4), "ECB reference rate")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"currency,rate\nEUR,0.9\nGBP,-1\n", "row 3: GBP '-1'"),
        (b"currency,rate\nEUR,1e3\n", "row 2: EUR '1e3'"),
        (b"currency,rate\nEU,0.9\n", "row 2: EU"),
        (b"code,value\nEUR,0.9\n", "header row currency,rate"),
        (b"<Envelope><Cube/></Envelope>", "not the ECB's daily reference rates"),
        (b"<Envelope", "not well-formed"),
        (b"\xff\xfe", "not UTF-8"),
        (b"x" * (600 * 1024), "larger than 512 KB"),
    ],
)
def test_a_bad_rates_file_is_refused_with_the_reason(content, fragment):
    with pytest.raises(ValidationError) as raised:
        currencies.read_rates(content, today=date(2026, 12, 6))
    assert fragment in raised.value.errors["rates"]


def test_an_entity_in_the_rates_file_is_not_resolved(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("9.99")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<Envelope><Cube><Cube time='2026-12-04'><Cube currency='USD' rate='1.1'/>"
        "<Cube currency='GBP' rate='&x;'/></Cube></Cube></Envelope>"
    )
    # No DTD is loaded, so the entity is unknown and the file refused: never 9.99 for GBP.
    with pytest.raises(ValidationError) as raised:
        currencies.read_rates(xml, today=date(2026, 12, 6))
    assert raised.value.errors["rates"] == "The rates file is not well-formed XML."


def test_each_partner_is_paid_in_its_currency_at_the_batch_rate(engine):
    rates = currencies.read_rates(DEMO_ECB.read_bytes(), today=utc_now().date())
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        german = owed_partner(session, manager, IBAN_DE)
        british = owed_partner(session, manager, IBAN_GB)
        chose_usd = owed_partner(session, manager, {**IBAN_GB, "payout_currency": "USD"})
        # Without rates, the partners paid in EUR and GBP wait, saying why.
        plan = payouts.preview(session, actor=manager, cutoff=utc_now().date())
        assert plan.rates_needed == ("EUR", "GBP")
        assert sorted("; ".join(p.reasons) for p in plan.left_out) == [
            "no exchange rate for EUR given for this batch",
            "no exchange rate for GBP given for this batch",
        ]
        scheduled = payouts.run_batch(
            session, actor=manager, cutoff=utc_now().date(), rates=rates
        ).scheduled
        by_partner = {view.partner_id: view for view in scheduled}
        euro = by_partner[german.partner_id]
        assert (euro.amount, euro.currency) == (Decimal("100.00"), "USD")
        assert (euro.payout_amount, euro.payout_currency) == (Decimal("92.17"), "EUR")
        assert (euro.exchange_rate, euro.rate_date) == (Decimal("0.92165899"), date(2026, 12, 4))
        assert euro.rate_source == "ECB reference rate via EUR/USD"
        assert by_partner[british.partner_id].payout_amount == Decimal("78.82")
        dollars = by_partner[chose_usd.partner_id]
        assert (dollars.payout_amount, dollars.payout_currency) == (Decimal("100.00"), "USD")
        assert dollars.exchange_rate == 1
        assert integrity.verify_ledger(session) == []


def test_a_rate_far_from_the_last_one_used_asks_for_a_confirmation(engine):
    today = utc_now().date()
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        owed_partner(session, manager, IBAN_DE)
        payouts.run_batch(
            session, actor=manager, cutoff=today, rates={"EUR": Quote(Decimal("0.92"), today, "x")}
        )
        owed_partner(session, manager, IBAN_DE)
        typo = {"EUR": Quote(Decimal("9.2"), today, "typed")}
        with pytest.raises(ValidationError) as raised:
            payouts.run_batch(session, actor=manager, cutoff=today, rates=typo)
        assert "EUR 9.2 is 900% away from 0.92" in raised.value.errors["rates"]
        (paid,) = payouts.run_batch(
            session, actor=manager, cutoff=today, rates=typo, confirm_rate_jumps=True
        ).scheduled
        assert paid.payout_amount == Decimal("920.00")


def test_a_partner_chooses_an_enabled_currency_and_defaults_by_its_bank(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        view = profiles.update_profile(session, actor=partner, password=PASSWORD, changes=IBAN_DE)
        assert (view.payout_currency, view.paid_in) == (None, "EUR")
        view = profiles.update_profile(
            session, actor=partner, password=PASSWORD, changes={"payment_method": "paypal"}
        )
        assert view.paid_in == "USD"  # PayPal pays in the program currency unless chosen
        with pytest.raises(ValidationError) as raised:
            profiles.update_profile(session, actor=partner, changes={"payout_currency": "CHF"})
        assert raised.value.errors["payout_currency"] == (
            "Payout currency must be one of: USD, EUR, GBP."
        )
        view = profiles.update_profile(session, actor=partner, changes={"payout_currency": "gbp"})
        assert (view.payout_currency, view.paid_in) == ("GBP", "GBP")


def test_typed_rates_are_checked():
    from portal.core.validation import FieldErrors

    errors = FieldErrors()
    assert currencies.clean_rate(errors, "EUR", " 0.9234 ", label="EUR rate") == Decimal("0.9234")
    for bad in ("", "-1", "0", "1,5", "NaN", "１.２", None, 3):
        errors = FieldErrors()
        assert currencies.clean_rate(errors, "EUR", bad, label="EUR rate") is None
        assert errors.errors["EUR"] == "EUR rate must be a positive decimal number such as 0.9234."
