"""The access matrix: every service against every kind of actor, and every page likewise.

Each cell runs the call inside a transaction that is rolled back, so cells cannot affect
one another. "allow" means no refusal; "deny" means PermissionDenied or NotFound (another
partner's data is answered as if it did not exist). A service with no row fails the test.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import portal
from portal.accounts import api_keys, password_links, users
from portal.core import audit, crypto, program, two_factor
from portal.core.access import Actor
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, PortalError
from portal.core.models import (
    Commission,
    MailStatus,
    OutboxMessage,
    PartnerStatus,
    Payout,
    RiskEvent,
    RiskStatus,
    Role,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.core.types import utc_now
from portal.leads import imports, leads
from portal.messaging import announcements, conversations, mail, notifications, webhooks
from portal.money import (
    commissions,
    monthly_statements,
    payout_files,
    payouts,
    tax_forms,
    tax_reports,
)
from portal.partners import groups, partners, profiles, resources
from portal.reporting import exports, overview, settings_impact, statistics
from portal.risk import center
from tests.apptest import page_as, texts
from tests.factories import (
    PASSWORD,
    TINY_PDF,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    verify_tax_form,
)

pytestmark = pytest.mark.slow

KINDS = ("partner_a", "partner_b", "manager", "pending", "suspended", "deactivated", "nobody")


@dataclass
class World:
    actors: dict[str, Actor | None]
    partner_a: int
    pending_partner: int
    lead_a: int
    lead_a_version: int
    payout: int
    user_a: int
    tax_document: int
    dead_mail: int
    reset_mail: int
    api_key: int
    webhook: int
    webhook_delivery: int
    risk_event: int
    conversation: int
    group: int
    announcement: int
    resource: int


def _world(engine) -> World:
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        a = make_actor(session)
        colleague = make_actor(session, partner=session.get(partners.Partner, a.partner_id))
        b = make_actor(session)
        pending = make_actor(session, status=PartnerStatus.PENDING)
        suspended = make_actor(session)
        make_lead(session, suspended)
        partners.change_status(
            session, actor=manager, partner_id=suspended.partner_id, action="suspend"
        )
        profiles.update_profile(
            session,
            actor=a,
            password=PASSWORD,
            changes={
                "payment_method": "paypal",
                "payment_email": "a@pay.example",
            },
        )
        verify_tax_form(session, a)
        renewal = tax_forms.submit_tax_form(
            session, actor=a, form="W-9", file_name="w9.pdf", content=TINY_PDF
        )
        lead = make_lead(session, a)
        make_lead(session, a, client_email="someone@mailinator.com")  # a risk event
        risk_event = session.scalars(select(RiskEvent.id)).one()
        conversation = conversations.post(session, actor=a, body="Hello").conversation_id
        group = groups.save_group(session, actor=manager, name="Resellers", hold_days="7").id
        announcement = announcements.publish(
            session, actor=manager, title="To all", body="Hello"
        ).id
        resource = resources.add_resource(
            session, actor=manager, title="Deck", file_name="deck.pdf", content=TINY_PDF
        ).id
        make_converted_lead(session, manager, a, "1000")
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled
        users.set_active(session, actor=manager, user_id=colleague.user_id, active=False)
        api_key = api_keys.create_key(session, actor=a, name="matrix", scope="write")[0].id
        # Made directly: registering one resolves its host, and the matrix needs no network.
        webhook = WebhookEndpoint(
            partner_id=a.partner_id,
            url="https://hooks.example/a",
            events=["lead.status_changed"],
            secret_encrypted=crypto.encrypt("whsec_matrix"),
        )
        session.add(webhook)
        session.flush()
        delivery = WebhookDelivery(
            endpoint_id=webhook.id, event_id="evt_matrix", event="lead.status_changed", body="{}"
        )
        session.add(delivery)
        session.flush()
        password_links.request_reset(session, login=a.username)
        reset_mail = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.kind == "password_reset")
        )
        dead_mail = session.scalars(select(OutboxMessage.id)).first()
        assert dead_mail is not None  # the approvals and payouts above wrote mail
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == dead_mail)
            .values(status=MailStatus.DEAD, attempts=8)
        )
    return World(
        actors={
            "partner_a": a,
            "partner_b": b,
            "manager": manager,
            "pending": pending,
            "suspended": suspended,
            "deactivated": colleague,
            "nobody": None,
        },
        partner_a=a.partner_id,
        pending_partner=pending.partner_id,
        dead_mail=dead_mail,
        reset_mail=reset_mail,
        api_key=api_key,
        webhook=webhook.id,
        webhook_delivery=delivery.id,
        risk_event=risk_event,
        conversation=conversation,
        group=group,
        announcement=announcement,
        resource=resource,
        lead_a=lead.id,
        lead_a_version=lead.version,
        payout=payout.id,
        user_a=a.user_id,
        tax_document=renewal.id,
    )


def _own_only(found: list[Any]) -> None:
    """A listing scoped to another partner is a refusal, not an empty answer."""
    if not found:
        raise NotFound("nothing of this partner's")


def _all_saved(outcomes: list[Any]) -> None:
    for outcome in outcomes:
        if not outcome.saved:
            raise PermissionDenied(outcome.message)


Call = Callable[[Session, World, Any], object]
OWN = {"partner_a", "partner_b", "manager", "pending", "suspended"}  # acting on their own
A_AND_MANAGER = {"partner_a", "manager"}
MANAGER = {"manager"}
ACTIVE_A_OR_MANAGER = {"partner_a", "manager"}


def _enrolled(session, actor) -> str:
    """Set up two-factor sign-in as a user would (begin, then the app's code); its secret."""
    secret = two_factor.begin(session, actor=actor).secret
    two_factor.confirm(session, actor=actor, code=pyotp.TOTP(secret).now())
    return secret


def _next_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(utc_now() + timedelta(seconds=totp.interval))


MATRIX: dict[str, tuple[Call, set[str]]] = {
    "audit.actions": (lambda s, w, a: audit.actions(s, actor=a), MANAGER),
    "audit.list_entries": (lambda s, w, a: audit.list_entries(s, actor=a), MANAGER),
    "commissions.commission_summary": (
        lambda s, w, a: commissions.commission_summary(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "commissions.paid_lead_ids": (
        lambda s, w, a: commissions.paid_lead_ids(s, actor=a, lead_ids=[w.lead_a]),
        OWN,  # (each reads only its own: another partner's lead is never in the answer)
    ),
    "commissions.list_commissions": (
        lambda s, w, a: commissions.list_commissions(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "exports.count_rows": (
        lambda s, w, a: exports.count_rows(
            s, actor=a, kind="leads", filters=exports.Filters(partner_id=w.partner_a)
        ),
        A_AND_MANAGER,
    ),
    "exports.write_csv": (
        lambda s, w, a: exports.write_csv(
            s, actor=a, kind="leads", sink=_Sink(), filters=exports.Filters(partner_id=w.partner_a)
        ),
        A_AND_MANAGER,
    ),
    "imports.register_lead_file": (
        lambda s, w, a: imports.register_lead_file(
            s,
            actor=a,
            lead_file=imports.read_leads_csv(imports.TEMPLATE.encode()),
            partner_id=w.partner_a,
        ),
        ACTIVE_A_OR_MANAGER,
    ),
    "leads.apply_edits": (
        lambda s, w, a: _all_saved(
            leads.apply_edits(
                s,
                actor=a,
                edits=[
                    leads.LeadEdit(
                        lead_id=w.lead_a, expected_version=w.lead_a_version, to="contacted"
                    )
                ],
            )
        ),
        ACTIVE_A_OR_MANAGER,
    ),
    "leads.preview_conversion": (
        lambda s, w, a: leads.preview_conversion(s, actor=a, lead_id=w.lead_a, deal_value="100"),
        MANAGER,
    ),
    "leads.change_lead_status": (
        lambda s, w, a: leads.change_lead_status(
            s, actor=a, lead_id=w.lead_a, to="contacted", expected_version=w.lead_a_version
        ),
        ACTIVE_A_OR_MANAGER,
    ),
    "leads.get_lead": (lambda s, w, a: leads.get_lead(s, actor=a, lead_id=w.lead_a), A_AND_MANAGER),
    "leads.list_leads": (lambda s, w, a: leads.list_leads(s, actor=a), OWN),
    "leads.service_catalogue": (lambda s, w, a: leads.service_catalogue(s, actor=a), OWN),
    "leads.reassign_lead": (
        lambda s, w, a: leads.reassign_lead(
            s,
            actor=a,
            lead_id=w.lead_a,
            partner_id=w.pending_partner,
            expected_version=w.lead_a_version,
        ),
        MANAGER,
    ),
    "leads.register_lead": (
        lambda s, w, a: leads.register_lead(
            s,
            actor=a,
            client_name="Matrix Client",
            client_email="matrix@client.example",
            service="SEO",
            partner_id=w.partner_a,
        ),
        ACTIVE_A_OR_MANAGER,
    ),
    "leads.register_leads": (
        lambda s, w, a: leads.register_leads(
            s,
            actor=a,
            registrations=[
                leads.check_registration(
                    client_name="Matrix Client", client_email="many@client.example", service="SEO"
                )
            ],
            partner_id=w.partner_a,
        ),
        ACTIVE_A_OR_MANAGER,
    ),
    "notifications.list_notifications": (
        lambda s, w, a: notifications.list_notifications(s, actor=a),
        OWN,
    ),
    "notifications.mark_read": (lambda s, w, a: notifications.mark_read(s, actor=a), OWN),
    "notifications.unread_count": (lambda s, w, a: notifications.unread_count(s, actor=a), OWN),
    "partners.apply_edits": (
        lambda s, w, a: _all_saved(
            partners.apply_edits(
                s,
                actor=a,
                edits=[partners.PartnerEdit(partner_id=w.pending_partner, action="approve")],
            )
        ),
        MANAGER,
    ),
    "partners.change_status": (
        lambda s, w, a: partners.change_status(
            s, actor=a, partner_id=w.pending_partner, action="approve"
        ),
        MANAGER,
    ),
    "partners.create_partner": (
        lambda s, w, a: partners.create_partner(
            s,
            actor=a,
            company_name="Matrix Co",
            company_email="m@matrix.example",
            username="matrix.user",
            display_name="Matrix",
            user_email="u@matrix.example",
            password=PASSWORD,
        ),
        MANAGER,
    ),
    "partners.get_partner": (
        lambda s, w, a: partners.get_partner(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "partners.list_partners": (lambda s, w, a: partners.list_partners(s, actor=a), MANAGER),
    "partners.pin_rate": (
        lambda s, w, a: partners.pin_rate(s, actor=a, partner_id=w.partner_a, rate="0.3"),
        MANAGER,
    ),
    "payouts.close_unpaid": (
        lambda s, w, a: payouts.close_unpaid(s, actor=a, payout_id=w.payout, status="failed"),
        MANAGER,
    ),
    "payouts.list_payouts": (
        lambda s, w, a: payouts.list_payouts(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "payouts.mark_paid": (
        lambda s, w, a: payouts.mark_paid(s, actor=a, payout_id=w.payout, reference="R"),
        MANAGER,
    ),
    "password_links.send_new_link": (
        lambda s, w, a: password_links.send_new_link(s, actor=a, message_id=w.reset_mail),
        MANAGER,
    ),
    "payouts.approve_batch": (
        lambda s, w, a: (
            s.execute(update(Payout).values(scheduled_by=None)),
            payouts.approve_batch(s, actor=a, cutoff=utc_now().date()),
        ),
        MANAGER,
    ),
    "payouts.reapprove": (
        lambda s, w, a: (
            payouts.hold_for_new_details(s, partner_id=w.partner_a, fields=["payment_email"]),
            payouts.reapprove(s, actor=a, payout_id=w.payout),
        ),
        MANAGER,
    ),
    "payouts.mark_returned": (
        lambda s, w, a: (
            payouts.mark_paid(s, actor=Actor.operator(), payout_id=w.payout, reference="R"),
            payouts.mark_returned(s, actor=a, payout_id=w.payout, reason_code="R01"),
        ),
        MANAGER,
    ),
    "payout_files.batch_overview": (
        lambda s, w, a: payout_files.batch_overview(s, actor=a, cutoff=utc_now().date()),
        MANAGER,
    ),
    "payout_files.void_payout_file": (
        lambda s, w, a: payout_files.void_payout_file(
            s,
            actor=a,
            file_id=payout_files.build_payout_file(
                s, actor=Actor.operator(), cutoff=utc_now().date(), file_format="paypal"
            ).file_id,
            reason="matrix",
        ),
        MANAGER,
    ),
    "payout_files.positive_pay_file": (
        lambda s, w, a: (
            s.execute(update(Payout).values(payment_method="check")),
            payout_files.positive_pay_file(
                s,
                actor=a,
                file_id=payout_files.build_payout_file(
                    s, actor=Actor.operator(), cutoff=utc_now().date(), file_format="checks"
                ).file_id,
            ),
        ),
        MANAGER,
    ),
    "payouts.read_statement": (
        lambda s, w, a: payouts.read_statement(s, actor=a, content=_statement(w)),
        MANAGER,
    ),
    "payouts.settle_statement": (
        lambda s, w, a: payouts.settle_statement(s, actor=a, content=_statement(w)),
        MANAGER,
    ),
    "payout_files.build_payout_file": (
        lambda s, w, a: payout_files.build_payout_file(
            s, actor=a, cutoff=utc_now().date(), file_format="paypal"
        ),
        MANAGER,
    ),
    "payout_files.list_payout_files": (
        lambda s, w, a: payout_files.list_payout_files(s, actor=a),
        MANAGER,
    ),
    "tax_forms.submit_tax_form": (
        lambda s, w, a: tax_forms.submit_tax_form(
            s, actor=a, form="W-9", file_name="w9.pdf", content=TINY_PDF, partner_id=w.partner_a
        ),
        A_AND_MANAGER,
    ),
    "tax_forms.open_tax_form": (
        lambda s, w, a: tax_forms.open_tax_form(s, actor=a, document_id=w.tax_document),
        A_AND_MANAGER,
    ),
    "tax_forms.list_tax_forms": (
        lambda s, w, a: tax_forms.list_tax_forms(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "tax_forms.review_tax_form": (
        lambda s, w, a: tax_forms.review_tax_form(
            s, actor=a, document_id=w.tax_document, decision="verified"
        ),
        MANAGER,
    ),
    "tax_forms.expiring_tax_forms": (
        lambda s, w, a: tax_forms.expiring_tax_forms(s, actor=a),
        MANAGER,
    ),
    "payouts.preview": (
        lambda s, w, a: payouts.preview(s, actor=a, cutoff=utc_now().date()),
        MANAGER,
    ),
    "payouts.run_batch": (
        lambda s, w, a: payouts.run_batch(s, actor=a, cutoff=utc_now().date()),
        MANAGER,
    ),
    "profiles.get_profile": (
        lambda s, w, a: profiles.get_profile(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "profiles.update_profile": (
        lambda s, w, a: profiles.update_profile(
            s, actor=a, partner_id=w.partner_a, changes={"city": "Leeds"}
        ),
        A_AND_MANAGER,
    ),
    "overview.program_overview": (lambda s, w, a: overview.program_overview(s, actor=a), MANAGER),
    "monthly_statements.monthly_statement": (
        lambda s, w, a: monthly_statements.monthly_statement(
            s, actor=a, month=utc_now().date(), partner_id=w.partner_a
        ),
        A_AND_MANAGER,
    ),
    "tax_reports.tax_filing_file": (
        lambda s, w, a: tax_reports.tax_filing_file(s, actor=a, year=utc_now().year),
        MANAGER,
    ),
    "tax_reports.tax_report": (
        lambda s, w, a: tax_reports.tax_report(s, actor=a, year=utc_now().year),
        MANAGER,
    ),
    "statistics.partner_statistics": (
        lambda s, w, a: statistics.partner_statistics(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "users.confirm_password": (
        lambda s, w, a: users.confirm_password(s, actor=a, password=PASSWORD),
        OWN,
    ),
    "users.change_password": (
        lambda s, w, a: users.change_password(
            s, actor=a, current_password=PASSWORD, new_password="another long password"
        ),
        OWN,
    ),
    "users.create_user": (
        lambda s, w, a: users.create_user(
            s,
            actor=a,
            username="matrix.manager",
            display_name="M",
            email="mm@example.com",
            password=PASSWORD,
            role=Role.MANAGER,
        ),
        MANAGER,
    ),
    "users.end_sessions": (lambda s, w, a: users.end_sessions(s, actor=a), OWN),
    "users.end_session": (lambda s, w, a: users.end_session(s, actor=a, session_id=None), OWN),
    "users.list_sessions": (lambda s, w, a: users.list_sessions(s, actor=a), OWN),
    "users.list_users": (
        lambda s, w, a: users.list_users(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "users.set_active": (
        lambda s, w, a: users.set_active(s, actor=a, user_id=w.user_a, active=False),
        MANAGER,
    ),
    "users.unlock": (lambda s, w, a: users.unlock(s, actor=a, user_id=w.user_a), MANAGER),
    "api_keys.create_key": (
        lambda s, w, a: api_keys.create_key(s, actor=a, name="matrix key", scope="read"),
        OWN,
    ),
    "api_keys.list_keys": (lambda s, w, a: api_keys.list_keys(s, actor=a), OWN),
    "api_keys.revoke_key": (
        lambda s, w, a: api_keys.revoke_key(s, actor=a, key_id=w.api_key),
        {"partner_a"},
    ),
    "api_keys.key_for_user": (
        lambda s, w, a: api_keys.key_for_user(
            s, actor=a, username="nobody", scope="read", expires_days=None
        ),
        set(),  # the command line only: no signed-in actor
    ),
    "webhooks.add_endpoint": (
        lambda s, w, a: webhooks.add_endpoint(
            s,
            actor=a,
            url="https://93.184.216.34/hooks",
            events=["payout.paid"],
            partner_id=w.partner_a,
        ),
        ACTIVE_A_OR_MANAGER,
    ),
    "webhooks.list_endpoints": (
        lambda s, w, a: _own_only(webhooks.list_endpoints(s, actor=a, partner_id=w.partner_a)),
        A_AND_MANAGER,
    ),
    "webhooks.disable_endpoint": (
        lambda s, w, a: webhooks.disable_endpoint(s, actor=a, endpoint_id=w.webhook),
        ACTIVE_A_OR_MANAGER,
    ),
    "webhooks.list_deliveries": (
        lambda s, w, a: webhooks.list_deliveries(s, actor=a, endpoint_id=w.webhook),
        A_AND_MANAGER,
    ),
    "webhooks.replay": (
        lambda s, w, a: webhooks.replay(s, actor=a, delivery_id=w.webhook_delivery),
        ACTIVE_A_OR_MANAGER,
    ),
    "mail.list_mail": (lambda s, w, a: mail.list_mail(s, actor=a), MANAGER),
    "two_factor.status": (lambda s, w, a: two_factor.status(s, actor=a), OWN),
    "two_factor.begin": (lambda s, w, a: two_factor.begin(s, actor=a), OWN),
    "two_factor.confirm": (lambda s, w, a: _enrolled(s, a), OWN),
    "two_factor.verify": (
        lambda s, w, a: two_factor.verify(s, actor=a, code=_next_code(_enrolled(s, a))),
        OWN,
    ),
    "two_factor.reset": (
        lambda s, w, a: two_factor.reset(s, actor=a, user_id=w.user_a),
        MANAGER,
    ),
    "program.change": (
        lambda s, w, a: program.change(
            s,
            actor=a,
            changes={"hold_days": program.current(s).hold_days + 1},
            reason="Matrix",
            based_on=program.current_version(s),
        ),
        MANAGER,
    ),
    "program.history": (lambda s, w, a: program.history(s, actor=a), MANAGER),
    "center.scan": (lambda s, w, a: center.scan(s, actor=a), MANAGER),
    "groups.list_groups": (lambda s, w, a: groups.list_groups(s, actor=a), MANAGER),
    "resources.add_resource": (
        lambda s, w, a: resources.add_resource(
            s, actor=a, title="Deck", url="https://example.com/deck"
        ),
        MANAGER,
    ),
    "resources.remove_resource": (
        lambda s, w, a: resources.remove_resource(s, actor=a, resource_id=w.resource),
        MANAGER,
    ),
    "resources.list_resources": (lambda s, w, a: resources.list_resources(s, actor=a), OWN),
    "resources.download": (
        lambda s, w, a: resources.download(s, actor=a, resource_id=w.resource),
        OWN,
    ),
    "announcements.publish": (
        lambda s, w, a: announcements.publish(s, actor=a, title="Matrix", body="Hello"),
        MANAGER,
    ),
    "announcements.list_announcements": (
        lambda s, w, a: announcements.list_announcements(s, actor=a),
        MANAGER,
    ),
    "announcements.for_me": (lambda s, w, a: announcements.for_me(s, actor=a), OWN),
    "announcements.dismiss": (
        lambda s, w, a: announcements.dismiss(s, actor=a, announcement_id=w.announcement),
        {"partner_a", "partner_b", "pending", "suspended"},
    ),
    "groups.save_group": (
        lambda s, w, a: groups.save_group(s, actor=a, name="Matrix", min_payout="20"),
        MANAGER,
    ),
    "groups.delete_group": (
        lambda s, w, a: groups.delete_group(s, actor=a, group_id=w.group),
        MANAGER,
    ),
    "groups.move_partners": (
        lambda s, w, a: groups.move_partners(
            s, actor=a, partner_ids=[w.partner_a], group_id=w.group
        ),
        MANAGER,
    ),
    "groups.terms": (
        lambda s, w, a: groups.terms(s, actor=a, partner_id=w.partner_a),
        A_AND_MANAGER,
    ),
    "conversations.post": (
        lambda s, w, a: conversations.post(
            s, actor=a, body="Hi", partner_id=w.partner_a if a and a.is_manager else None
        ),
        OWN,
    ),
    "conversations.conversations": (
        lambda s, w, a: conversations.conversations(s, actor=a),
        OWN,
    ),
    "conversations.read_conversation": (
        lambda s, w, a: conversations.read_conversation(s, actor=a, conversation_id=w.conversation),
        A_AND_MANAGER,
    ),
    "conversations.thread_of_lead": (
        lambda s, w, a: conversations.thread_of_lead(s, actor=a, lead_id=w.lead_a),
        A_AND_MANAGER,
    ),
    "conversations.unread_count": (
        lambda s, w, a: conversations.unread_count(s, actor=a),
        OWN,
    ),
    "conversations.mark_all_read": (
        lambda s, w, a: conversations.mark_all_read(s, actor=a),
        OWN,
    ),
    "center.events": (lambda s, w, a: center.events(s, actor=a), MANAGER),
    "center.open_groups": (lambda s, w, a: center.open_groups(s, actor=a), MANAGER),
    "center.decide": (
        lambda s, w, a: center.decide(
            s, actor=a, event_ids=[w.risk_event], outcome=RiskStatus.DISMISSED, reason="Matrix"
        ),
        MANAGER,
    ),
    "settings_impact.review": (
        lambda s, w, a: settings_impact.review(
            s, actor=a, changes={"min_payout": "75"}, reason="Matrix"
        ),
        MANAGER,
    ),
    "mail.mail_counts": (lambda s, w, a: mail.mail_counts(s, actor=a), MANAGER),
    "mail.retry_dead": (
        lambda s, w, a: mail.retry_dead(s, actor=a, message_id=w.dead_mail),
        MANAGER,
    ),
    "password_links.send_invitation": (
        lambda s, w, a: password_links.send_invitation(s, actor=a, user_id=w.user_a),
        MANAGER,
    ),
    "password_links.invite_user": (
        lambda s, w, a: password_links.invite_user(
            s,
            actor=a,
            username="matrix.invited",
            display_name="Invited",
            email="invited@example.com",
            role=Role.PARTNER,
            partner_id=w.partner_a,
        ),
        MANAGER,
    ),
}


def _statement(world: World) -> bytes:
    today = utc_now().date().isoformat()
    return (
        f"payout_id,reference,paid_date,amount,currency\n{world.payout},MATRIX-1,{today},"
        "100.00,USD\n"
    ).encode()


class _Sink:
    def write(self, text: str) -> int:
        return len(text)


def _services_taking_an_actor() -> set[str]:
    found = set()
    for module_info in pkgutil.walk_packages(portal.__path__, "portal."):
        if module_info.ispkg or module_info.name.startswith(("portal.ui", "portal.api")):
            continue  # the web code and the API call the services the matrix holds
        module = importlib.import_module(module_info.name)
        short = module_info.name.rsplit(".", 1)[-1]
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            parameter = inspect.signature(function).parameters.get("actor")
            if parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                found.add(f"{short}.{name}")
    return found


def test_every_service_has_a_row():
    assert _services_taking_an_actor() - set(MATRIX) == set()


def _outcome(engine, world: World, call: Call, actor: Actor | None) -> str:
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            call(session, world, actor)
            session.flush()
        except (PermissionDenied, NotFound):
            return "deny"
        except PortalError as error:  # a refusal of the input, not of the actor: a bug here
            return f"refused: {error}"
        finally:
            session.close()
            transaction.rollback()
    return "allow"


def test_the_whole_matrix(engine):
    world = _world(engine)
    wrong = []
    for service, (call, allowed) in sorted(MATRIX.items()):
        for kind in KINDS:
            expected = "allow" if kind in allowed else "deny"
            got = _outcome(engine, world, call, world.actors[kind])
            if got != expected:
                wrong.append(f"{service} as {kind}: expected {expected}, got {got}")
    assert wrong == []
    print(f"{len(MATRIX)} services × {len(KINDS)} actors checked")


PAGES = {
    "pages/partner_dashboard.py": {"partner_a", "partner_b", "pending", "suspended"},
    "pages/partner_leads.py": {"partner_a", "partner_b", "pending", "suspended"},
    "pages/partner_commissions.py": {"partner_a", "partner_b", "pending", "suspended"},
    "pages/partner_profile.py": {"partner_a", "partner_b", "pending", "suspended"},
    "pages/partner_messages.py": {"partner_a", "partner_b", "pending", "suspended"},
    "pages/manager_messages.py": MANAGER,
    "pages/manager_overview.py": MANAGER,
    "pages/manager_partners.py": MANAGER,
    "pages/manager_leads.py": MANAGER,
    "pages/manager_payouts.py": MANAGER,
    "pages/manager_audit.py": MANAGER,
    "pages/manager_exports.py": MANAGER,
    "pages/manager_mail.py": MANAGER,
    "pages/manager_settings.py": MANAGER,
    "pages/manager_risk.py": MANAGER,
    "pages/manager_groups.py": MANAGER,
    "pages/manager_announcements.py": MANAGER,
    "pages/manager_resources.py": MANAGER,
    "pages/partner_resources.py": {"partner_a", "partner_b", "pending", "suspended"},
    "pages/account.py": MANAGER,
}
REFUSALS = ("This page is for", "Please sign in", "Your session has ended")


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_for_every_actor(app_database, page):
    world = _world(app_database)
    for kind in KINDS:
        test = page_as(world.actors[kind], page)
        assert not test.exception, (page, kind)
        said = texts(test)
        refused = any(refusal in said for refusal in REFUSALS)
        assert refused == (kind not in PAGES[page]), (page, kind, said[:200])
