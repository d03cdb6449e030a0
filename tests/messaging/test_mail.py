"""Mail written to the outbox: which changes write which messages, to whom, and safely."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.accounts import password_links, users
from portal.core.access import Actor
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    AuditEntry,
    Commission,
    MailStatus,
    OutboxMessage,
    PartnerProfile,
    PartnerStatus,
    PasswordToken,
    Role,
    User,
    UserSession,
)
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import mail, mail_sender
from portal.money import monthly_statements, payouts
from portal.partners import partners, profiles
from tests.factories import (
    PASSWORD,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    payable_profile,
)
from tests.mailbox import link_token, text_of

HOSTILE = 'Evil "Co" <script>alert(1)</script>\r\nBcc: victim@example.com'


def outbox(session: Session, kind: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.scalars(query))


def _apply(
    session: Session,
    company: str = "Acme Referrals",
    username: str = "acme",
    display_name: str = "Ada Acme",
) -> int:
    return partners.apply(
        session,
        company_name=company,
        company_email="team@acme.example",
        username=username,
        display_name=display_name,
        user_email="ada@acme.example",
        password=PASSWORD,
    ).id


def test_a_rolled_back_change_sends_nothing(engine):
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        _apply(session)
        assert len(outbox(session, "application_received")) == 1
        raise RuntimeError("the change fails after the mail was written")
    with unit_of_work(engine) as session:
        assert outbox(session) == []


def test_application_and_each_status_change_mail_the_applicant(engine):
    with unit_of_work(engine) as session:
        partner_id = _apply(session)
        manager = make_manager(session)
        for action in ("approve", "suspend", "reactivate"):
            partners.change_status(session, actor=manager, partner_id=partner_id, action=action)
    with unit_of_work(engine) as session:
        sent = outbox(session)
        assert [row.kind for row in sent] == [
            "application_received",
            "partner_approved",
            "partner_suspended",
            "partner_reactivated",
        ]
        assert {row.to_address for row in sent} == {"ada@acme.example"}
        assert "Acme Referrals is approved" in sent[1].subject
        assert "not register or move leads" in sent[2].body_text
        # Account mail is not something one can leave: no unsubscribe link.
        assert all(row.list_unsubscribe is None for row in sent)
        assert len({row.message_id for row in sent}) == 4


def test_user_text_is_escaped_in_html_and_cannot_add_headers(engine):
    with unit_of_work(engine) as session:
        partner_id = _apply(session, company=HOSTILE.replace("\r\n", " "))
        (row,) = outbox(session)
        assert "<script>" not in row.body_html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row.body_html
        assert "<script>alert(1)</script>" in row.body_text  # plain text stays as typed
        user = session.scalars(select(User).where(User.partner_id == partner_id)).one()
        user.display_name = HOSTILE  # as if stored before any validation
        manager = make_manager(session)
        partners.change_status(session, actor=manager, partner_id=partner_id, action="approve")
        approved = outbox(session, "partner_approved")[0]
    message = mail.as_email(approved)
    assert message["Bcc"] is None
    assert "\n" not in approved.to_name and "\r" not in approved.to_name
    headers = message.as_bytes().split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert message["To"].addresses[0].addr_spec == "ada@acme.example"
    # Quotes, brackets, colons and @ go: the name can only be one phrase, never an address.
    assert message["To"].addresses[0].display_name.startswith("Evil Co script")


def test_non_ascii_names_and_subjects_are_encoded(engine):
    with unit_of_work(engine) as session:
        _apply(session, company="Zürich Ünternehmen 日本", display_name="Zoë Ünal 日本")
        (row,) = outbox(session)
    message = mail.as_email(row)
    assert message.as_bytes().isascii()  # encoded words and bodies: no raw 8-bit on the wire
    assert message["To"].addresses[0].display_name == "Zoë Ünal 日本"
    assert "Zürich Ünternehmen 日本" in text_of(message)


def _partner_with_prefs(session: Session, **prefs: bool) -> Actor:
    partner = make_actor(session)
    session.execute(
        update(PartnerProfile)
        .where(PartnerProfile.partner_id == partner.partner_id)
        .values(**prefs)
    )
    return partner


def test_lead_moves_are_mailed_as_the_partner_asked(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        wants = _partner_with_prefs(session, email_notifications=True)
        declines = _partner_with_prefs(session, email_notifications=False)
        for partner in (wants, declines):
            lead = make_lead(session, partner, client_name="Nora <b>Bold</b>")
            leads.change_lead_status(
                session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
            )
        events = outbox(session, "event")
        assert len(events) == 1
        (event,) = events
        assert event.user_id == wants.user_id
        assert event.subject == "A lead moved"
        assert "Nora <b>Bold</b>" in event.body_text
        assert "Nora &lt;b&gt;Bold&lt;/b&gt;" in event.body_html
        assert event.list_unsubscribe is not None and "/mail/unsubscribe?" in event.list_unsubscribe
        assert event.body_text.count(event.list_unsubscribe) == 1


def test_commission_and_payouts_are_mailed(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        payable_profile(session, partner)
        make_converted_lead(session, manager, partner, deal_value="2000.00")
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled
        payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="MAIL-1")
        subjects = [row.subject for row in outbox(session, "event")]
    assert "You earned a commission" in subjects
    assert "A payout is scheduled" in subjects
    assert "A payout was paid" in subjects


def test_a_digest_partner_gets_one_mail_the_next_day(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = _partner_with_prefs(session, email_digest=True)
        for _ in range(3):
            lead = make_lead(session, partner)
            leads.change_lead_status(
                session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
            )
        held = outbox(session, "event")
        assert [row.status for row in held] == [MailStatus.HELD] * 3
    # Nothing goes out the same day.
    assert mail_sender.queue_digests(engine) == 0
    tomorrow = utc_now() + timedelta(days=1)
    assert mail_sender.queue_digests(engine, now=tomorrow) == 1
    assert mail_sender.queue_digests(engine, now=tomorrow) == 0  # once
    with unit_of_work(engine) as session:
        (digest,) = outbox(session, "digest")
        assert digest.user_id == partner.user_id
        assert "3 updates" in digest.subject
        assert digest.body_text.count("A lead moved:") == 3
        assert {row.status for row in outbox(session, "event")} == {MailStatus.DIGESTED}


def test_the_monthly_statement_goes_once_with_its_csv(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        wants = _partner_with_prefs(session, monthly_reports=True)
        _partner_with_prefs(session, monthly_reports=False)
        make_converted_lead(session, manager, wants, deal_value="1234.50")
    next_month = (utc_now().date().replace(day=1) + timedelta(days=32)).replace(day=1)
    assert mail_sender.queue_statements(engine, today=next_month) == 1
    assert mail_sender.queue_statements(engine, today=next_month) == 0
    with unit_of_work(engine) as session:
        (row,) = outbox(session, "monthly_statement")
        statement = monthly_statements.monthly_statement(
            session,
            actor=Actor.operator(),
            month=mail_sender.previous_month(next_month),
            partner_id=wants.partner_id,
        )
    assert row.user_id == wants.user_id
    assert f"Closing balance: {statement.closing_balance:,.2f}" in row.body_text
    assert f"Commissions:     {statement.total('commission'):,.2f}" in row.body_text
    assert row.attachment is not None
    assert row.attachment.decode().splitlines()[-1].endswith(f"{statement.closing_balance:.2f}")
    message = mail.as_email(row)
    (attached,) = list(message.iter_attachments())
    assert attached.get_filename() == row.attachment_name
    assert attached.get_content_type() == "text/csv"


def test_unsubscribe_links_are_signed_and_turn_one_topic_off(engine):
    with unit_of_work(engine) as session:
        partner = _partner_with_prefs(session, email_notifications=True, monthly_reports=True)
        url = mail.unsubscribe_url(partner.user_id, "events")
        query = parse_qs(urlsplit(url).query)
        with pytest.raises(ValidationError):
            mail.unsubscribe(session, user_id=partner.user_id, topic="events", signature="0" * 64)
        with pytest.raises(ValidationError):  # a signature for another topic
            mail.unsubscribe(
                session, user_id=partner.user_id, topic="monthly", signature=query["sig"][0]
            )
        words = mail.unsubscribe(
            session, user_id=partner.user_id, topic="events", signature=query["sig"][0]
        )
        assert "leads" in words
        profile = profiles.get_profile(session, actor=partner)
        assert profile.email_notifications is False
        assert profile.monthly_reports is True


def test_an_invitation_sets_a_password_once(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        view = password_links.invite_user(
            session,
            actor=manager,
            username="invited.one",
            display_name="Ivy Invited",
            email="ivy@partner.example",
            role=Role.PARTNER,
            partner_id=partner.partner_id,
        )
        (invitation,) = outbox(session, "invitation")
        assert invitation.to_address == "ivy@partner.example"
        assert "invited.one" in invitation.body_text
        token = link_token(invitation)
        assert token not in str(
            session.scalars(select(AuditEntry.after).order_by(AuditEntry.id)).all()
        )
    with unit_of_work(engine) as session:
        # The account cannot be entered before the link is used.
        assert users.authenticate(session, username="invited.one", password="").actor is None
        assert password_links.link_owner(session, token=token) == (
            "invited.one",
            password_links.TokenPurpose.INVITATION,
        )
        with pytest.raises(ValidationError) as short:
            password_links.set_password(session, token=token, new_password="short")
        assert "new_password" in short.value.errors
    with unit_of_work(engine) as session:
        assert password_links.set_password(session, token=token, new_password=PASSWORD) == (
            "invited.one"
        )
    with unit_of_work(engine) as session:
        result = users.authenticate(session, username="invited.one", password=PASSWORD)
        assert result.actor is not None and result.actor.user_id == view.id
        with pytest.raises(ValidationError) as reused:
            password_links.set_password(session, token=token, new_password=PASSWORD + "x")
        assert reused.value.errors == {"token": password_links.LINK_REFUSED}


def test_a_reset_answers_alike_and_mails_only_real_accounts(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        user = session.get(User, partner.user_id)
        assert user is not None
        known = password_links.request_reset(session, login=user.username)
        unknown = password_links.request_reset(session, login="nobody.here")
        by_email = password_links.request_reset(session, login=user.email.upper())
        assert known == unknown == by_email
        resets = outbox(session, "password_reset")
        assert [row.to_address for row in resets] == [user.email, user.email]
        # The newer link replaced the older.
        first, second = (link_token(row) for row in resets)
        assert password_links.link_owner(session, token=first) is None
        assert password_links.link_owner(session, token=second) is not None
        with pytest.raises(ValidationError):
            password_links.request_reset(session, login="   ")


def test_reset_mails_are_rate_limited_per_account(engine, settings_override):
    settings_override(reset_mails_per_hour=2)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        name = session.get(User, partner.user_id).username
        answers = {password_links.request_reset(session, login=name) for _ in range(5)}
        assert len(answers) == 1
        assert len(outbox(session, "password_reset")) == 2


def test_a_reset_ends_other_sessions_and_lifts_a_lock(engine, settings_override):
    settings_override(lockout_failures=2)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        name = session.get(User, partner.user_id).username
        users.open_session(
            session, user_id=partner.user_id, token="t" * 40, expires_at=utc_now() + timedelta(1)
        )
    for _ in range(2):
        with unit_of_work(engine) as session:
            users.authenticate(session, username=name, password="wrong password!!")
    with unit_of_work(engine) as session:
        (lockout,) = outbox(session, "lockout")
        assert name in lockout.body_text
        password_links.request_reset(session, login=name)
        token = link_token(outbox(session, "password_reset")[0])
    with unit_of_work(engine) as session:
        password_links.set_password(session, token=token, new_password="a brand new password")
    with unit_of_work(engine) as session:
        live = session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.revoked_at.is_(None))
        )
        assert live == 0
        assert users.authenticate(session, username=name, password="a brand new password").actor


def test_an_expired_link_is_refused(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        name = session.get(User, partner.user_id).username
        password_links.request_reset(session, login=name)
        token = link_token(outbox(session, "password_reset")[0])
        session.execute(update(PasswordToken).values(expires_at=utc_now() - timedelta(seconds=1)))
        with pytest.raises(ValidationError):
            password_links.set_password(session, token=token, new_password=PASSWORD)


def test_managers_read_and_retry_the_outbox_partners_do_not(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session, status=PartnerStatus.PENDING)
        partners.change_status(
            session, actor=manager, partner_id=partner.partner_id, action="approve"
        )
        (row,) = outbox(session)
        row.status, row.attempts, row.last_error = MailStatus.DEAD, 8, "SMTPDataError: 554"
        session.flush()
        page = mail.list_mail(session, actor=manager)
        assert [view.kind for view in page.items] == ["partner_approved"]
        assert mail.mail_counts(session, actor=manager)[MailStatus.DEAD] == 1
        with pytest.raises(PermissionDenied):
            mail.list_mail(session, actor=partner)
        mail.retry_dead(session, actor=manager, message_id=row.id)
        session.refresh(row)
        assert (row.status, row.attempts) == (MailStatus.PENDING, 0)
        with pytest.raises(NotFound):
            mail.retry_dead(session, actor=manager, message_id=row.id)


def test_a_partner_created_without_a_password_gets_an_invitation(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        created = partners.create_partner(
            session,
            actor=manager,
            company_name="Invited Co",
            company_email="team@invited.example",
            username="invited.co",
            display_name="Ian Invited",
            user_email="ian@invited.example",
            password="",
        )
        (invitation,) = outbox(session, "invitation")
        assert invitation.to_address == "ian@invited.example"
        token = link_token(invitation)
        # Nobody knows the stand-in password: only the link opens the account.
        assert users.authenticate(session, username="invited.co", password="").actor is None
    with unit_of_work(engine) as session:
        password_links.set_password(session, token=token, new_password=PASSWORD)
        actor = users.authenticate(session, username="invited.co", password=PASSWORD).actor
        assert actor is not None and actor.partner_id == created.id
