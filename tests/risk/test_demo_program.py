"""Issue 37's done-when on the demo program itself: the risk center holds one kind of event per
rule, a held partner is left out of the batch "under review" until a manager resolves its
event; a conversation waits for an answer; the resellers are paid from their group's minimum;
an announcement and resources are there for the partners they are for."""

from __future__ import annotations

from sqlalchemy import select

from portal.core.access import load_actor
from portal.core.db import unit_of_work
from portal.core.models import RiskRule, RiskStatus, User
from portal.core.types import utc_now
from portal.messaging import announcements, conversations
from portal.money import payouts
from portal.partners import groups, resources
from portal.risk import center
from portal.tools import seed


def _actor(session, username):
    return load_actor(
        session, user_id=session.scalars(select(User.id).where(User.username == username)).one()
    )


def test_the_demo_program_shows_every_new_feature(engine):
    with unit_of_work(engine) as session:
        seed.seed_demo(session)
    with unit_of_work(engine) as session:
        manager, partner = _actor(session, "manager"), _actor(session, "partner")
        groups_open = center.open_groups(session, actor=manager)
        assert {group.rule for group in groups_open} == set(RiskRule)
        held = [g for g in groups_open if g.holds_payouts]
        assert {g.rule for g in held} == {RiskRule.SHARED_PAYOUT_METHOD}
        cutoff = utc_now().date()
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        reviewed = {p.partner_id for p in plan.left_out if "under review" in p.reasons}
        assert reviewed == {g.partner_id for g in held}
        # Resolving one partner's event: that partner is no longer held for review.
        first = held[0]
        (event,) = [
            e for e in center.events(session, actor=manager) if e.partner_id == first.partner_id
        ]
        center.decide(
            session,
            actor=manager,
            event_ids=[event.id],
            outcome=RiskStatus.RESOLVED,
            reason="The partners confirmed they are one company; the twin account is closed.",
        )
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        still = {p.partner_id for p in plan.left_out if "under review" in p.reasons}
        assert first.partner_id not in still

        waiting = conversations.conversations(session, actor=manager, unanswered=True)
        assert [c.title for c in waiting] == ["The program"]
        assert conversations.unread_count(session, actor=manager) >= 1

        listed = {g.name: g for g in groups.list_groups(session, actor=manager)}
        assert listed["Resellers"].partners == 4
        assert [a.title for a in announcements.for_me(session, actor=partner)] == [
            "Payouts over the holidays"
        ]
        titles = {r.title for r in resources.list_resources(session, actor=partner)}
        assert titles == {"Brand kit"}  # the deck is for the resellers
