"""Notifications (unread count, mark read) and the audit log (managers only, filters)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.accounts.users import authenticate
from portal.core import audit
from portal.core.db import unit_of_work
from portal.core.errors import PermissionDenied
from portal.core.models import Partner
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import notifications
from tests.factories import make_actor, make_lead, make_manager


def test_unread_count_and_mark_read_are_per_user(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        colleague = make_actor(session, partner=session.get(Partner, partner.partner_id))
        outsider = make_actor(session)
        for _ in range(3):
            lead = make_lead(session, partner)
            leads.change_lead_status(
                session,
                actor=partner,
                lead_id=lead.id,
                to="contacted",
                expected_version=lead.version,
            )
    with unit_of_work(engine) as session:
        # The colleague is told of the partner user's moves; the user who made them is not.
        assert notifications.unread_count(session, actor=colleague) == 3
        assert notifications.unread_count(session, actor=partner) == 0
        assert notifications.unread_count(session, actor=outsider) == 0
        newest = notifications.list_notifications(session, actor=colleague, limit=2)
        assert len(newest) == 2 and newest[0].id > newest[1].id
        assert (
            notifications.mark_read(session, actor=colleague, notification_ids=[newest[0].id]) == 1
        )
        assert notifications.unread_count(session, actor=colleague) == 2
        # Ids of someone else's notifications are ignored, not marked.
        theirs = notifications.list_notifications(session, actor=colleague)[0].id
        assert notifications.mark_read(session, actor=outsider, notification_ids=[theirs]) == 0
        assert notifications.mark_read(session, actor=colleague) == 2
        assert notifications.list_notifications(session, actor=colleague, unread_only=True) == []


def test_audit_log_is_for_managers_and_filters(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        make_lead(session, partner)
        authenticate(session, username=partner.username, password="wrong password")
    with unit_of_work(engine) as session:
        with pytest.raises(PermissionDenied):
            audit.list_entries(session, actor=partner)
        everything = audit.list_entries(session, actor=manager).items
        assert [entry.action for entry in everything][:2] == ["login.failed", "lead.register"]
        mine = audit.list_entries(session, actor=manager, actor_user_id=partner.user_id).items
        assert {entry.action for entry in mine} == {"login.failed", "lead.register"}
        only = audit.list_entries(session, actor=manager, action="lead.register").items
        assert len(only) == 1 and only[0].after["client_email"].startswith("c***@")
        assert (
            audit.list_entries(
                session, actor=manager, object_type="lead", object_id=only[0].object_id
            ).items
            == only
        )
        future = audit.list_entries(
            session, actor=manager, since=utc_now() + timedelta(minutes=1)
        ).items
        assert future == []
        first = audit.list_entries(session, actor=manager, limit=1)
        second = audit.list_entries(session, actor=manager, limit=1, after=first.next_cursor)
        assert first.items[0].id != second.items[0].id


def test_audit_entries_name_their_objects_and_say_what_changed(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        lead = make_lead(session, partner, client_name="Iris Novak")
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
        entries = audit.list_entries(session, actor=manager, action="lead.change_status").items
    (entry,) = entries
    assert entry.object_name == f"lead #{lead.id} Iris Novak"
    assert entry.change == "status: pending → contacted; version: 1 → 2"
    assert audit.describe_change(None, {"flag": True, "note": ""}) == "flag: yes; note: —"
    assert audit.describe_change({"gone": "x"}, None) == "gone was x"
