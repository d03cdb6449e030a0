"""Users and login: bcrypt, password rules, lockout that ends by itself, sessions, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from portal.accounts import users
from portal.core.access import Actor, load_actor, one_action
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, Role, User, UserSession
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import notifications
from portal.money import commissions
from portal.partners import partners
from portal.reporting import statistics
from tests.factories import PASSWORD, make_actor, make_lead, make_manager, make_partner


def _login(engine, username, password=PASSWORD):
    with unit_of_work(engine) as session:
        return users.authenticate(session, username=username, password=password)


def test_password_is_bcrypt_hashed_and_login_is_case_insensitive(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session, username="Mixed.Case")
        stored = session.get(User, actor.user_id)
        assert stored.username == "mixed.case"
        assert stored.password_hash.startswith("$2b$") and PASSWORD not in stored.password_hash
    result = _login(engine, "  MIXED.case ")
    assert result.actor is not None and result.actor.user_id == actor.user_id
    with unit_of_work(engine) as session:
        assert session.get(User, actor.user_id).last_login_at is not None


def test_usernames_are_unique_whatever_the_case(engine):
    with unit_of_work(engine) as session:
        make_actor(session, username="alex")
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        make_actor(session, username="ALEX")
    assert "taken" in raised.value.errors["username"]


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short pass", "at least 12 characters"),
        ("é" * 37, "at most 72 bytes"),  # 37 characters but 74 bytes
        ("🔐" * 19, "at most 72 bytes"),
    ],
)
def test_password_rules(engine, password, fragment):
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        make_actor(session, password=password)
    assert fragment in raised.value.errors["password"]


def test_any_characters_are_allowed_in_a_password(engine):
    password = 'naïve café ☕ 密码 "quoted"'
    with unit_of_work(engine) as session:
        actor = make_actor(session, password=password)
    assert _login(engine, actor.username, password).actor is not None
    assert _login(engine, actor.username, password[:-1]).actor is None


def test_wrong_and_unknown_logins_give_the_same_message_and_are_audited(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    wrong = _login(engine, actor.username, "not the password")
    unknown = _login(engine, "nobody-here", "not the password")
    assert wrong.actor is None and unknown.actor is None
    assert wrong.message == unknown.message == users.WRONG_CREDENTIALS
    with unit_of_work(engine) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(entry.action, entry.actor_label) for entry in entries] == [
            ("login.failed", actor.username),
            ("login.failed", users.unknown_login_label("nobody-here")),
        ]


def test_unknown_username_costs_a_bcrypt_check_too(engine, settings_override, monkeypatch):
    """Counted, not timed (a timing check flakes under load): a wrong password for a known
    user and any password for an unknown one each cost exactly one bcrypt check at the
    configured cost, so their answers take the same time."""
    settings_override(bcrypt_rounds=5)
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    users._dummy_hash.cache_clear()
    checked: list[str] = []
    check = users.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed.decode()[:7])  # "$2b$05$": the algorithm and its cost
        return check(password, hashed)

    monkeypatch.setattr(users.bcrypt, "checkpw", counting)
    _login(engine, actor.username, "wrong password!")
    known, checked[:] = list(checked), []
    _login(engine, "no-such-user", "wrong password!")
    assert known == checked == ["$2b$05$"], (known, checked)
    users._dummy_hash.cache_clear()


def test_five_failures_lock_even_the_right_password_and_the_lock_ends_by_itself(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    for _ in range(4):
        assert _login(engine, actor.username, "wrong").message == users.WRONG_CREDENTIALS
    fifth = _login(engine, actor.username, "wrong")
    assert "locked for 15 minutes" in fifth.message
    locked = _login(engine, actor.username)
    assert locked.actor is None and "locked" in locked.message
    with unit_of_work(engine) as session:
        user = session.get(User, actor.user_id)
        remaining = user.locked_until - utc_now()
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
        # Fifteen minutes pass.
        session.execute(
            update(User)
            .where(User.id == actor.user_id)
            .values(locked_until=utc_now() - timedelta(seconds=1))
        )
    assert _login(engine, actor.username).actor is not None
    with unit_of_work(engine) as session:
        user = session.get(User, actor.user_id)
        assert (user.failed_logins, user.locked_until) == (0, None)


def test_an_expired_lock_counts_failures_afresh(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    for _ in range(5):
        _login(engine, actor.username, "wrong")
    with unit_of_work(engine) as session:
        session.execute(
            update(User)
            .where(User.id == actor.user_id)
            .values(locked_until=utc_now() - timedelta(seconds=1))
        )
    assert _login(engine, actor.username, "wrong").message == users.WRONG_CREDENTIALS
    assert _login(engine, actor.username).actor is not None


def test_deactivated_user_cannot_log_in_or_act(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        actor = make_actor(session)
        users.set_active(session, actor=manager, user_id=actor.user_id, active=False)
    assert _login(engine, actor.username).actor is None
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        load_actor(session, user_id=actor.user_id)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        users.list_users(session, actor=actor)


def _actor_reads(engine, work) -> int:
    """How many times `work` read a user's state (the query `load_actor` sends)."""
    reads = []

    def listener(connection, cursor, statement, *rest):
        if "users.is_active" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(reads)


