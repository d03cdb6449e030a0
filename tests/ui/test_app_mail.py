"""The mail pages through AppTest: forgot password, set a password from a link, the Mail page."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from portal.accounts import password_links, users
from portal.core.db import unit_of_work
from portal.core.models import MailStatus, OutboxMessage, PartnerStatus, User
from portal.partners import partners
from tests.apptest import app, page_as, signed_in, texts
from tests.factories import make_actor, make_manager
from tests.mailbox import link_token

pytestmark = pytest.mark.slow


def _token(engine, kind: str) -> str:
    """The link's token as the recipient reads it (the stored body shows `[link hidden]`)."""
    with unit_of_work(engine) as session:
        row = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.id.desc())
        ).first()
        assert row is not None
        return link_token(row)


def test_forgot_password_answers_alike_and_mails_a_real_account(app_database):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    answers = []
    for login in ("nobody.at.all", partner.username):
        test = app().run()
        test.text_input(key="forgot_login").input(login)
        next(b for b in test.button if b.label == "Email me a link").click().run()
        assert not test.exception
        answers.append([info.value for info in test.info])
    assert answers[0] == answers[1] and "If an account matches" in answers[0][0]
    with unit_of_work(app_database) as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert [row.kind for row in rows] == ["password_reset"]


def test_forgot_password_without_a_name_says_which_field(app_database):
    test = app().run()
    next(b for b in test.button if b.label == "Email me a link").click().run()
    assert "Enter your username or e-mail address." in texts(test)


def test_a_link_sets_the_password_once(app_database):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
        password_links.request_reset(session, login=partner.username)
    token = _token(app_database, "password_reset")

    test = page_as(None, "pages/set_password.py", token=token)
    assert "Choose a new password" in [title.value for title in test.title]
    assert partner.username in texts(test)

    def submit(first: str, second: str) -> None:
        test.text_input[0].input(first)
        test.text_input[1].input(second)
        test.button[0].click().run()

    submit("a fresh new password", "a different password")
    assert "the two passwords differ" in texts(test)
    submit("short", "short")
    assert "at least 12" in texts(test).lower()
    submit("a fresh new password", "a fresh new password")
    assert not test.exception
    assert "Your password is set. Sign in with it." in texts(test)
    with unit_of_work(app_database) as session:
        assert users.authenticate(
            session, username=partner.username, password="a fresh new password"
        ).actor

    again = page_as(None, "pages/set_password.py", token=token)
    assert password_links.LINK_REFUSED in texts(again)
    assert not again.text_input


def test_the_page_without_a_link_says_how_to_get_one(app_database):
    test = page_as(None, "pages/set_password.py")
    assert not test.exception
    assert "Forgot your password?" in texts(test)
    assert not test.text_input


def test_the_mail_page_lists_shows_text_and_retries(app_database):
    with unit_of_work(app_database) as session:
        manager = make_manager(session)
        pending = make_actor(session, status=PartnerStatus.PENDING)
        session.execute(
            update(User)
            .where(User.id == pending.user_id)
            .values(display_name="<img src=x onerror=alert(1)> **Bold**")
        )
        partners.change_status(
            session, actor=manager, partner_id=pending.partner_id, action="approve"
        )
        session.execute(
            update(OutboxMessage).values(
                status=MailStatus.DEAD, attempts=8, last_error="SMTPDataError: 554 rejected"
            )
        )
    test = signed_in(manager, "pages/manager_mail.py")
    assert not test.exception
    said = texts(test)
    assert "No mail server is configured" in said
    assert [metric.value for metric in test.metric][-1] == "1"  # one failed
    test.selectbox[1].select_index(0).run()
    (body,) = test.code
    assert "<img src=x onerror=alert(1)> **Bold**" in body.value  # as text, in a code block
    next(b for b in test.button if b.label == "Send it again").click().run()
    assert not test.exception
    with unit_of_work(app_database) as session:
        (row,) = session.scalars(select(OutboxMessage)).all()
        assert (row.status, row.attempts) == (MailStatus.PENDING, 0)


def test_the_profile_offers_the_daily_digest(app_database):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    test = signed_in(partner, "pages/partner_profile.py")
    digest = next(box for box in test.checkbox if box.label.startswith("One daily digest"))
    digest.check()
    next(b for b in test.button if b.label == "Save profile").click().run()
    assert not test.exception
    with unit_of_work(app_database) as session:
        from portal.core.models import PartnerProfile

        assert session.scalar(
            select(PartnerProfile.email_digest).where(
                PartnerProfile.partner_id == partner.partner_id
            )
        )


def test_a_partner_created_with_no_password_is_invited(app_database):
    with unit_of_work(app_database) as session:
        manager = make_manager(session)
    test = page_as(manager, "pages/manager_partners.py")
    fields = {field.label: field for field in test.text_input}
    fields["Company name"].input("Invited From Page")
    fields["Company email"].input("team@page.example")
    fields["Contact name"].input("Pia Page")
    fields["Contact email"].input("pia@page.example")
    fields["Username"].input("pia.page")
    next(b for b in test.button if b.label == "Create partner").click().run()
    assert not test.exception
    assert any("e-mailed its login an invitation" in s.value for s in test.success)
    assert "[link hidden]" in _body(app_database, "invitation")
    assert _token(app_database, "invitation")


def _body(engine, kind: str) -> str:
    with unit_of_work(engine) as session:
        body = session.scalars(
            select(OutboxMessage.body_text).where(OutboxMessage.kind == kind)
        ).first()
    assert body is not None
    return body
