"""Conversations between partners and the program (`portal.messaging.conversations`): one
thread per partner and per lead, unread counts per user, "unanswered" for managers, mail per
the profile's choice (digest respected) and the `message.created` webhook."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from portal.core import crypto
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    AuditEntry,
    MailStatus,
    OutboxMessage,
    PartnerProfile,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.messaging import conversations
from portal.partners import partners
from tests.factories import make_actor, make_lead, make_manager


def test_a_partner_and_a_manager_talk_with_unread_counts_on_each_side(engine):
    with unit_of_work(engine) as session:
        manager, other_manager = make_manager(session), make_manager(session)
        partner = make_actor(session)
        colleague = make_actor(session, partner=session.get(partners.Partner, partner.partner_id))
        question = conversations.post(session, actor=partner, body="Why was lead 12 lost?\nThanks.")
        assert question.mine and not question.from_manager
        # The writer has read its own message; everyone else on the thread has not.
        assert conversations.unread_count(session, actor=partner) == 0
        assert conversations.unread_count(session, actor=colleague) == 1
        assert conversations.unread_count(session, actor=manager) == 1
        (waiting,) = conversations.conversations(session, actor=manager, unanswered=True)
        assert (waiting.partner_id, waiting.answered, waiting.unread) == (
            partner.partner_id,
            False,
            1,
        )
        view, messages = conversations.read_conversation(
            session, actor=manager, conversation_id=question.conversation_id
        )
        assert [m.body for m in messages] == ["Why was lead 12 lost?\nThanks."]
        assert view.unread == 0 and view.title == "The program"
        assert conversations.unread_count(session, actor=manager) == 0
        assert conversations.unread_count(session, actor=other_manager) == 1  # per user
        answer = conversations.post(
            session,
            actor=manager,
            body="The client chose an in-house team.",
            partner_id=partner.partner_id,
        )
        assert answer.conversation_id == question.conversation_id  # one thread per partner
        assert conversations.conversations(session, actor=manager, unanswered=True) == []
        assert conversations.unread_count(session, actor=partner) == 1
        assert conversations.unread_count(session, actor=colleague) == 2
        # A manager's own answer is not unread for other managers: partners' messages are.
        assert conversations.unread_count(session, actor=other_manager) == 1
        assert conversations.mark_all_read(session, actor=colleague) == 1
        assert conversations.unread_count(session, actor=colleague) == 0
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "message.posted")
        ).all() == ["message.posted", "message.posted"]


def test_a_lead_has_its_own_thread_and_other_partners_see_none_of_it(engine):
    with unit_of_work(engine) as session:
        manager, partner, stranger = make_manager(session), make_actor(session), make_actor(session)
        lead = make_lead(session, partner)
        assert conversations.thread_of_lead(session, actor=partner, lead_id=lead.id) is None
        about_lead = conversations.post(session, actor=partner, body="Any news?", lead_id=lead.id)
        general = conversations.post(session, actor=partner, body="Hello")
        assert about_lead.conversation_id != general.conversation_id
        assert (
            conversations.thread_of_lead(session, actor=manager, lead_id=lead.id)
            == about_lead.conversation_id
        )
        titles = {c.title for c in conversations.conversations(session, actor=partner)}
        assert titles == {"The program", f"Lead #{lead.id} · {lead.client_name}"}
        assert conversations.conversations(session, actor=stranger) == []
        assert conversations.unread_count(session, actor=stranger) == 0
        for attempt in (
            lambda: conversations.read_conversation(
                session, actor=stranger, conversation_id=about_lead.conversation_id
            ),
            lambda: conversations.post(session, actor=stranger, body="Hi", lead_id=lead.id),
            lambda: conversations.post(
                session, actor=stranger, body="Hi", partner_id=partner.partner_id
            ),
            lambda: conversations.thread_of_lead(session, actor=stranger, lead_id=lead.id),
        ):
            with pytest.raises(NotFound):
                attempt()


@pytest.mark.parametrize(
    ("body", "words"),
    [("", "Message is required"), ("x" * 4001, "at most 4000"), ("a\x00b", "control")],
)
def test_a_bad_message_is_refused_by_name_and_nothing_is_written(engine, body, words):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with pytest.raises(ValidationError, match=words) as refused:
            conversations.post(session, actor=partner, body=body)
        assert set(refused.value.errors) == {"body"}
        assert conversations.conversations(session, actor=partner) == []


def test_a_manager_names_the_partner_and_nobody_signed_out_writes(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        with pytest.raises(ValidationError, match="Choose the partner"):
            conversations.post(session, actor=manager, body="Hello")
        with pytest.raises(NotFound):
            conversations.post(session, actor=manager, body="Hello", partner_id=987654)
        with pytest.raises(PermissionDenied):
            conversations.post(session, actor=None, body="Hello")  # type: ignore[arg-type]


def test_the_programs_message_is_mailed_per_the_profile_and_sent_to_webhooks(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        digest_partner = make_actor(session)
        session.execute(
            update(PartnerProfile)
            .where(PartnerProfile.partner_id == digest_partner.partner_id)
            .values(email_digest=True)
        )
        session.add(
            WebhookEndpoint(
                partner_id=partner.partner_id,
                url="https://hooks.example/messages",
                events=["message.created"],
                secret_encrypted=crypto.encrypt("whsec_test"),
            )
        )
        session.flush()
        conversations.post(session, actor=partner, body="A question from us")
        conversations.post(
            session, actor=manager, body="<b>Our</b> answer", partner_id=partner.partner_id
        )
        conversations.post(
            session, actor=manager, body="Hello", partner_id=digest_partner.partner_id
        )
        mail = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "event")).all()
        by_status = {message.status: message for message in mail}
        sent_now = by_status[MailStatus.PENDING]
        assert sent_now.subject == "A message from the program"
        assert "partner_messages" in sent_now.body_text
        assert "&lt;b&gt;Our&lt;/b&gt; answer" in sent_now.body_html  # text, not markup
        assert MailStatus.HELD in by_status  # the other partner's digest keeps it
        deliveries = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        assert [d.event for d in deliveries] == ["message.created", "message.created"]
        first, second = (json.loads(d.body)["data"] for d in deliveries)
        assert (first["from_manager"], first["body"]) == (False, "A question from us")
        assert (second["from_manager"], second["body"]) == (True, "<b>Our</b> answer")
