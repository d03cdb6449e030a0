"""A manager signs in through the company's identity provider — a real OpenID Connect
provider the test starts (`oidc-provider-mock`), reached by Streamlit's own `st.login` — and,
with a code from the authenticator app, makes a payout file; a stranger the provider vouches
for gets no entry."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from datetime import timedelta

import pyotp
import pytest
from oidc_provider_mock import User as ProviderUser
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import expect
from sqlalchemy import update

from portal.core import two_factor
from portal.core.db import get_engine, unit_of_work
from portal.core.models import Commission, User
from portal.core.types import utc_now
from portal.money import payouts
from tests.browser.conftest import Server, migrate_database, run_app, settle, shoot
from tests.factories import make_actor, make_converted_lead, make_manager, payable_profile

BOSS = "boss@company.example"
STRANGER = "stranger@company.example"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    claims = [
        ProviderUser(sub="boss", claims={"email": BOSS, "email_verified": True}),
        ProviderUser(sub="stranger", claims={"email": STRANGER, "email_verified": True}),
    ]
    with run_server_in_thread(user_claims=claims) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def sso_server(provider, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("sso")
    database_url = f"sqlite:///{folder / 'portal.db'}"
    migrate_database(database_url, folder)

    def settings(url: str) -> dict[str, str]:
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "{url.replace("127.0.0.1", "localhost")}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
            'client_id = "portal"\n'
            'client_secret = "portal-secret"\n'
            f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        )
        return {"STREAMLIT_SECRETS_FILES": str(secrets_file), "PORTAL_MANAGER_2FA": "true"}

    with run_app(folder, database_url, settings) as running:
        yield running


def test_a_manager_signs_in_through_the_provider_and_with_a_code_makes_a_payout_file(
    sso_server, browser
):
    engine = get_engine(sso_server.database_url)
    with unit_of_work(engine) as db:
        manager = make_manager(db)
        db.execute(update(User).where(User.id == manager.user_id).values(email=BOSS))
        secret = two_factor.begin(db, actor=manager).secret
        two_factor.confirm(db, actor=manager, code=pyotp.TOTP(secret).now())
        partner = make_actor(db, username="sso.partner")
        payable_profile(db, partner)
        make_converted_lead(db, manager, partner, "2000.00")
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        payouts.run_batch(db, actor=manager, cutoff=utc_now().date())
    base = sso_server.url.replace("127.0.0.1", "localhost")  # the redirect URI's origin
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(base)
    settle(page)
    page.get_by_role("button", name="Sign in with your company account").click()
    # The provider's own page: choose who signs in there.
    page.get_by_role("button", name="boss", exact=True).click()
    settle(page)
    expect(page.get_by_role("heading", name="Program overview")).to_be_visible()
    shoot(page, "sso-signed-in")

    page.goto(f"{base}/manager_payouts")
    settle(page)
    totp = pyotp.TOTP(secret)
    code = totp.at(utc_now() + timedelta(seconds=totp.interval))  # the set-up used this step's
    page.get_by_label("Code from your authenticator app (or a recovery code)", exact=True).fill(
        code
    )
    page.get_by_role("button", name="Verify").click()
    settle(page)
    page.get_by_role("button", name="Make the payout file").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Make the file", exact=True).click()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download payouts-").click()
    (row,) = list(csv.reader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert row[:3] == ["pay@partner.example", "200.00", "USD"]
    shoot(page, "sso-payout-file")

    # Signing out ends the portal's session, Streamlit's identity cookie and the provider's
    # session (its end-session page, OpenID Connect RP-initiated logout): the browser is back
    # at the sign-in page, and a reload does not sign anyone in.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("button", name="Sign in with your company account")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "_streamlit_user"]
    page.reload()
    settle(page)
    expect(page.get_by_role("button", name="Sign in with your company account")).to_be_visible()
    expect(page.get_by_role("heading", name="Program overview")).to_have_count(0)
    expect(page.locator('[data-testid="stAlert"]')).to_have_count(0)
    context.close()

    # Someone the provider knows, but no portal manager: no entry, and told why.
    stranger = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = stranger.new_page()
    page.goto(base)
    settle(page)
    page.get_by_role("button", name="Sign in with your company account").click()
    page.get_by_role("button", name="stranger", exact=True).click()
    settle(page)
    expect(page.get_by_text(f"No portal manager has the e-mail address {STRANGER}")).to_be_visible()
    expect(page.get_by_role("heading", name="Program overview")).to_have_count(0)
    stranger.close()