def _dashboard_reads(engine, actor):
    """The service calls of a partner's dashboard, each in its own unit of work."""
    with unit_of_work(engine) as session:
        statistics.partner_statistics(session, actor=actor)
    with unit_of_work(engine) as session:
        commissions.commission_summary(session, actor=actor)
    with unit_of_work(engine) as session:
        leads.list_leads(session, actor=actor, limit=5)
        notifications.list_notifications(session, actor=actor, unread_only=True, limit=10)
        notifications.unread_count(session, actor=actor)


def test_an_action_reads_its_actor_once_instead_of_at_every_call(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        other = make_actor(session)
    assert _actor_reads(engine, lambda: _dashboard_reads(engine, partner)) == 5

    def page_run_given_the_actor():  # as Home.py, which has just read it
        with one_action(partner):
            _dashboard_reads(engine, partner)
            _dashboard_reads(engine, other)  # someone else is still read at each call

    assert _actor_reads(engine, page_run_given_the_actor) == 5

    def fragment_run():  # the first call reads it, the others take that reading
        with one_action():
            _dashboard_reads(engine, partner)
            _dashboard_reads(engine, partner)

    assert _actor_reads(engine, fragment_run) == 1


def test_a_change_of_standing_ends_the_actions_reading_and_a_deactivation_counts(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
    seen: list[str] = []

    def run_with(*, change_of_standing: bool):
        def run():
            with one_action(partner):
                _dashboard_reads(engine, partner)
                with unit_of_work(engine) as session:
                    notifications.mark_read(session, actor=partner)
                    if change_of_standing:  # as a manager's suspension in the same moment
                        partners.change_status(
                            session, actor=manager, partner_id=partner.partner_id, action="suspend"
                        )
                try:  # a partner's write asks the action's reading whether it is active
                    with unit_of_work(engine) as session:
                        make_lead(session, partner)
                    seen.append("registered")
                except PermissionDenied:
                    seen.append("refused")

        return run

    # mark_read takes the reading, and its writes (notifications, audit) cannot change the
    # actor: no call reads the partner again. A suspension ends the reading: the next call
    # reads the partner afresh and is refused, in the same action.
    assert _actor_reads(engine, run_with(change_of_standing=False)) == 0
    assert seen == ["registered"]
    assert _actor_reads(engine, run_with(change_of_standing=True)) >= 1
    assert seen == ["registered", "refused"]
    with unit_of_work(engine) as session:
        users.set_active(session, actor=manager, user_id=partner.user_id, active=False)
    with one_action(), pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        statistics.partner_statistics(session, actor=partner)


def test_manager_cannot_deactivate_itself_and_partners_cannot_deactivate(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        with pytest.raises(PermissionDenied):
            users.set_active(session, actor=manager, user_id=manager.user_id, active=False)
        with pytest.raises(PermissionDenied):
            users.set_active(session, actor=partner, user_id=manager.user_id, active=False)
        with pytest.raises(NotFound):
            users.set_active(session, actor=manager, user_id=99999, active=False)


def _sign_in(engine, actor, token):
    with unit_of_work(engine) as session:
        return users.open_session(
            session, user_id=actor.user_id, token=token, expires_at=utc_now() + timedelta(days=7)
        )


def _live(engine, token):
    with unit_of_work(engine) as session:
        return users.session_for_token(session, token=token) is not None


def test_change_password_checks_the_old_one_and_ends_other_sessions(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    here, elsewhere = _sign_in(engine, actor, "token-here"), _sign_in(engine, actor, "token-there")
    with unit_of_work(engine) as session:
        with pytest.raises(ValidationError) as raised:
            users.change_password(
                session, actor=actor, current_password=PASSWORD, new_password="short"
            )
        assert "new_password" in raised.value.errors
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        users.change_password(
            session, actor=actor, current_password="wrong", new_password="a new long password"
        )
    assert "current_password" in raised.value.errors
    with unit_of_work(engine) as session:
        users.change_password(
            session,
            actor=actor,
            current_password=PASSWORD,
            new_password="a new long password",
            keep_session_id=here,
        )
    assert _live(engine, "token-here") and not _live(engine, "token-there")
    with unit_of_work(engine) as session:
        assert users.actor_for_session(session, session_id=elsewhere) is None
        assert users.actor_for_session(session, session_id=here).user_id == actor.user_id
    assert _login(engine, actor.username).actor is None
    assert _login(engine, actor.username, "a new long password").actor is not None


def test_sessions_are_recorded_server_side_and_end_one_or_all(engine, settings_override):
    with unit_of_work(engine) as session:
        actor, other = make_actor(session), make_actor(session)
    first, second = _sign_in(engine, actor, "first"), _sign_in(engine, actor, "second")
    _sign_in(engine, other, "other")
    assert not _live(engine, "never issued")  # a cookie minted with the key alone
    with unit_of_work(engine) as session:
        assert {s.id for s in users.list_sessions(session, actor=actor)} == {first, second}
        users.end_session(session, actor=other, session_id=first)  # not its own: no effect
        users.end_session(session, actor=actor, session_id=first)  # logout: this one only
    assert not _live(engine, "first") and _live(engine, "second") and _live(engine, "other")
    with unit_of_work(engine) as session:
        assert users.end_sessions(session, actor=actor) == 1  # sign out everywhere
    assert not _live(engine, "second") and _live(engine, "other")
    # The lifetime setting no longer decides: a longer one revives nothing.
    settings_override(cookie_expiry_days=365)
    assert not _live(engine, "first")


def test_an_idle_session_expires_and_deactivation_ends_every_session(engine, settings_override):
    settings_override(session_idle_minutes=30)
    with unit_of_work(engine) as session:
        actor, manager = make_actor(session), make_manager(session)
    idle = _sign_in(engine, actor, "idle")
    _sign_in(engine, actor, "fresh")
    with unit_of_work(engine) as session:
        session.execute(
            update(UserSession)
            .where(UserSession.id == idle)
            .values(last_seen_at=utc_now() - timedelta(minutes=31))
        )
    assert not _live(engine, "idle") and _live(engine, "fresh")
    with unit_of_work(engine) as session:
        users.set_active(session, actor=manager, user_id=actor.user_id, active=False)
    assert not _live(engine, "fresh")


def test_create_user_is_for_managers_and_validates_the_partner(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        company = make_partner(session)
        with pytest.raises(PermissionDenied):
            users.create_user(
                session,
                actor=partner,
                username="sneaky",
                display_name="Sneaky",
                email="s@example.com",
                password=PASSWORD,
                role=Role.MANAGER,
            )
        with pytest.raises(ValidationError) as raised:
            users.create_user(
                session,
                actor=manager,
                username="lost",
                display_name="Lost",
                email="lost@example.com",
                password=PASSWORD,
                role=Role.PARTNER,
                partner_id=None,
            )
        assert "partner_id" in raised.value.errors
        created = users.create_user(
            session,
            actor=Actor.operator(),
            username="new.rep",
            display_name="New Rep",
            email="rep@example.com",
            password=PASSWORD,
            role=Role.PARTNER,
            partner_id=company.id,
        )
        assert created.partner_id == company.id and created.role is Role.PARTNER
        assert [user.username for user in users.list_users(session, actor=partner)] == [
            partner.username
        ]
        with pytest.raises(NotFound):
            users.list_users(session, actor=partner, partner_id=company.id)


def test_manager_can_unlock(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        actor = make_actor(session)
    for _ in range(5):
        _login(engine, actor.username, "wrong")
    with unit_of_work(engine) as session:
        users.unlock(session, actor=manager, user_id=actor.user_id)
    assert _login(engine, actor.username).actor is not None


def test_a_password_with_a_lone_surrogate_is_refused_not_crashed_on(engine):
    broken = "a long enough password \udcff"
    assert "lone surrogates" in users.password_problem(broken)
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    assert _login(engine, actor.username, broken).message == users.WRONG_CREDENTIALS
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        users.change_password(session, actor=actor, current_password=PASSWORD, new_password=broken)
    assert "lone surrogates" in " ".join(raised.value.errors.values())


def test_a_password_typed_as_a_username_never_reaches_the_audit_log(engine):
    typed = "my secret password 2026"
    _login(engine, typed, "whatever")
    _login(engine, typed, "again")
    with unit_of_work(engine) as session:
        labels = session.scalars(select(AuditEntry.actor_label)).all()
    assert len(labels) == 2 and labels[0] == labels[1]  # the same name, the same label
    assert labels[0].startswith("(unknown ") and "secret" not in labels[0]


def test_guesses_at_the_current_password_count_toward_the_lockout_and_are_audited(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    _sign_in(engine, actor, "guessing browser")
    for guess in range(5):
        with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
            users.change_password(
                session,
                actor=actor,
                current_password=f"guess number {guess}",
                new_password="a brand new password",
            )
        assert raised.value.errors == {"current_password": "This is not your current password."}
    with unit_of_work(engine) as session:
        user = session.get(User, actor.user_id)
        assert user.locked_until is not None and user.locked_until > utc_now()
        # The lock also signed out the browser the guesses came from.
        assert users.session_for_token(session, token="guessing browser") is None
        reasons = [
            entry.after["reason"]
            for entry in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "user.password_confirmation_failed")
                .order_by(AuditEntry.id)  # rows come back in no set order without it
            )
        ]
    assert reasons == ["wrong_password"] * 4 + ["locked_now"]
    assert "locked" in _login(engine, actor.username).message
    with pytest.raises(ValidationError, match="locked"), unit_of_work(engine) as session:
        users.change_password(
            session, actor=actor, current_password=PASSWORD, new_password="a brand new password"
        )


def _login_from(engine, username, password, address):
    with unit_of_work(engine) as session:
        return users.authenticate(
            session, username=username, password=password, client_address=address
        )


def test_an_unknown_username_locks_exactly_as_a_real_one(engine):
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    real = [_login(engine, actor.username, "wrong password").message for _ in range(7)]
    unknown = [_login(engine, "nobody.at.all", "wrong password").message for _ in range(7)]
    assert real == unknown
    assert real[3] == users.WRONG_CREDENTIALS and "locked for 15 minutes" in real[4]
    assert "locked. Try again in 15 minutes." in real[5]
    with unit_of_work(engine) as session:
        stored = " ".join(session.scalars(select(AuditEntry.actor_label)).all())
    assert "nobody.at.all" not in stored  # the name is kept only as a hash


def test_one_address_cannot_spray_many_accounts(engine, settings_override):
    settings_override(address_failures=3)
    with unit_of_work(engine) as session:
        actor = make_actor(session)
    for number in range(3):
        result = _login_from(engine, f"guess{number}", "wrong password", "203.0.113.9")
        assert result.message == users.WRONG_CREDENTIALS
    # Even the right password waits now, from that address only.
    blocked = _login_from(engine, actor.username, PASSWORD, "203.0.113.9")
    assert blocked.actor is None and "from your network" in blocked.message
    assert _login_from(engine, actor.username, PASSWORD, "198.51.100.4").actor is not None
    with unit_of_work(engine) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "login.throttled" in actions


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        # The client wrote the first entry; the portal's proxy appended what it saw.
        ("127.0.0.1", "10.1.1.1, 203.0.113.9", 1, "203.0.113.9"),
        ("127.0.0.1", "203.0.113.9", 1, "203.0.113.9"),
        # Two proxies of the portal's: a CDN appended the client, the balancer the CDN.
        ("127.0.0.1", "10.9.9.9, 203.0.113.9, 198.51.100.7", 2, "203.0.113.9"),
        # A header expected but absent: the peer (the proxy) is what there is.
        ("127.0.0.1", "", 1, "127.0.0.1"),
        # No header configured: the peer; a local peer (Streamlit says none) counts too.
        (None, "", 1, "127.0.0.1"),
        ("198.51.100.7", "", 1, "198.51.100.7"),
        # More proxies trusted than the chain holds: the leftmost, never nothing.
        ("127.0.0.1", "203.0.113.9", 5, "203.0.113.9"),
    ],
)
def test_the_client_address_is_counted_from_the_right(peer, forwarded, trusted, client):
    from portal.core.throttle import client_address_from

    assert client_address_from(peer, forwarded, trusted_proxies=trusted) == client


def test_spoofed_forwarded_entries_do_not_dodge_the_address_lock(engine, settings_override):
    """Failed sign-ins each behind a new spoofed first entry: the address the proxy saw is
    locked all the same."""
    from portal.core.throttle import client_address_from

    settings_override(address_failures=3)
    with unit_of_work(engine) as session:
        actor = make_actor(session)

    def spoofed(number: int) -> str:
        forwarded = f"10.{number}.{number}.{number}, 203.0.113.9"
        return client_address_from("127.0.0.1", forwarded, trusted_proxies=1)

    for number in range(3):
        _login_from(engine, f"guess{number}", "wrong password", spoofed(number))
    blocked = _login_from(engine, actor.username, PASSWORD, spoofed(99))
    assert blocked.actor is None and "from your network" in blocked.message
