"""Hostile input typed into the pages themselves (AppTest): a sample of the naughty-string
corpus goes into every free-text field of each form. Whatever is typed, the page shows no
traceback, and either stores the text and shows it back exactly (trimmed) or names the field
it refuses, with nothing written. The whole corpus goes through the services on both
databases in tests/core/test_bad_input.py; this checks the last step, from widget to screen, which
does not depend on the database: it runs on SQLite alone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.core import migrate
from portal.core.db import get_engine, unit_of_work
from portal.core.models import AuditEntry, Lead, Partner, PartnerProfile
from tests.apptest import app, page_as, texts
from tests.apptest import shown as displayed
from tests.conftest import create_sqlite_database
from tests.core.test_bad_input import CORPUS, OURS
from tests.factories import make_actor, make_manager

pytestmark = pytest.mark.slow

# Every 40th string of the corpus (about 13) plus all of ours: each kind of trouble (control
# characters, RTL, emoji, SQL, script, huge, empty) without typing 500 strings per form.
SAMPLE = list(dict.fromkeys([*CORPUS[::40], *OURS, ""]))
LEADS = "pages/partner_leads.py"
PROFILE = "pages/partner_profile.py"
PARTNERS = "pages/manager_partners.py"


@pytest.fixture(scope="module")
def migrated_url(tmp_path_factory):
    """This module's one database (SQLite), in place of the one per backend."""
    url = create_sqlite_database(tmp_path_factory.mktemp("sqlite"))
    migrate.upgrade(get_engine(url))
    yield url
    get_engine(url).dispose()


def _fields(test):
    return {field.label: field for field in [*test.text_input, *test.text_area]}


def _button(test, label):
    return next(button for button in test.button if button.label == label)


def _errors(test) -> str:
    return "\n".join(displayed(error) for error in test.error)


def _count(engine, model) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _refused_by_name(test, labels) -> bool:
    """An error names one of the fields in words: its label, or the label's first word for a
    search box ("Search text contains control characters." under "Search by company
    name")."""
    errors = _errors(test)
    return any(label in errors or label.split()[0] in errors for label in labels)


@pytest.mark.parametrize("value", SAMPLE, ids=range(len(SAMPLE)))
def test_register_form(app_database, value):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    before = _count(app_database, Lead), _count(app_database, AuditEntry)
    test = page_as(partner, LEADS)
    fields = _fields(test)
    for label in ("Client name *", "Company", "Notes"):
        fields[label].input(value)
    fields["Client email *"].input("steady@client.example")
    test.selectbox[0].select("SEO")
    _button(test, "Register lead").click().run()
    assert not test.exception, repr(value)
    if test.error:
        assert _refused_by_name(test, ("Client name", "Company", "Notes")), (value, _errors(test))
        assert (_count(app_database, Lead), _count(app_database, AuditEntry)) == before
        return
    with unit_of_work(app_database) as db:
        lead = db.scalar(select(Lead).order_by(Lead.id.desc()))
        assert (lead.client_name, lead.company, lead.notes) == (value.strip(),) * 3
        lead_id = lead.id
    shown = page_as(partner, LEADS, lead=str(lead_id))
    assert not shown.exception
    assert f"Client: {value.strip()}\n" in texts(shown)


@pytest.mark.parametrize("value", SAMPLE, ids=range(len(SAMPLE)))
def test_profile_form(app_database, value):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    labels = ("Contact name", "Address", "City", "State or region", "ZIP or postal code")
    before = _profile_texts(app_database, partner)
    test = page_as(partner, PROFILE)
    fields = _fields(test)
    for label in labels:
        fields[label].input(value)
    _button(test, "Save profile").click().run()
    assert not test.exception, repr(value)
    stored = _profile_texts(app_database, partner)
    if test.error:  # a saved profile reruns the page, which clears its success message
        assert _refused_by_name(test, labels), (value, _errors(test))
        assert stored == before
        return
    assert stored == ((value.strip() or None),) * 5
    again = page_as(partner, PROFILE)
    shown = _fields(again)
    assert [shown[label].value for label in labels] == [value.strip()] * 5


def _profile_texts(engine, partner):
    with unit_of_work(engine) as db:
        profile = db.scalar(
            select(PartnerProfile).where(PartnerProfile.partner_id == partner.partner_id)
        )
        return (profile.contact_name, profile.address, profile.city, profile.state, profile.zip)


@pytest.mark.parametrize("value", SAMPLE, ids=range(len(SAMPLE)))
def test_application_and_partner_creation_forms(app_database, value, settings_override):
    settings_override(signup_allowed=True)
    labels = ("Company name", "Your name")
    before = _count(app_database, Partner)
    test = page_as(None, "pages/apply.py")
    fields = _fields(test)
    for label in labels:
        fields[label].input(value)
    fields["Company email"].input("team@applicant.example")
    fields["Your email"].input("me@applicant.example")
    fields["Username"].input("applicant")
    fields["Password"].input("a long enough password")
    fields["Repeat the password"].input("a long enough password")
    _button(test, "Apply").click().run()
    assert not test.exception, repr(value)
    if test.error:
        assert _refused_by_name(test, labels), (value, _errors(test))
        assert _count(app_database, Partner) == before
    else:
        assert test.success
        with unit_of_work(app_database) as db:
            assert db.scalar(select(Partner.company_name)) == value.strip()

    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    before = _count(app_database, Partner)
    test = page_as(manager, PARTNERS)
    fields = _fields(test)
    for label in ("Company name", "Contact name"):
        fields[label].input(value)
    fields["Company email"].input("team@invited.example")
    fields["Contact email"].input("contact@invited.example")
    fields["Username"].input("invited")
    fields["Initial password"].input("another long one!")
    _button(test, "Create partner").click().run()
    assert not test.exception, repr(value)
    if test.error:
        assert _refused_by_name(test, ("Company name", "Contact name")), (value, _errors(test))
        assert _count(app_database, Partner) == before
    else:
        with unit_of_work(app_database) as db:
            names = db.scalars(select(Partner.company_name)).all()
        assert value.strip() in names


@pytest.mark.parametrize("value", SAMPLE, ids=range(len(SAMPLE)))
def test_login_and_search_fields(app_database, value):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    login = app().run()
    fields = _fields(login)
    fields["Username"].input(value)
    fields["Password"].input(value)
    _button(login, "Sign in").click().run()
    assert not login.exception, repr(value)
    assert (
        "authentication_status" not in login.session_state
        or not login.session_state["authentication_status"]
    )
    assert login.error, "a failed sign-in says so"

    for page, label in (
        (PARTNERS, "Search by company name"),
        ("pages/manager_audit.py", "Actor (username)"),
        ("pages/manager_audit.py", "Object id"),
        ("pages/manager_leads.py", "Search name, email or company"),
    ):
        test = page_as(manager, page)
        _fields(test)[label].input(value).run()
        assert not test.exception, (page, label, repr(value))
        assert not test.error or _refused_by_name(test, [label]), (label, _errors(test))
