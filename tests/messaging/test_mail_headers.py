"""Mail headers are safe on any Python: a name written as an RFC 2047 encoded word hiding
CR/LF (CVE-2024-6923, unfixed before Python 3.11.10) cannot add a header or a body, checked on
what a real SMTP server receives; an address a mail server cannot take is refused at entry."""

from __future__ import annotations

import pytest

from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.validation import FieldErrors, clean_email
from portal.messaging import mail, mail_sender
from portal.partners import partners
from tests.mailbox import smtp_server, text_of

INJECTION = "=?utf-8?q?Pat=0D=0AReply-To:_ceo@evil.example=0D=0A=0D=0AURGENT:_call_+1-555-0100?="


def test_an_encoded_word_in_a_name_adds_no_header_and_no_body(engine, settings_override):
    with smtp_server() as box:
        settings_override(smtp_url=box.url)
        with unit_of_work(engine) as session:
            partners.apply(
                session,
                company_name=INJECTION,
                company_email="pat@agency.example",
                username="pat.agency",
                display_name=INJECTION + "\u2028Bcc: x@evil.example",
                user_email="pat@agency.example",
                password="a long enough password",
            )
        assert mail_sender.deliver_due(engine).sent >= 1
        (received,) = box.to("pat@agency.example")
    assert received["Reply-To"] is None and received["Bcc"] is None
    # The body is the portal's: the name appears in it as plain words, never as its own lines.
    body = text_of(received)
    assert body.startswith("Hello = ?utf-8?q?Pat=0D=0AReply-To")
    assert not [line for line in body.splitlines() if line.startswith("URGENT")]
    # The name arrives as the words it was, one quoted phrase, nothing decoded out of it.
    (to,) = received["To"].addresses
    assert to.addr_spec == "pat@agency.example"
    assert to.display_name.startswith("= ?utf-8?q?Pat=0D=0AReply-To _ceo evil example")
    assert [name for name, _ in received.items()].count("To") == 1


def test_a_display_name_keeps_no_special_that_could_make_it_an_address():
    assert (
        mail.display_name('Zoë "Quote" Müller, Ltd. <x@y>: Bcc') == "Zoë Quote Müller Ltd x y Bcc"
    )


@pytest.mark.parametrize("text", ["\r\n", "\n", "\u2028", "\u2029", "\x0b", "\x1c", "\x85"])
def test_every_line_break_becomes_a_space_in_a_header(text):
    assert mail.one_line(f"A{text}B: c", 50) == "A B: c"


def test_a_mailed_address_must_be_ascii_before_the_at():
    errors = FieldErrors()
    assert (
        clean_email(errors, "email", "jürgen@juergen.example", label="Email", mailed=True) is None
    )
    assert "plain letters, digits and dots before the @" in errors.errors["email"]
    errors = FieldErrors()
    idn = clean_email(errors, "email", "jurgen@bücher.example", label="Email", mailed=True)
    assert idn == "jurgen@xn--bcher-kva.example" and not errors.errors
    # A client's address is data, not a mailbox the portal writes to: it stays as typed.
    assert clean_email(FieldErrors(), "e", "jürgen@juergen.example", label="E") is not None


def test_apply_refuses_an_address_no_mail_can_reach(engine):
    with unit_of_work(engine) as session, pytest.raises(ValidationError) as raised:
        partners.apply(
            session,
            company_name="Jürgen GmbH",
            company_email="jürgen@juergen.example",
            username="juergen",
            display_name="Jürgen",
            user_email="jürgen@juergen.example",
            password="a long enough password",
        )
    assert "before the @" in " ".join(raised.value.errors.values())
