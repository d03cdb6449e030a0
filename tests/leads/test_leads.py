"""Leads: registration, claims and duplicates, the transition table, versions, isolation."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from portal.core.access import Actor, PartnerActor, listed_partner_id, readable_leads
from portal.core.db import unit_of_work
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    AuditEntry,
    Lead,
    LeadEvent,
    LeadStatus,
    Notification,
    OutboxMessage,
    PartnerStatus,
    Role,
)
from portal.core.types import utc_now
from portal.leads import leads
from portal.reporting import integrity
from tests.factories import (
    backdate_lead,
    ids_page_by_page,
    make_actor,
    make_lead,
    make_manager,
    make_partner,
)

S = LeadStatus


def test_register_records_lead_event_stats_and_audit(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(
            session,
            partner,
            client_email="  Jane.Doe@Example.COM ",
            client_phone="(415) 555-0132",
            company="Doe Bakery",
        )
    assert lead.status is S.PENDING
    assert lead.client_phone == "+14155550132"
    assert lead.claim_live
    assert lead.claim_expires_at - lead.created_at == timedelta(days=90)
    with unit_of_work(engine) as session:
        stored = session.get(Lead, lead.id)
        assert stored.client_email_key == "jane.doe@example.com"
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == 1
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "lead.register" in actions
        detail = leads.get_lead(session, actor=partner, lead_id=lead.id)
        assert [entry.kind.value for entry in detail.timeline] == ["registered"]


@pytest.mark.parametrize(
    ("field", "overrides", "fragment"),
    [
        ("client_name", {"client_name": "  "}, "Client name is required"),
        ("client_name", {"client_name": "x" * 201}, "at most 200"),
        ("client_name", {"client_name": "Bad\x00Name"}, "control characters"),
        ("client_email", {"client_email": "not-an-email"}, "not a valid email"),
        ("client_email", {"client_email": ""}, "Client email is required"),
        ("client_phone", {"client_phone": "12"}, "not a valid phone number"),
        ("service", {"service": "Astrology"}, "Service must be one of"),
        ("service", {"service": ""}, "Service is required"),
        ("notes", {"notes": "n" * 5001}, "at most 5000"),
    ],
)
def test_register_validation_names_the_field_and_writes_nothing(engine, field, overrides, fragment):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        make_lead(session, partner, **overrides)
    assert field in raised.value.errors
    assert fragment in raised.value.errors[field]
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_duplicate_inside_claim_is_refused_without_naming_the_partner(engine):
    with unit_of_work(engine) as session:
        first = make_actor(session)
        second = make_actor(session)
        original = make_lead(session, first, client_email="owner@bigclient.example")
        first_company = session.get(leads.Partner, first.partner_id).company_name
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        make_lead(session, second, client_email="  OWNER@BigClient.example ")
    message = raised.value.errors["client_email"]
    assert message == (
        f"This client was already registered on {original.created_at.date().isoformat()}."
    )
    assert first_company not in message and first.username not in message


def test_duplicate_phone_is_refused(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        make_lead(session, first, client_phone="+1 415 555 0199")
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        make_lead(session, second, client_phone="(415) 555-0199")
    assert "already registered" in raised.value.errors["client_phone"]


def test_duplicate_accepted_once_the_claim_lapsed(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        old = make_lead(session, first, client_email="lapsed@client.example")
        session.execute(
            update(Lead)
            .where(Lead.id == old.id)
            .values(claim_expires_at=utc_now() - timedelta(seconds=1))
        )
    with unit_of_work(engine) as session:
        again = make_lead(session, second, client_email="lapsed@client.example")
    assert again.partner_id == second.partner_id
    with unit_of_work(engine) as session:
        stale = leads.get_lead(session, actor=first, lead_id=old.id).lead
    assert not stale.claim_live


def test_qualified_lead_keeps_its_claim_past_expiry(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        lead = make_lead(session, first, client_email="kept@client.example")
        leads.change_lead_status(
            session, actor=first, lead_id=lead.id, to=S.QUALIFIED, expected_version=lead.version
        )
        session.execute(
            update(Lead)
            .where(Lead.id == lead.id)
            .values(claim_expires_at=utc_now() - timedelta(days=1))
        )
    with pytest.raises(ValidationError), unit_of_work(engine) as session:
        make_lead(session, second, client_email="kept@client.example")


@pytest.mark.parametrize("closing", [S.LOST, S.CONVERTED])
def test_converted_or_lost_lead_claims_nothing(engine, closing):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, first, client_email="closed@client.example")
        view = leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to=S.QUALIFIED, expected_version=lead.version
        )
        leads.change_lead_status(
            session,
            actor=manager,
            lead_id=lead.id,
            to=closing,
            expected_version=view.version,
            lost_reason="bad_fit",
            deal_value="1000.00",
        )
    with unit_of_work(engine) as session:
        assert make_lead(session, second, client_email="closed@client.example").id != lead.id


def test_self_referral_is_flagged_for_managers_only(engine):
    with unit_of_work(engine) as session:
        partner_row = make_partner(session, email="boss@acme-agency.example")
        partner = make_actor(session, partner=partner_row)
        manager = make_manager(session)
        lead = make_lead(session, partner, client_email="cousin@ACME-agency.example")
        other = make_lead(session, partner)
        assert lead.self_referral is None  # partners do not see the flag
        assert leads.get_lead(session, actor=manager, lead_id=lead.id).lead.self_referral
        assert not leads.get_lead(session, actor=manager, lead_id=other.id).lead.self_referral


def _all_moves():
    for current in S:
        for target in S:
            if current is not target:
                yield current, target


EXPECTED = {
    Role.PARTNER: {
        (S.PENDING, S.CONTACTED),
        (S.PENDING, S.QUALIFIED),
        (S.PENDING, S.LOST),
        (S.CONTACTED, S.QUALIFIED),
        (S.CONTACTED, S.LOST),
        (S.QUALIFIED, S.LOST),
    },
    Role.MANAGER: {
        (S.PENDING, S.CONTACTED),
        (S.PENDING, S.QUALIFIED),
        (S.PENDING, S.LOST),
        (S.CONTACTED, S.QUALIFIED),
        (S.CONTACTED, S.LOST),
        (S.QUALIFIED, S.LOST),
        (S.QUALIFIED, S.CONVERTED),
        (S.LOST, S.PENDING),
        (S.CONVERTED, S.QUALIFIED),
    },
}
# How a manager brings a new lead to each status.
ROUTES = {
    S.PENDING: [],
    S.CONTACTED: [S.CONTACTED],
    S.QUALIFIED: [S.QUALIFIED],
    S.CONVERTED: [S.QUALIFIED, S.CONVERTED],
    S.LOST: [S.LOST],
}


def _move(session, actor, lead_id, version, target, **extra):
    return leads.change_lead_status(
        session,
        actor=actor,
        lead_id=lead_id,
        to=target,
        expected_version=version,
        lost_reason="no_response",
        deal_value="2500.00",
        **extra,
    )


@pytest.mark.parametrize("role", [Role.PARTNER, Role.MANAGER])
def test_transition_table(engine, role):
    """Every (from, to) pair, for both roles: allowed moves happen, others are refused."""
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
    actor = partner if role is Role.PARTNER else manager
    for current, target in _all_moves():
        with unit_of_work(engine) as session:
            lead = make_lead(session, partner)
            version = lead.version
            for step in ROUTES[current]:
                version = _move(session, manager, lead.id, version, step).version
        allowed = (current, target) in EXPECTED[role]
        if allowed:
            with unit_of_work(engine) as session:
                moved = _move(session, actor, lead.id, version, target)
            assert moved.status is target, (current, target)
        else:
            with pytest.raises(PermissionDenied) as raised, unit_of_work(engine) as session:
                _move(session, actor, lead.id, version, target)
            message = str(raised.value)
            for move in leads.allowed_moves(actor, current):
                assert move.value in message
            with unit_of_work(engine) as session:
                assert session.get(Lead, lead.id).status is current


def test_a_refusal_names_the_allowed_moves_in_words():
    partner = PartnerActor(
        user_id=1,
        username="p",
        display_name="P",
        role=Role.PARTNER,
        partner_id=1,
        partner_status=PartnerStatus.ACTIVE,
    )
    assert leads.transition_refusal(partner, S.PENDING, S.CONVERTED) == (
        "A pending lead cannot be moved to converted by a partner; "
        "it can move to contacted, qualified or lost."
    )
    assert leads.in_words([S.QUALIFIED, S.LOST]) == "qualified or lost"
    assert leads.in_words([S.LOST]) == "lost"
    assert leads.in_words([]) == ""


def test_the_conversion_preview_is_what_the_conversion_earns(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        lead = make_lead(session, partner)
        qualified = _move(session, manager, lead.id, lead.version, S.QUALIFIED)
        preview = leads.preview_conversion(
            session, actor=manager, lead_id=lead.id, deal_value="1234.57"
        )
        assert preview.commission == Decimal("123.46") and not preview.rate_pinned
        same = leads.preview_conversion(
            session, actor=manager, lead_id=lead.id, deal_value="2500.00"
        )
        assert session.get(Lead, lead.id).status is S.QUALIFIED  # a preview writes nothing
        converted = _move(session, manager, lead.id, qualified.version, S.CONVERTED)
    assert (same.commission, same.rate) == (converted.commission, converted.commission_rate)
    with pytest.raises(ValidationError) as refused, unit_of_work(engine) as session:
        leads.preview_conversion(session, actor=manager, lead_id=lead.id, deal_value="-1")
    assert set(refused.value.errors) == {"deal_value"}
    with pytest.raises(NotFound), unit_of_work(engine) as session:
        leads.preview_conversion(session, actor=manager, lead_id=lead.id + 99, deal_value="1")
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        leads.preview_conversion(session, actor=partner, lead_id=lead.id, deal_value="1")


def test_move_to_same_status_is_a_no_op(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)
        same = _move(session, partner, lead.id, lead.version, S.PENDING)
        assert same.version == lead.version
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == 1


def test_stale_version_is_refused_and_nothing_changes(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)
        _move(session, partner, lead.id, lead.version, S.CONTACTED)
    with (
        pytest.raises(Conflict, match="changed since you loaded it"),
        unit_of_work(engine) as session,
    ):
        _move(session, partner, lead.id, lead.version, S.LOST)
    with unit_of_work(engine) as session:
        assert session.get(Lead, lead.id).status is S.CONTACTED


def test_lost_needs_a_reason(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        leads.change_lead_status(
            session, actor=partner, lead_id=lead.id, to="lost", expected_version=lead.version
        )
    assert "lost_reason" in raised.value.errors
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        leads.change_lead_status(
            session,
            actor=partner,
            lead_id=lead.id,
            to="lost",
            expected_version=lead.version,
            lost_reason="bored",
        )
    assert "must be one of" in raised.value.errors["lost_reason"]
    with unit_of_work(engine) as session:
        lost = leads.change_lead_status(
            session,
            actor=partner,
            lead_id=lead.id,
            to="lost",
            expected_version=lead.version,
            lost_reason="not_interested",
            lost_note="Budget cut",
        )
    assert (lost.lost_reason.value, lost.lost_note) == ("not_interested", "Budget cut")


def test_unknown_status_is_refused_by_name(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        leads.change_lead_status(
            session, actor=partner, lead_id=lead.id, to="won", expected_version=lead.version
        )
    assert "status" in raised.value.errors


@pytest.mark.parametrize(
    ("deal_value", "fragment"),
    [
        ("0", "greater than 0"),
        ("-5", "greater than 0"),
        ("12.345", "2 decimal places"),
        ("abc", "must be a number"),
        ("NaN", "must be a number"),
        ("", "must be a number"),
        ("99999999999", "at most"),
    ],
)
def test_conversion_needs_a_sane_deal_value(engine, deal_value, fragment):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, partner)
        version = _move(session, manager, lead.id, lead.version, S.QUALIFIED).version
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        leads.change_lead_status(
            session,
            actor=manager,
            lead_id=lead.id,
            to="converted",
            expected_version=version,
            deal_value=deal_value,
        )
    assert fragment in raised.value.errors["deal_value"]


def test_conversion_commission_is_rounded_half_up_and_rate_is_kept(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, partner)
        version = _move(session, manager, lead.id, lead.version, S.QUALIFIED).version
        # Bronze rate 10%: 1234.45 × 0.10 = 123.445 → 123.45 (half-up, not banker's 123.44)
        converted = leads.change_lead_status(
            session,
            actor=manager,
            lead_id=lead.id,
            to="converted",
            expected_version=version,
            deal_value="1234.45",
        )
    assert converted.commission == Decimal("123.45")
    assert converted.commission_rate == Decimal("0.1000")
    assert converted.converted_at is not None
    with unit_of_work(engine) as session:
        notes = session.scalars(select(Notification.message)).all()
        assert any("converted: commission 123.45 USD, on hold until" in note for note in notes)


def test_reverse_voids_the_commission_and_reopen_gives_a_fresh_claim(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, partner)
        version = _move(session, manager, lead.id, lead.version, S.QUALIFIED).version
        version = _move(session, manager, lead.id, version, S.CONVERTED).version
        reversed_lead = _move(session, manager, lead.id, version, S.QUALIFIED)
        assert reversed_lead.commission is None and reversed_lead.deal_value is None
        lost = _move(session, manager, lead.id, reversed_lead.version, S.LOST)
        reopened = _move(session, manager, lead.id, lost.version, S.PENDING)
    assert reopened.lost_reason is None
    assert reopened.claim_live and reopened.claim_expires_at > utc_now() + timedelta(days=89)


def test_reopen_is_refused_when_another_partner_claimed_the_client(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, first, client_email="contested@client.example")
        lost = _move(session, first, lead.id, lead.version, S.LOST)
        make_lead(session, second, client_email="contested@client.example")
    with (
        pytest.raises(ValidationError, match="already registered"),
        unit_of_work(engine) as session,
    ):
        _move(session, manager, lead.id, lost.version, S.PENDING)


def test_partner_cannot_read_or_change_another_partners_lead(engine):
    with unit_of_work(engine) as session:
        owner, intruder = make_actor(session), make_actor(session)
        lead = make_lead(session, owner)
        missing_id = lead.id + 1000
    for attempt in (
        lambda s: leads.get_lead(s, actor=intruder, lead_id=lead.id),
        lambda s: _move(s, intruder, lead.id, lead.version, S.CONTACTED),
    ):
        with pytest.raises(NotFound) as foreign, unit_of_work(engine) as session:
            attempt(session)
        with pytest.raises(NotFound) as missing, unit_of_work(engine) as session:
            leads.get_lead(session, actor=intruder, lead_id=missing_id)
        assert str(foreign.value) == str(missing.value)  # same answer as for no lead at all
    with unit_of_work(engine) as session:
        assert leads.list_leads(session, actor=intruder).items == []
        assert session.get(Lead, lead.id).status is S.PENDING
        with pytest.raises(NotFound):
            make_lead(session, intruder, partner_id=owner.partner_id)


@pytest.mark.parametrize("status", [PartnerStatus.PENDING, PartnerStatus.SUSPENDED])
def test_pending_and_suspended_partners_cannot_register_or_move(engine, status):
    with unit_of_work(engine) as session:
        partner = make_actor(session, status=status)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        make_lead(session, partner)
    with unit_of_work(engine) as session:
        assert leads.list_leads(session, actor=partner).items == []  # reading still works


def test_suspended_partner_still_reads_its_leads_but_cannot_move_them(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, partner)
        leads_module_partner_id = partner.partner_id
        from portal.partners import partners

        partners.change_status(
            session, actor=manager, partner_id=leads_module_partner_id, action="suspend"
        )
    with unit_of_work(engine) as session:
        assert [item.id for item in leads.list_leads(session, actor=partner).items] == [lead.id]
        assert leads.get_lead(session, actor=partner, lead_id=lead.id).allowed_moves == ()
    with pytest.raises(PermissionDenied, match="suspended"), unit_of_work(engine) as session:
        _move(session, partner, lead.id, lead.version, S.CONTACTED)


def test_reassign_moves_the_lead_and_its_statistics(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, first)
        moved = leads.reassign_lead(
            session,
            actor=manager,
            lead_id=lead.id,
            partner_id=second.partner_id,
            expected_version=lead.version,
            note="Territory change",
        )
        assert moved.partner_id == second.partner_id
        with pytest.raises(NotFound):
            leads.get_lead(session, actor=first, lead_id=lead.id)
        detail = leads.get_lead(session, actor=second, lead_id=lead.id)
        assert [entry.kind.value for entry in detail.timeline] == ["registered", "reassigned"]
        assert detail.timeline[0].actor == "Previous owner"

        assert integrity.verify_statistics(session) == []
        with pytest.raises(PermissionDenied):
            leads.reassign_lead(
                session,
                actor=second,
                lead_id=lead.id,
                partner_id=first.partner_id,
                expected_version=moved.version,
            )


def test_the_new_owner_of_a_reassigned_lead_does_not_read_the_previous_owners_notes(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, first, notes="Their CFO hates us; call Ann only")
        lost = leads.change_lead_status(
            session,
            actor=first,
            lead_id=lead.id,
            to="lost",
            expected_version=lead.version,
            lost_reason="other",
            lost_note="Went with a rival on price",
            note="Gave up after three calls",
        )
        moved = leads.reassign_lead(
            session,
            actor=manager,
            lead_id=lead.id,
            partner_id=second.partner_id,
            expected_version=lost.version,
            note="Territory change",
        )
        hidden = leads.PREVIOUS_OWNERS_NOTE
        mine = leads.get_lead(session, actor=second, lead_id=lead.id)
        assert (mine.lead.notes, mine.lead.lost_note) == (hidden, hidden)
        notes = {entry.kind.value: entry.note for entry in mine.timeline}
        assert notes["status_changed"] == hidden
        assert notes["reassigned"] == "Territory change"  # the manager's words stay
        (row,) = leads.list_leads(session, actor=second, status="lost").items
        assert (row.notes, row.lost_note) == (hidden, hidden)
        everything = leads.get_lead(session, actor=manager, lead_id=lead.id)
        assert everything.lead.notes == "Their CFO hates us; call Ann only"
        assert everything.lead.lost_note == "Went with a rival on price"
        assert moved.partner_id == second.partner_id


def test_converted_lead_cannot_be_reassigned(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        manager = make_manager(session)
        lead = make_lead(session, first)
        version = _move(session, manager, lead.id, lead.version, S.QUALIFIED).version
        version = _move(session, manager, lead.id, version, S.CONVERTED).version
        with pytest.raises(ValidationError, match="reverse the conversion"):
            leads.reassign_lead(
                session,
                actor=manager,
                lead_id=lead.id,
                partner_id=second.partner_id,
                expected_version=version,
            )


def test_list_filters_search_dates_and_keyset_pages(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        other = make_actor(session)
        made = [
            make_lead(
                session,
                partner,
                client_name=f"Client {n:02d}",
                company="50%_off Ltd" if n == 7 else "Plain",
            )
            for n in range(12)
        ]
        make_lead(session, other, client_name="Client 99")
        _move(session, partner, made[3].id, made[3].version, S.CONTACTED)
        # Spread creation times so the newest-first order is unambiguous.
        for index, lead in enumerate(made):
            backdate_lead(session, lead.id, timedelta(days=index))
    with unit_of_work(engine) as session:
        seen = ids_page_by_page(
            lambda cursor: leads.list_leads(session, actor=partner, after=cursor, limit=5)
        )
        assert seen == [lead.id for lead in made]
        contacted = leads.list_leads(session, actor=partner, status=S.CONTACTED).items
        assert [item.id for item in contacted] == [made[3].id]
        literal = leads.list_leads(session, actor=partner, search="50%_").items
        assert [item.id for item in literal] == [made[7].id]  # wildcards taken literally
        by_name = leads.list_leads(session, actor=partner, search="client 1").items
        assert {item.id for item in by_name} == {made[10].id, made[11].id}
        today = utc_now().date()
        recent = leads.list_leads(
            session, actor=partner, created_from=today - timedelta(days=2), created_to=today
        )
        assert [item.id for item in recent.items] == [lead.id for lead in made[:3]]
        with pytest.raises(ValidationError) as raised:
            leads.list_leads(
                session, actor=partner, created_from=today, created_to=today - timedelta(days=1)
            )
        assert "created_to" in raised.value.errors
        with pytest.raises(ValidationError) as raised:
            leads.list_leads(session, actor=partner, after="not-a-cursor!")
        assert "cursor" in raised.value.errors
        with pytest.raises(ValidationError):
            leads.list_leads(session, actor=partner, limit=0)


def test_manager_lists_across_partners_with_partner_filter_and_names(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)
        manager = make_manager(session)
        make_lead(session, first)
        mine = make_lead(session, second)
        every = leads.list_leads(session, actor=manager).items
        assert len(every) == 2 and all(item.partner_name for item in every)
        only = leads.list_leads(session, actor=manager, partner_id=second.partner_id).items
        assert [item.id for item in only] == [mine.id]


def test_awaiting_contact_flag_after_configured_days(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)
        assert not lead.awaiting_contact
        backdate_lead(session, lead.id, timedelta(days=3, minutes=1))
    with unit_of_work(engine) as session:
        assert leads.get_lead(session, actor=partner, lead_id=lead.id).lead.awaiting_contact


def test_status_change_writes_event_notification_and_audit_together(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        colleague = make_actor(session, partner=session.get(leads.Partner, partner.partner_id))
        lead = make_lead(session, partner)
        _move(session, partner, lead.id, lead.version, S.CONTACTED, note="Called Monday")
    with unit_of_work(engine) as session:
        events = session.scalars(select(LeadEvent).order_by(LeadEvent.id)).all()
        assert [(e.from_status, e.to_status, e.note) for e in events][-1] == (
            S.PENDING,
            S.CONTACTED,
            "Called Monday",
        )
        # The colleague is told; the partner user who moved it is not told of its own move.
        recipients = session.scalars(select(Notification.user_id)).all()
        assert recipients == [colleague.user_id]
        assert "lead.change_status" in session.scalars(select(AuditEntry.action)).all()


def test_nobody_is_mailed_or_notified_of_their_own_move_but_their_systems_hear_of_it(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)  # its company takes event mail (the default)
        lead = make_lead(session, partner)
        _move(session, partner, lead.id, lead.version, S.CONTACTED)
        manager = make_manager(session)
        _move(session, manager, lead.id, lead.version + 1, S.QUALIFIED)
    with unit_of_work(engine) as session:
        told = session.scalars(select(Notification.message)).all()
        assert len(told) == 1 and "qualified" in told[0]  # the manager's move only
        mailed = session.scalars(select(OutboxMessage.subject)).all()
        assert len(mailed) == 1, mailed


def test_failure_inside_a_move_leaves_nothing_half_done(engine, monkeypatch):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)

    def broken_notify(*args, **kwargs):
        raise RuntimeError("injected failure after the lead update")

    monkeypatch.setattr(leads, "notify_partner", broken_notify)
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        _move(session, partner, lead.id, lead.version, S.CONTACTED)
    with unit_of_work(engine) as session:
        stored = session.get(Lead, lead.id)
        assert (stored.status, stored.version) == (S.PENDING, lead.version)
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == 1

        assert integrity.verify_statistics(session) == []


def test_a_partner_listing_never_widens_to_every_partner():
    partner = PartnerActor(7, "p", "P", Role.PARTNER, 3, PartnerStatus.ACTIVE)
    manager = Actor(8, "m", "M", Role.MANAGER, None, None)
    assert listed_partner_id(partner, 99) == 3  # what it asked for is ignored
    assert listed_partner_id(manager, 99) == 99
    assert listed_partner_id(manager, None) is None  # every partner's, for a manager only
    # A partner without its company cannot even be made, let alone list every partner's.
    with pytest.raises(TypeError):
        Actor(9, "o", "O", Role.PARTNER, None, PartnerStatus.ACTIVE)
    with pytest.raises(TypeError):
        Actor(9, "o", "O", Role.PARTNER, 3, PartnerStatus.ACTIVE)
    stranger = Actor(9, "s", "S", Role.MANAGER, None, None)
    object.__setattr__(stranger, "role", "guest")  # neither a manager nor a partner
    with pytest.raises(PermissionDenied):
        listed_partner_id(stranger, None)
    with pytest.raises(PermissionDenied):
        readable_leads(stranger)


def test_a_page_of_views_equals_views_built_the_usual_way(engine):
    """`leads.lead_views` fills each frozen view's fields at once: every field is there, and
    each view is equal (and hashes equal) to one its own `__init__` built, for a partner and
    for a manager (whose views name the partner)."""
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
        for _ in range(3):
            make_lead(session, partner)
    for actor in (partner, manager):
        with unit_of_work(engine, reads_only=True) as session:
            page = leads.list_leads(session, actor=actor).items
        assert len(page) == 3
        for view in page:
            usual = leads.LeadView(
                **{field.name: getattr(view, field.name) for field in dataclasses.fields(view)}
            )
            assert view == usual and hash(view) == hash(usual)
            assert vars(view).keys() == vars(usual).keys()
            with pytest.raises(dataclasses.FrozenInstanceError):
                view.status = LeadStatus.LOST  # type: ignore[misc]
        assert all(view.partner_name for view in page) == actor.is_manager
