"""Announcements (`portal.messaging.announcements`): to every partner or to some groups only,
on the dashboard until dismissed, e-mailed on a topic partners can leave."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import OutboxMessage, PartnerProfile, User
from portal.messaging import announcements
from portal.partners import groups
from tests.factories import make_actor, make_manager


def test_an_announcement_to_one_group_reaches_only_that_group(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        reseller, agency, loner = make_actor(session), make_actor(session), make_actor(session)
        resellers = groups.save_group(session, actor=manager, name="Resellers")
        agencies = groups.save_group(session, actor=manager, name="Agencies")
        groups.move_partners(
            session, actor=manager, partner_ids=[reseller.partner_id], group_id=resellers.id
        )
        groups.move_partners(
            session, actor=manager, partner_ids=[agency.partner_id], group_id=agencies.id
        )
        session.execute(
            update(PartnerProfile)
            .where(PartnerProfile.partner_id == agency.partner_id)
            .values(announcement_emails=False)
        )
        to_resellers = announcements.publish(
            session,
            actor=manager,
            title="New price list",
            body="From January: see the resources.",
            audience=[resellers.id],
            email=True,
        )
        assert to_resellers.audience == ("Resellers",)
        to_default = announcements.publish(
            session, actor=manager, title="Hello default", body="Hi", audience=[0]
        )
        everyone = announcements.publish(session, actor=manager, title="Holidays", body="Closed")

        def titles(actor):
            return [a.title for a in announcements.for_me(session, actor=actor)]

        assert titles(reseller) == ["Holidays", "New price list"]
        assert titles(agency) == ["Holidays"]
        assert titles(loner) == ["Holidays", "Hello default"]
        assert announcements.for_me(session, actor=manager) == []
        # Mailed to the resellers' users only (the agency left the topic; the others are
        # not in the group).
        (message,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "announcement")
        ).all()
        assert message.to_address == session.get_one(User, reseller.user_id).email
        assert message.subject == "New price list"
        assert "unsubscribe" in message.body_text.casefold()
        # Dismissed by one user: gone for that user only.
        announcements.dismiss(session, actor=reseller, announcement_id=everyone.id)
        assert titles(reseller) == ["New price list"]
        with pytest.raises(NotFound):  # not one shown to this partner
            announcements.dismiss(session, actor=agency, announcement_id=to_default.id)


def test_only_managers_publish_and_bad_input_is_named(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        with pytest.raises(PermissionDenied):
            announcements.publish(session, actor=partner, title="x", body="y")
        with pytest.raises(ValidationError) as refused:
            announcements.publish(
                session, actor=manager, title=" ", body="x" * 4001, audience=[987654]
            )
        assert set(refused.value.errors) == {"title", "body", "audience"}
        assert announcements.list_announcements(session, actor=manager) == []
