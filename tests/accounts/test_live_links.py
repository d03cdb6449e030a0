"""No live link is readable at rest or on screen: a reset or invitation link reaches only its
recipient (a real SMTP server receives it), while the outbox, the Mail page and a database
dump show `[link hidden]`; once sent, even the encrypted copy is gone. A manager who wants a
user to get in sends a new link instead of reading one."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from portal.accounts import password_links
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied
from portal.core.models import AuditEntry, MailStatus, OutboxMessage, TokenPurpose, User
from portal.messaging import mail, mail_sender
from tests.factories import PASSWORD, make_actor, make_manager
from tests.mailbox import html_of, smtp_server, text_of

TOKEN = re.compile(r"/set_password\?token=([A-Za-z0-9_-]+)")


def _dump(engine) -> str:
    """Every outbox column as text: what a database dump or backup would hold."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM outbox_messages")).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_a_reset_link_reaches_its_owner_and_nobody_can_read_it_from_the_portal(
    engine, settings_override
):
    with smtp_server() as box:
        settings_override(smtp_url=box.url)
        with unit_of_work(engine) as session:
            victim = make_actor(session)
            manager = make_manager(session)
            address = session.get(User, victim.user_id).email
            # Anyone may ask for the victim's reset, signed out.
            password_links.request_reset(session, login=victim.username)
        with unit_of_work(engine) as session:
            (shown,) = mail.list_mail(session, actor=manager).items
        assert "[link hidden]" in shown.body_text and "token=" not in shown.body_text
        assert "token=" not in _dump(engine)
        assert mail_sender.deliver_due(engine).sent == 1
        (received,) = box.to(address)
    token = TOKEN.search(text_of(received)).group(1)
    assert TOKEN.search(html_of(received)).group(1) == token
    dump = _dump(engine)
    assert token not in dump and "token=" not in dump
    with unit_of_work(engine) as session:
        row = session.scalar(select(OutboxMessage))
        assert (row.status, row.secret_encrypted) == (MailStatus.SENT, None)
        # The link works for its owner, once.
        assert password_links.link_owner(session, token=token) == (
            victim.username,
            TokenPurpose.RESET,
        )


def test_a_manager_sends_a_new_link_instead_of_reading_one(engine, settings_override):
    with smtp_server() as box:
        settings_override(smtp_url=box.url)
        with unit_of_work(engine) as session:
            manager = make_manager(session)
            partner = make_actor(session)
            password_links.request_reset(session, login=partner.username)
            first = session.scalar(select(OutboxMessage.id))
            with pytest.raises(PermissionDenied):
                password_links.send_new_link(session, actor=partner, message_id=first)
            assert password_links.send_new_link(session, actor=manager, message_id=first)
            entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.reset_sent"))
            assert entry.actor_user_id == manager.user_id
        mail_sender.deliver_due(engine)
        older, newer = (TOKEN.search(text_of(m)).group(1) for _, m in box.received)
    with unit_of_work(engine) as session:
        assert password_links.link_owner(session, token=older) is None  # replaced
        assert password_links.link_owner(session, token=newer) is not None
        event = session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind != "invitation"))
        assert event is not None
        with pytest.raises(NotFound):
            password_links.send_new_link(session, actor=manager, message_id=10**6)


def test_api_keys_end_with_a_reset_sign_out_everywhere_and_deactivation(engine):
    from portal.accounts import api_keys, users
    from portal.core.models import ApiKey

    def live_keys(session, user_id):
        return session.scalars(
            select(ApiKey.id).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        ).all()

    with unit_of_work(engine) as session:
        manager = make_manager(session)
        reset, everywhere, gone, changed = (make_actor(session) for _ in range(4))
        for actor in (reset, everywhere, gone, changed):
            api_keys.create_key(session, actor=actor, name="crm", scope="write")
        password_links.request_reset(session, login=reset.username)
        reset_mail = session.scalar(select(OutboxMessage))
    from tests.mailbox import link_token

    with unit_of_work(engine) as session:
        password_links.set_password(
            session, token=link_token(reset_mail), new_password="a brand new password"
        )
        users.end_sessions(session, actor=everywhere)
        users.set_active(session, actor=manager, user_id=gone.user_id, active=False)
        users.change_password(
            session,
            actor=changed,
            current_password="correct horse battery staple",
            new_password="another long password",
        )
        for actor in (reset, everywhere, gone):
            assert live_keys(session, actor.user_id) == [], actor.username
        # A password change keeps them unless asked: the page asks.
        assert len(live_keys(session, changed.user_id)) == 1
        users.change_password(
            session,
            actor=changed,
            current_password="another long password",
            new_password="yet another long password",
            end_api_keys=True,
        )
        assert live_keys(session, changed.user_id) == []


def test_every_user_of_the_partner_hears_of_a_new_payout_destination(engine):
    from portal.partners import profiles
    from tests.factories import make_partner

    with unit_of_work(engine) as session:
        company = make_partner(session, company_name="Acme")
        first = make_actor(session, partner=company)
        second = make_actor(session, partner=company)
        profiles.update_profile(
            session,
            actor=first,
            password=PASSWORD,
            changes={"payment_method": "paypal", "payment_email": "p@x.io"},
        )
        profiles.update_profile(session, actor=first, changes={"city": "Leeds"})  # not money
        sent = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "payout_details_changed")
        ).all()
        addresses = {session.get(User, actor.user_id).email for actor in (first, second)}
    assert {message.to_address for message in sent} == addresses
    assert all("payment e-mail, payout method" in message.body_text for message in sent)
    assert all("p@x.io" not in message.body_text for message in sent)
