"""No live link is readable at rest or on screen: a reset or invitation link reaches only its
recipient (a real SMTP server receives it), while the outbox, the Mail page and a database
dump show `[link hidden]`; once sent, even the encrypted copy is gone. A manager who wants a
user to get in sends a new link instead of reading one."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from portal import mail, mail_sender, password_links
from portal.db import unit_of_work
from portal.errors import NotFound, PermissionDenied
from portal.models import AuditEntry, MailStatus, OutboxMessage, TokenPurpose, User
from tests.factories import make_actor, make_manager
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
