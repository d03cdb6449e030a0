"""Invitation and password reset end to end: the app process's own sender delivers to a real
SMTP server; the link read from the received mail is opened in Chromium, the password set,
and the user signs in with it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.accounts import password_links
from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine, unit_of_work
from portal.core.models import OutboxMessage, PartnerStatus, User
from portal.partners import partners
from tests.browser.conftest import Server, choose, migrate_database, run_app, settle, shoot, sign_in
from tests.factories import PASSWORD, make_actor, make_manager
from tests.mailbox import Mailbox, smtp_server, text_of


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Mailbox]]:
    folder = tmp_path_factory.mktemp("mail-journey")
    database_url = f"sqlite:///{folder / 'portal.db'}"
    migrate_database(database_url, folder)
    with smtp_server() as box:
        settings = {
            "PORTAL_SMTP_URL": box.url,
            "PORTAL_MAIL_SENDER_THREAD": "true",
            "PORTAL_MAIL_POLL_SECONDS": "0.2",
        }
        # No PORTAL_PUBLIC_URL: the app's own links name the port it serves on.
        with run_app(folder, database_url, lambda url: settings) as app:
            yield app, box


def received(box: Mailbox, address: str, subject: str) -> EmailMessage:
    """The message once the app's sender has delivered it (it polls every 0.2 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [m for m in box.to(address) if subject in str(m["Subject"])]
        if found:
            assert len(found) == 1, "delivered more than once"
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r} to {address} within 30 s")


def link_in(message: EmailMessage) -> str:
    link = re.search(r"http://\S+/set_password\?token=\S+", text_of(message))
    assert link is not None, text_of(message)
    return link.group(0)


def set_password(page: Page, link: str, password: str) -> None:
    page.goto(link)
    settle(page)
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Repeat the new password").fill(password)
    shoot(page, f"set-password-{page.viewport_size['width'] if page.viewport_size else 0}")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Your password is set. Sign in with it.")).to_be_visible()


def test_an_invited_user_sets_a_password_from_the_mail_and_signs_in(browser, mail_server):
    server, box = mail_server
    engine = get_engine(server.database_url)
    with unit_of_work(engine) as db:
        partner = make_actor(db)
    # A manager invites from the command line, in the app's own configuration (another
    # process: it is told the portal's address).
    made = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            *(sys.executable, "-m", "portal", "create-user", "--invite"),
            *("--username", "invited.browser", "--name", "Ines Invited"),
            *("--email", "ines@partner.example", "--role", "partner"),
            *("--partner-id", str(partner.partner_id)),
        ],
        env={**server.env, "PORTAL_PUBLIC_URL": server.url},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    invitation = received(box, "ines@partner.example", "You are invited")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    set_password(page, link_in(invitation), "my own invited password")
    sign_in(page, server.url, "invited.browser", "my own invited password")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # The link worked once.
    page.goto(link_in(invitation))
    expect(page.get_by_text(password_links.LINK_REFUSED)).to_be_visible()
    context.close()


def test_a_forgotten_password_is_reset_from_the_mail(browser, mail_server):
    server, box = mail_server
    engine = get_engine(server.database_url)
    with unit_of_work(engine) as db:
        partner = make_actor(db, username="forgetful.partner")
        address = db.get(User, partner.user_id).email
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(server.url)
    page.get_by_text("Forgot your password?").click()
    page.get_by_label("Username or email").fill("forgetful.partner")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_text("If an account matches")).to_be_visible()
    shoot(page, "phone-forgot-password")
    reset = received(box, address, "Reset your")
    served = server.url.replace("127.0.0.1", "localhost")  # its port, not Streamlit's 8501
    assert link_in(reset).startswith(f"{served}/set_password?token="), link_in(reset)
    set_password(page, link_in(reset), "remembered at last 42")
    sign_in(page, server.url, "forgetful.partner", "remembered at last 42")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    context.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_managers_read_the_delivered_mail_on_the_mail_page(browser, mail_server, width):
    server, box = mail_server
    engine = get_engine(server.database_url)
    with unit_of_work(engine) as db:
        manager = make_manager(db)
        applicant = make_actor(db, status=PartnerStatus.PENDING)
        partners.change_status(db, actor=manager, partner_id=applicant.partner_id, action="approve")
        address = db.get(User, applicant.user_id).email
        message = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "partner_approved")
            .order_by(OutboxMessage.id.desc())
        ).first()
        assert message is not None
    received(box, address, "is approved")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, server.url, manager.username, PASSWORD)
    page.goto(f"{server.url}/manager_mail")
    settle(page)
    expect(page.get_by_role("heading", name="Mail")).to_be_visible()
    # The table is a canvas grid: its cells reach the DOM once it has drawn.
    expect(page.locator('[data-testid="glide-cell-0-0"]')).to_be_attached()
    choose(page, "Read a message", f"#{message.id} {message.subject} → {address}")
    expect(page.get_by_text("is now an approved partner").first).to_be_visible()
    shoot(page, f"manager-mail-{width}")
    context.close()
