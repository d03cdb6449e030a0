"""The command line: each verb end to end, and clear refusals that write nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select, update

import portal.__main__ as cli
from portal.accounts.users import authenticate
from portal.core.config import get_settings
from portal.core.db import unit_of_work
from portal.core.models import Lead, Partner, User


def run_cli(
    url: str, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m portal ARGS` with DATABASE_URL=url and `env`, run in this process (a new
    Python per call cost over a second of start-up each): its exit code and output. The
    program itself runs as a process in the tests that need one (bytes on stdin, the module
    entry point)."""
    replaced = (sys.stdin, sys.stdout, sys.stderr)
    saved_env = dict(os.environ)
    os.environ.update({"DATABASE_URL": url, **(env or {})})
    get_settings.cache_clear()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    try:
        code = cli.main(list(args))
    except SystemExit as exit:  # argparse refusing the arguments
        code = exit.code if isinstance(exit.code, int) else 1
    finally:
        output, errors = (
            stream.buffer.getvalue().decode()  # type: ignore[attr-defined]
            for stream in (sys.stdout, sys.stderr)
        )
        sys.stdin, sys.stdout, sys.stderr = replaced
        os.environ.clear()
        os.environ.update(saved_env)
        get_settings.cache_clear()
    return subprocess.CompletedProcess(["portal", *args], code, output, errors)


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("frobnicate",), "invalid choice"),
        (
            (
                "create-user",
                "--username",
                "x",
                "--name",
                "X",
                "--email",
                "x@example.com",
                "--role",
                "wizard",
            ),
            "invalid choice: 'wizard'",
        ),
        (
            (
                "create-user",
                "--username",
                "x",
                "--name",
                "X",
                "--email",
                "x@example.com",
                "--role",
                "partner",
                "--partner-id",
                "abc",
            ),
            "expected a whole number",
        ),
        (
            (
                "create-user",
                "--username",
                "x",
                "--name",
                "X",
                "--email",
                "x@example.com",
                "--role",
                "partner",
                "--partner-id",
                "0",
            ),
            "expected a number from 1 to 2147483647",
        ),
        (("db",), "required: ACTION"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(engine, args, fragment):
    result = run_cli(_url(engine), *args)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_create_user_reads_the_password_from_stdin(engine):
    url = _url(engine)
    result = run_cli(
        url,
        "create-user",
        "--username",
        "Ops.Lead",
        "--name",
        "Ops Lead",
        "--email",
        "ops@example.com",
        "--role",
        "manager",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Created manager ops.lead" in result.stdout
    with unit_of_work(engine) as session:
        assert (
            authenticate(session, username="ops.lead", password="a long enough password").actor
            is not None
        )


def test_create_user_refuses_a_password_that_is_not_utf8_without_a_traceback(engine):
    env = {**os.environ, "DATABASE_URL": _url(engine)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "portal",
            "create-user",
            "--username",
            "bytes",
            "--name",
            "B",
            "--email",
            "b@example.com",
            "--role",
            "manager",
            "--password-stdin",
        ],
        input=b"a long enough password \xff\xfe\n",
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert b"lone surrogates" in result.stderr and b"Traceback" not in result.stderr
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_refusals_name_the_field_and_write_nothing(engine):
    url = _url(engine)
    short = run_cli(
        url,
        "create-user",
        "--username",
        "shorty",
        "--name",
        "S",
        "--email",
        "s@example.com",
        "--role",
        "manager",
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "error: Password must be at least 12 characters" in short.stderr
    orphan = run_cli(
        url,
        "create-user",
        "--username",
        "orphan",
        "--name",
        "O",
        "--email",
        "o@example.com",
        "--role",
        "partner",
        "--partner-id",
        "424242",
        stdin="a long enough password\n",
    )
    assert orphan.returncode == 1 and "Partner 424242 does not exist" in orphan.stderr
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_seed_demo_verify_and_tamper_detection(engine):
    url = _url(engine)
    seeded = run_cli(url, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert "6 logins written" in seeded.stdout
    with unit_of_work(engine) as session:
        assert 35 <= session.scalar(select(func.count()).select_from(Partner)) <= 45
        assert 2700 <= session.scalar(select(func.count()).select_from(Lead)) <= 3300
        statuses = set(session.scalars(select(Partner.status).distinct()))
        assert len(statuses) == 3
    verified = run_cli(url, "verify")
    assert verified.returncode == 0 and "match" in verified.stdout
    again = run_cli(url, "seed-demo")
    assert again.returncode == 1 and "already holds data" in again.stderr
    assert run_cli(url, "seed-demo", "--if-empty").returncode == 0
    with unit_of_work(engine) as session:
        session.execute(update(Partner).where(Partner.id == 1).values(total_referrals=0))
    tampered = run_cli(url, "verify")
    assert tampered.returncode == 1 and "partner 1: total_referrals 0" in tampered.stdout


def test_db_upgrade_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_cli(url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "head" in result.stdout


def test_payout_verbs_end_to_end_and_their_refusals(engine):
    from datetime import UTC, datetime, timedelta

    from portal.partners import profiles
    from tests.factories import (
        PASSWORD,
        make_actor,
        make_converted_lead,
        make_manager,
        verify_tax_form,
    )

    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        profiles.update_profile(
            session,
            actor=partner,
            password=PASSWORD,
            changes={"payment_method": "paypal", "payment_email": "p@x.example"},
        )
        verify_tax_form(session, partner)
        make_converted_lead(session, manager, partner, "1000")
        from portal.core.models import Commission

        session.execute(update(Commission).values(hold_until=datetime.now(UTC) - timedelta(days=1)))
    url = _url(engine)
    today = datetime.now(UTC).date().isoformat()
    preview = run_cli(url, "payouts", "preview", "--cutoff", today)
    assert preview.returncode == 0 and "1 payout, 100.00 USD" in preview.stdout
    assert run_cli(url, "payouts", "preview", "--cutoff", "2999-01-01").returncode == 2
    bad = run_cli(url, "payouts", "run", "--cutoff", "yesterday")
    assert bad.returncode == 2 and "not a date written as YYYY-MM-DD" in bad.stderr
    week_date = run_cli(url, "payouts", "run", "--cutoff", "2026-W45-1")
    assert week_date.returncode == 2 and "YYYY-MM-DD" in week_date.stderr
    no_such_day = run_cli(url, "payouts", "preview", "--cutoff", "2026-02-29")
    assert no_such_day.returncode == 2 and "no such date as 2026-02-29" in no_such_day.stderr
    ran = run_cli(url, "payouts", "run", "--cutoff", today)
    assert ran.returncode == 0 and "Scheduled 1 payout" in ran.stdout
    payout_id = ran.stdout.split("#")[1].split()[0]
    no_ref = run_cli(url, "payouts", "mark-paid", payout_id, "--reference", " ")
    assert no_ref.returncode == 1 and "Payment reference is required" in no_ref.stderr
    assert run_cli(url, "payouts", "mark-paid", "99999", "--reference", "x").returncode == 1
    paid = run_cli(url, "payouts", "mark-paid", payout_id, "--reference", "TRF-77")
    assert paid.returncode == 0 and "is now paid" in paid.stdout
    again = run_cli(url, "payouts", "mark-failed", payout_id)
    assert again.returncode == 1 and "already paid" in again.stderr
    assert run_cli(url, "verify").returncode == 0


def test_export_streams_to_a_file_and_refuses_bad_filters(engine, tmp_path):
    from tests.factories import make_actor, make_lead

    with unit_of_work(engine) as session:
        partner = make_actor(session)
        make_lead(session, partner, client_name="=HYPERLINK(1)")
        make_lead(session, partner)
    url = _url(engine)
    out = tmp_path / "leads.csv"
    done = run_cli(
        url, "export", "leads", "--out", str(out), "--partner-id", str(partner.partner_id)
    )
    assert done.returncode == 0 and "Wrote 2 rows" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("lead_id,") and "'=HYPERLINK(1)" in text
    assert not (tmp_path / "leads.csv.partial").exists()
    for args, fragment, code in [
        (("export", "leads", "--out", str(out), "--status", "won"), "Status must be one of", 1),
        (
            ("export", "leads", "--out", str(out), "--from", "2026-13-01"),
            "no such date as 2026-13-01",
            2,
        ),
        (("export", "tax", "--out", str(out)), "Year must be between", 1),
        (("export", "secrets", "--out", str(out)), "invalid choice", 2),
        (("export", "leads", "--out", str(tmp_path / "missing" / "x.csv")), "cannot write", 1),
    ]:
        result = run_cli(url, *args)
        assert result.returncode == code and fragment in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert out.read_text(encoding="utf-8") == text  # a refused export leaves the file alone
