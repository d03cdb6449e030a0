"""Delivery over SMTP to a real server (aiosmtpd on a loopback port): once each, retried
when the server is down, dead after the configured attempts, never twice with two senders."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.accounts import password_links, users
from portal.core.config import ConfigurationError
from portal.core.db import unit_of_work
from portal.core.models import MailStatus, OutboxMessage, PartnerProfile, PartnerStatus, Role, User
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import mail, mail_sender
from portal.partners import partners
from tests.factories import PASSWORD, make_actor, make_lead, make_manager
from tests.mailbox import free_port, html_of, smtp_server, text_of
from tests.tools.test_cli import run_cli


def _rows(engine) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _make_due(engine) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utc_now()))


def test_each_kind_arrives_once_to_its_recipient(engine, settings_override):
    with smtp_server() as box:
        settings_override(smtp_url=box.url, mail_from="Acme Program <partners@acme.example>")
        with unit_of_work(engine) as session:
            manager = make_manager(session)
            applicant = make_actor(session, status=PartnerStatus.PENDING)
            partners.change_status(
                session, actor=manager, partner_id=applicant.partner_id, action="approve"
            )
            session.execute(
                update(PartnerProfile)
                .where(PartnerProfile.partner_id == applicant.partner_id)
                .values(email_notifications=True)
            )
            lead = make_lead(session, applicant, client_name="Ola & <Sons>")
            leads.change_lead_status(
                session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
            )
            password_links.invite_user(
                session,
                actor=manager,
                username="new.colleague",
                display_name="New Colleague",
                email="colleague@acme.example",
                role=Role.PARTNER,
                partner_id=applicant.partner_id,
            )
            address = session.get(User, applicant.user_id).email
        report = mail_sender.deliver_due(engine)
        assert (report.sent, report.retried, report.dead) == (3, 0, 0)
        assert mail_sender.deliver_due(engine).sent == 0  # nothing twice
        approved, event = box.to(address)
        (invitation,) = box.to("colleague@acme.example")
    assert len(box.received) == 3
    assert "is approved" in approved["Subject"]
    assert approved["From"].addresses[0].addr_spec == "partners@acme.example"
    assert event["Subject"] == "A lead moved"
    assert "Ola & <Sons>" in text_of(event)
    assert "Ola &amp; &lt;Sons&gt;" in html_of(event)
    assert event["List-Unsubscribe"].startswith("<http://localhost:8501/mail/unsubscribe?")
    assert event["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/set_password?token=" in text_of(invitation)
    rows = _rows(engine)
    assert {row.status for row in rows} == {MailStatus.SENT}
    assert {str(message["Message-ID"]) for _, message in box.received} == {
        row.message_id for row in rows
    }


def test_a_server_that_is_down_means_later_not_lost(engine, settings_override):
    port = free_port()
    settings_override(smtp_url=f"smtp://127.0.0.1:{port}", mail_retry_seconds=60)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        pending = make_actor(session, status=PartnerStatus.PENDING)
        partners.change_status(
            session, actor=manager, partner_id=pending.partner_id, action="approve"
        )
    report = mail_sender.deliver_due(engine)
    assert (report.sent, report.retried) == (0, 1)
    (row,) = _rows(engine)
    assert row.status is MailStatus.PENDING and row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at > utc_now() + timedelta(seconds=50)
    # Not due yet: even with the server back, nothing goes before its time.
    with smtp_server(port=port) as box:
        assert mail_sender.deliver_due(engine).sent == 0
        _make_due(engine)
        assert mail_sender.deliver_due(engine).sent == 1
        assert mail_sender.deliver_due(engine).sent == 0
    assert len(box.received) == 1
    (row,) = _rows(engine)
    assert (row.status, row.attempts) == (MailStatus.SENT, 2)


def test_backoff_doubles_and_the_last_attempt_is_dead(engine, settings_override):
    settings_override(
        smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_retry_seconds=10, mail_max_attempts=3
    )
    with unit_of_work(engine) as session:
        partners.change_status(
            session,
            actor=make_manager(session),
            partner_id=make_actor(session, status=PartnerStatus.PENDING).partner_id,
            action="approve",
        )
    waits = []
    for _ in range(3):
        before = utc_now()
        mail_sender.deliver_due(engine)
        (row,) = _rows(engine)
        waits.append((row.next_attempt_at - before).total_seconds())
        _make_due(engine)
    (row,) = _rows(engine)
    assert row.status is MailStatus.DEAD and row.attempts == 3
    assert 9 < waits[0] < 12 and 19 < waits[1] < 22


def test_a_permanent_refusal_is_dead_at_once(engine, settings_override):
    with smtp_server() as box:
        settings_override(smtp_url=box.url)
        with unit_of_work(engine) as session:
            manager = make_manager(session)
            pending = make_actor(session, status=PartnerStatus.PENDING)
            partners.change_status(
                session, actor=manager, partner_id=pending.partner_id, action="approve"
            )
            (row,) = session.scalars(select(OutboxMessage))
            box.refuse.add(row.to_address)
        report = mail_sender.deliver_due(engine)
    assert report.dead == 1
    (row,) = _rows(engine)
    assert row.status is MailStatus.DEAD and "550" in row.last_error


def test_two_senders_deliver_each_message_once(engine, settings_override):
    with smtp_server() as box:
        settings_override(smtp_url=box.url)
        with unit_of_work(engine) as session:
            manager = make_manager(session)
            for _ in range(12):
                pending = make_actor(session, status=PartnerStatus.PENDING)
                partners.change_status(
                    session, actor=manager, partner_id=pending.partner_id, action="approve"
                )
        start = threading.Barrier(2)
        reports = []

        def sender() -> None:
            start.wait()
            reports.append(mail_sender.deliver_due(engine))

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ids = box.message_ids()
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 12
    assert sum(report.sent for report in reports) == 12


def test_the_command_line_sends_and_reports(engine):
    with unit_of_work(engine) as session:
        pending = make_actor(session, status=PartnerStatus.PENDING)
        partners.change_status(
            session, actor=make_manager(session), partner_id=pending.partner_id, action="approve"
        )
    url = engine.url.render_as_string(hide_password=False)
    with smtp_server() as box:
        done = run_cli(url, "mail", "send", "--once", env={"PORTAL_SMTP_URL": box.url})
    assert done.returncode == 0, done.stderr
    assert "Mail: sent 1, retried 0, dead 0." in done.stdout
    assert len(box.received) == 1
    missing = run_cli(url, "mail", "send", "--once", env={"PORTAL_SMTP_URL": ""})
    assert missing.returncode == 1 and "PORTAL_SMTP_URL is not set" in missing.stderr


def test_create_user_invite_queues_the_invitation(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    done = run_cli(
        engine.url.render_as_string(hide_password=False),
        *("create-user", "--username", "cli.invited", "--name", "Cli Invited"),
        *("--email", "cli@partner.example", "--role", "partner"),
        *("--partner-id", str(partner.partner_id), "--invite"),
    )
    assert done.returncode == 0, done.stderr
    assert "invitation queued" in done.stdout
    (row,) = _rows(engine)
    assert (row.kind, row.to_address) == ("invitation", "cli@partner.example")


@pytest.mark.parametrize("url", ["ftp://x", "smtp://", "smtps://user:pw@"])
def test_a_malformed_smtp_url_is_refused(url):
    with pytest.raises(ConfigurationError):
        mail_sender.SmtpServer.from_url(url)


def test_password_gets_set_for_matching_user_only(engine):
    # The whole-sign-in journey is in the browser suite; here: a link for one user sets only
    # that user's password.
    with unit_of_work(engine) as session:
        first = make_actor(session)
        second = make_actor(session)
        name = session.get(User, first.user_id).username
        password_links.request_reset(session, login=name)
        (row,) = session.scalars(select(OutboxMessage))
        token = text_of(mail.as_email(row)).split("token=")[1].split()[0]
    with unit_of_work(engine) as session:
        password_links.set_password(session, token=token, new_password="first's new password")
    with unit_of_work(engine) as session:
        second_name = session.get(User, second.user_id).username
        assert users.authenticate(session, username=second_name, password=PASSWORD).actor


def test_api_key_create_refuses_an_unknown_user_and_writes_nothing(engine):
    url = engine.url.render_as_string(hide_password=False)
    done = run_cli(url, "api-key", "create", "--username", "nobody.here", "--scope", "read")
    assert done.returncode == 1
    assert "No active user named 'nobody.here'" in done.stderr and done.stdout == ""
    bad_scope = run_cli(url, "api-key", "create", "--username", "x", "--scope", "admin")
    assert bad_scope.returncode == 2 and "invalid choice" in bad_scope.stderr
