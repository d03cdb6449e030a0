"""The Messages pages of both sides (AppTest): a partner asks, a manager sees it waiting and
answers, the partner reads the answer; a lead's own thread from the lead; text stays text."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.db import unit_of_work
from portal.core.models import Message
from portal.messaging import conversations
from tests.apptest import page_as, texts
from tests.factories import make_actor, make_lead, make_manager

pytestmark = pytest.mark.slow


def _send(test, text: str) -> None:
    test.text_area[-1].input(text)
    next(b for b in test.button if b.label == "Send").click().run()
    assert not test.exception, test.exception


def test_a_partner_asks_and_a_manager_answers_on_the_pages(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
    test = page_as(partner, "pages/partner_messages.py")
    assert not test.exception, test.exception
    assert "No message yet" in texts(test)
    # Nothing written: told under the box.
    next(b for b in test.button if b.label == "Send").click().run()
    assert "Message is required" in texts(test)
    _send(test, "**Why** was my lead <b>lost</b>?")
    page = texts(test)
    assert "Sent." in page
    assert "**Why** was my lead <b>lost</b>?" in page  # as typed: no Markdown, no HTML

    desk = page_as(manager, "pages/manager_messages.py")
    assert not desk.exception, desk.exception
    assert "Why** was my lead" in texts(desk)  # the waiting thread is open
    _send(desk, "The client went with an in-house team.")
    assert "the conversation no longer waits for an answer" in texts(desk)
    assert "No conversation waits for an answer." in texts(desk)

    test = page_as(partner, "pages/partner_messages.py")
    assert "The client went with an in-house team." in texts(test)
    with unit_of_work(app_database) as db:
        assert conversations.unread_count(db, actor=partner) == 0  # read on the page
        assert len(db.scalars(select(Message)).all()) == 2


def test_a_lead_thread_opens_from_the_address_and_others_leads_are_refused(app_database):
    with unit_of_work(app_database) as db:
        manager, partner, stranger = make_manager(db), make_actor(db), make_actor(db)
        lead = make_lead(db, partner)
    test = page_as(partner, "pages/partner_messages.py", lead=str(lead.id))
    assert f"About lead #{lead.id}" in texts(test)
    _send(test, "Has the client answered?")
    test = page_as(partner, "pages/partner_messages.py", lead=str(lead.id))
    assert "Has the client answered?" in texts(test)
    desk = page_as(manager, "pages/manager_messages.py", lead=str(lead.id))
    assert "Has the client answered?" in texts(desk)
    _send(desk, "Not yet; we call again on Monday.")
    with unit_of_work(app_database) as db:
        (thread,) = conversations.conversations(db, actor=partner)
        assert thread.lead_id == lead.id and thread.answered
    refused = page_as(stranger, "pages/partner_messages.py", lead=str(lead.id))
    assert "Lead not found." in texts(refused)
    assert not [b for b in refused.button if b.label == "Send"]
    bad = page_as(partner, "pages/partner_messages.py", lead="12abc")
    assert "must be a lead number" in texts(bad)
