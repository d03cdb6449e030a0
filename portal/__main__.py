"""Command line: `python -m portal --help`.

Passwords are never taken as arguments (they would show in the process list and shell
history): `create-user` reads one from standard input or prompts for it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from portal.accounts import api_keys, password_links, users
from portal.core import actions, config, fmt, migrate, program, two_factor
from portal.core.access import Actor
from portal.core.config import ConfigurationError, get_settings
from portal.core.db import get_engine, unit_of_work
from portal.core.errors import PortalError
from portal.core.models import MAX_ID, ApiScope, RiskStatus, Role
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, is_text, parse_day
from portal.messaging import mail_sender
from portal.money import currencies, payout_files, payouts, tax_reports
from portal.money.payment_details import FileFormat
from portal.reporting import exports, integrity
from portal.risk import center as risk_center
from portal.tools import backup, generate, rotate_key, seed


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {MAX_ID}, got {value}")
    return value


def _any_date(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _past_date(text: str) -> date:
    day = _any_date(text)
    if day > datetime.now(UTC).date():
        raise argparse.ArgumentTypeError(f"{day} is in the future (dates are UTC)")
    return day


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m portal", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="schema migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="migrate the schema up (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = db_commands.add_parser("downgrade", help="migrate the schema down to REVISION")
    downgrade.add_argument("revision")

    backup_command = commands.add_parser(
        "backup",
        help="write a backup of the whole database (SQLite: online copy; PostgreSQL: pg_dump)",
    )
    backup_command.add_argument("--out", required=True, help="the file to write (must not exist)")
    restore_command = commands.add_parser(
        "restore", help="restore a backup into the empty database DATABASE_URL names, then verify"
    )
    restore_command.add_argument("file", metavar="FILE", help="a file `backup` wrote")
    reset_2fa = commands.add_parser(
        "reset-2fa", help="remove a user's two-factor sign-in (a lost phone), audited"
    )
    reset_2fa.add_argument("--username", required=True)
    commands.add_parser(
        "rotate-key",
        help="re-encrypt every stored secret with the newest PORTAL_ENCRYPTION_KEY (the first)",
    )

    settings = commands.add_parser(
        "settings", help="the program's rules: hold days, minimum payout, tiers, services…"
    )
    settings_commands = settings.add_subparsers(
        dest="settings_command", required=True, metavar="ACTION"
    )
    settings_commands.add_parser("show", help="print every rule in force and its version")
    change = settings_commands.add_parser(
        "set", help="change one rule: a new version, audited, applying from now on"
    )
    change.add_argument("key", choices=list(program.LABELS), metavar="KEY")
    change.add_argument(
        "value",
        metavar="VALUE",
        help="as `settings show` prints it: lists comma-separated, tiers as name=value, …",
    )
    change.add_argument("--reason", required=True, help="why the rule changes, for the record")

    risk = commands.add_parser("risk", help="the risk center: events the risk rules raise")
    risk_commands = risk.add_subparsers(dest="risk_command", required=True, metavar="ACTION")
    risk_commands.add_parser(
        "scan", help="run every risk rule over the program's data; new events are raised"
    )
    risk_list = risk_commands.add_parser("list", help="print the open events (most severe first)")
    risk_list.add_argument("--all", action="store_true", help="decided events too")

    seed_demo = commands.add_parser("seed-demo", help="fill an empty database with demo data")
    seed_demo.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing (and succeed) when data is already there",
    )

    commands.add_parser("demo-logins", help="print the demo logins made by seed-demo")

    create = commands.add_parser("create-user", help="create a login (password from stdin)")
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--partner-id", type=_positive_int, help="the partner company (required for --role partner)"
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    create.add_argument(
        "--invite",
        action="store_true",
        help="no password: e-mail the user a single-use link to choose one",
    )

    key_parser = commands.add_parser("api-key", help="API keys")
    key_commands = key_parser.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    key_create = key_commands.add_parser(
        "create", help="make an API key for a user and print it (shown this once)"
    )
    key_create.add_argument("--username", required=True)
    key_create.add_argument("--scope", required=True, choices=[scope.value for scope in ApiScope])
    key_create.add_argument("--expires", type=_positive_int, metavar="DAYS", help="days it works")

    mail_parser = commands.add_parser("mail", help="e-mail in the outbox")
    mail_commands = mail_parser.add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    send = mail_commands.add_parser(
        "send",
        help="queue due digests and statements, then deliver what is due to PORTAL_SMTP_URL",
    )
    how_often = send.add_mutually_exclusive_group()
    how_often.add_argument("--once", action="store_true", help="one pass, then exit (default)")
    how_often.add_argument(
        "--loop", action="store_true", help="a pass every PORTAL_MAIL_POLL_SECONDS until stopped"
    )

    commands.add_parser(
        "verify",
        help="recompute statistics and check the money invariants; exit 1 on any difference",
    )

    generate_parser = commands.add_parser(
        "generate", help="fill an empty database with a large program (scale work)"
    )
    generate_parser.add_argument("--partners", type=_positive_int, required=True)
    generate_parser.add_argument("--leads", type=_positive_int, required=True)
    generate_parser.add_argument("--seed", type=_positive_int, default=7)

    filing = commands.add_parser(
        "tax-filing",
        help="write the year's tax lists with full taxpayer ids (1099-NEC, 1099-K, 1042-S), "
        "readable by its owner only",
    )
    filing.add_argument("--year", required=True, type=_positive_int, help="calendar year")
    filing.add_argument("--out", required=True, help="the file to write")

    export = commands.add_parser("export", help="stream an export to a CSV file")
    export.add_argument("kind", choices=list(exports.KINDS))
    export.add_argument("--out", required=True, help="the file to write ('-' for stdout)")
    export.add_argument("--partner-id", type=_positive_int)
    export.add_argument("--status", help="status (or, for the audit log, action) to keep")
    export.add_argument("--from", dest="date_from", type=_any_date, help="first day, YYYY-MM-DD")
    export.add_argument("--to", dest="date_to", type=_any_date, help="last day, YYYY-MM-DD")
    export.add_argument("--year", type=_positive_int, help="calendar year (tax report)")

    payout = commands.add_parser("payouts", help="payout batches")
    payout_commands = payout.add_subparsers(dest="payout_command", required=True, metavar="ACTION")
    for name, text in (
        ("preview", "who a batch would pay, and who is left out and why"),
        ("run", "schedule the payouts of a batch"),
    ):
        verb = payout_commands.add_parser(name, help=text)
        verb.add_argument(
            "--cutoff",
            required=True,
            type=_past_date,
            help="cut-off date, YYYY-MM-DD (today or earlier)",
        )
        verb.add_argument(
            "--rates",
            help="exchange rates for the payout currencies: the ECB's eurofxref-daily.xml or a "
            "CSV currency,rate",
        )
        verb.add_argument(
            "--rate",
            action="append",
            default=[],
            type=_typed_rate,
            metavar="CUR=RATE",
            help="one rate typed (units of CUR per unit of the program currency); repeatable",
        )
        verb.add_argument(
            "--confirm-rate-jumps",
            action="store_true",
            help="use rates that moved more than PORTAL_RATE_MAX_CHANGE from the last used",
        )
    paid = payout_commands.add_parser("mark-paid", help="record a scheduled payout as paid")
    paid.add_argument("payout_id", type=_positive_int, metavar="ID")
    paid.add_argument(
        "--reference", required=True, help="the transfer's reference (used once only)"
    )
    paid.add_argument("--paid-date", type=_past_date, help="day the money left, YYYY-MM-DD")
    settle = payout_commands.add_parser(
        "settle",
        help="mark the payouts of a bank statement paid, all or nothing: an ISO 20022 camt.053 "
        "report, or a CSV (payout_id,reference,paid_date,amount,currency)",
    )
    settle.add_argument("--file", required=True, help="the statement ('-' for stdin)")
    returned = payout_commands.add_parser(
        "mark-returned",
        help="record that a paid payout came back from the bank; its commissions become payable",
    )
    returned.add_argument("payout_id", type=_positive_int, metavar="ID")
    returned.add_argument(
        "--reason-code", required=True, help="the bank's code: R01–R31 (ACH), AC04… (ISO 20022)"
    )
    returned.add_argument("--note", default="", help="more words, for the record")
    reapprove = payout_commands.add_parser(
        "reapprove", help="release a held payout with the partner's payment details as they are now"
    )
    reapprove.add_argument("payout_id", type=_positive_int, metavar="ID")
    void = payout_commands.add_parser(
        "void-file", help="withdraw a live payout file; its unpaid payouts may be filed again"
    )
    void.add_argument("file_id", type=_positive_int, metavar="FILE_ID")
    void.add_argument("--reason", required=True, help="why (the bank refused it, it was lost…)")
    positive_pay = payout_commands.add_parser(
        "positive-pay", help="write the bank's Positive Pay list of a checks file"
    )
    positive_pay.add_argument("file_id", type=_positive_int, metavar="FILE_ID")
    positive_pay.add_argument("--out", required=True, help="the file to write ('-' for stdout)")
    payout_file = payout_commands.add_parser(
        "file", help="write the payout file of one method for a batch (holds account numbers)"
    )
    payout_file.add_argument("--cutoff", required=True, type=_past_date, help="the batch's cut-off")
    payout_file.add_argument(
        "--format", required=True, choices=[member.value for member in FileFormat]
    )
    payout_file.add_argument(
        "--currency",
        help="the payout currency of the file, when the format's payouts are in several",
    )
    payout_file.add_argument("--out", required=True, help="the file to write ('-' for stdout)")
    for name, text in (
        ("mark-failed", "record that a scheduled payout failed"),
        ("cancel", "cancel a scheduled payout"),
    ):
        verb = payout_commands.add_parser(name, help=f"{text}; its commissions return to payable")
        verb.add_argument("payout_id", type=_positive_int, metavar="ID")
        verb.add_argument("--reason", default="", help="why, for the record")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        # Bytes that are not UTF-8 become lone surrogates, which the password rules refuse
        # with a message instead of a decoding traceback.
        raw = getattr(sys.stdin, "buffer", None)
        line = raw.readline().decode("utf-8", "surrogateescape") if raw else sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise PortalError("The two passwords differ.")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    for name, value in vars(args).items():
        # Bytes that are not UTF-8 arrive as lone surrogates: refuse them by name, as
        # argparse refuses any other bad argument (exit 2), before they reach a service.
        if isinstance(value, str) and not is_text(value):
            parser.error(f"argument --{name.replace('_', '-')}: not valid UTF-8 text")
    try:
        return _run(args)
    except (PortalError, ConfigurationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`… | head`): what was done is done; say nothing more, and
        # keep Python from complaining again when it flushes stdout on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE


def _run(args: argparse.Namespace) -> int:
    if args.command == "db":
        if args.db_command == "upgrade":
            migrate.upgrade(revision=args.revision)
        else:
            migrate.downgrade(revision=args.revision)
        print(f"Database schema at {args.revision}.")
        return 0
    if args.command == "seed-demo":
        with unit_of_work() as session:
            if seed.has_data(session):
                if args.if_empty:
                    return 0
                print(
                    "error: the database already holds data; seed-demo fills an empty one.",
                    file=sys.stderr,
                )
                return 1
            logins = seed.seed_demo(session)
        path = seed.write_logins(logins)
        print(f"Seeded the demo program; {len(logins)} logins written to {path}.")
        return 0
    if args.command == "demo-logins":
        path = seed.logins_file()
        if not path.exists():
            print("No demo logins here: run `python -m portal seed-demo` on an empty database.")
            return 1
        print(path.read_text(), end="")
        return 0
    if args.command == "create-user":
        if args.invite:
            if args.password_stdin:
                raise PortalError("--invite and --password-stdin exclude each other.")
            user = actions.run(
                lambda session: password_links.invite_user(
                    session,
                    actor=Actor.operator(),
                    username=args.username,
                    display_name=args.name,
                    email=args.email,
                    role=Role(args.role),
                    partner_id=args.partner_id,
                )
            )
            print(f"Created {user.role.value} {user.username} (id {user.id}); invitation queued.")
            return 0
        password = _read_password(args.password_stdin)
        user = actions.run(
            lambda session: users.create_user(
                session,
                actor=Actor.operator(),
                username=args.username,
                display_name=args.name,
                email=args.email,
                password=password,
                role=Role(args.role),
                partner_id=args.partner_id,
            )
        )
        print(f"Created {user.role.value} {user.username} (id {user.id}).")
        return 0
    if args.command == "backup":
        written = backup.backup(get_settings().sqlalchemy_url, Path(args.out))
        print(f"Backed up the {written.kind} database to {written.path} ({written.size:,} bytes).")
        return 0
    if args.command == "restore":
        backup.restore(Path(args.file), get_settings().sqlalchemy_url)
        print(f"Restored {args.file} and migrated it to this version's schema.")
        return _verify()
    if args.command == "reset-2fa":
        actions.run(
            lambda session: two_factor.reset(
                session, actor=Actor.operator(), username=args.username
            )
        )
        print(f"Two-factor sign-in of {args.username} is reset; they can set it up again.")
        return 0
    if args.command == "rotate-key":
        for rotated in rotate_key.rotate_all():
            print(f"  {rotated.column}: {fmt.count(rotated.values, 'value')} re-encrypted")
        print("Every secret is now encrypted with the first key; the others can be retired.")
        return 0
    if args.command == "settings":
        return _settings(args)
    if args.command == "risk":
        return _risk(args)
    if args.command == "verify":
        return _verify()
    if args.command == "mail":
        return _mail(args)
    if args.command == "api-key":
        view, key = actions.run(
            lambda session: api_keys.key_for_user(
                session,
                actor=Actor.operator(),
                username=args.username,
                scope=args.scope,
                expires_days=args.expires,
            )
        )
        print(key)
        expiry = view.expires_at.date().isoformat() if view.expires_at else "never"
        print(
            f"API key {view.prefix} ({view.scope.value}) for {args.username}; expires {expiry}. "
            "It is shown this once.",
            file=sys.stderr,
        )
        return 0
    if args.command == "payouts":
        return _payouts(args)
    if args.command == "export":
        return _export(args)
    if args.command == "tax-filing":
        made = actions.run(
            lambda session: tax_reports.tax_filing_file(
                session, actor=Actor.operator(), year=args.year
            )
        )
        with _replacing(args.out, binary=True, private=True) as sink:
            sink.write(made.content)
        print(
            f"Wrote {fmt.count(made.rows, 'payee')} of {made.year} to {args.out} "
            f"(SHA-256 {made.sha256}). "
            "It holds full taxpayer ids: keep it safe."
        )
        return 0
    if args.command == "generate":
        result = generate.generate(
            get_engine(), partners=args.partners, leads=args.leads, seed=args.seed
        )
        print(
            f"Generated {result.partners:,} partners, {result.leads:,} leads, "
            f"{result.events:,} events, {result.commissions:,} commission lines and "
            f"{result.payouts:,} payouts in {result.seconds:.1f} s."
        )
        print(f"Logins: manager, partner1 … partner{result.partners}; password {result.password}")
        return 0
    raise AssertionError(f"unhandled command {args.command}")


def _verify() -> int:
    problems = actions.run(integrity.verify)
    for problem in problems:
        print(problem)
    print(
        "Statistics match a recomputation from the leads; the ledger, payouts and partner "
        "totals agree."
        if not problems
        else f"{fmt.count(len(problems), 'difference')} found."
    )
    return 1 if problems else 0


def _settings(args: argparse.Namespace) -> int:
    """`settings show|set`: the change is committed before anything is printed."""

    def act(session: Session) -> tuple[config.ProgramRules, int]:
        if args.settings_command == "set":
            program.change(
                session,
                actor=Actor.operator(),
                changes={args.key: program.parse(args.key, args.value)},
                reason=args.reason,
                based_on=program.current_version(session),
            )
        version, rules = program.in_force(session)
        return rules, version

    rules, version = actions.run(act)
    if args.settings_command == "set":
        print(f"{program.LABELS[args.key]} changed; it applies from now on.")
    print(
        f"Version {version} of the program settings."
        if version
        else "The configuration's values (no change saved yet)."
    )
    for key in program.LABELS:
        print(f"  {key} = {program.shown(key, rules)}")
    return 0


def _risk(args: argparse.Namespace) -> int:
    """`risk scan|list`: a scan is committed before anything is printed."""
    if args.risk_command == "scan":
        new = actions.run(lambda session: risk_center.scan(session, actor=Actor.operator()))
        for rule, count in new.items():
            print(f"  {rule.value}: {fmt.count(count, 'new event')}")
        print(f"{fmt.count(sum(new.values()), 'new risk event')} raised.")
        return 0
    found = actions.run(
        lambda session: risk_center.events(
            session, actor=Actor.operator(), status=None if args.all else RiskStatus.OPEN
        )
    )
    for event in found:
        decided = f" — {event.status.value}: {event.decision_reason}" if event.decided_at else ""
        held = " [holds payouts]" if event.holds_payouts else ""
        print(
            f"#{event.id} {event.severity.value:<6} {event.rule.value} · {event.partner_name} "
            f"(#{event.partner_id}) · {event.raised_at:%Y-%m-%d %H:%M}{held}\n"
            f"    {event.evidence}{decided}"
        )
    print(f"{fmt.count(len(found), 'open event' if not args.all else 'event')}.")
    return 0


def _mail(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.smtp_url:
        raise ConfigurationError("PORTAL_SMTP_URL is not set: there is nowhere to deliver to.")
    if args.loop:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with suppress(KeyboardInterrupt):
            mail_sender.run_forever(stop)
        return 0
    report = mail_sender.run_once()
    print(f"Mail: {report}.")
    return 0


@contextmanager
def _replacing(path: str, *, binary: bool = False, private: bool = False) -> Iterator[IO[Any]]:
    """A file written beside `path` and renamed over it at the end: never half-written."""
    partial = f"{path}.partial"
    try:
        descriptor = os.open(
            partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666
        )
        if binary:
            sink: IO[Any] = os.fdopen(descriptor, "wb")
        else:
            sink = os.fdopen(descriptor, "w", encoding="utf-8", newline="")
        with sink:
            yield sink
        os.replace(partial, path)
    except OSError as error:
        raise PortalError(f"cannot write {path}: {error.strerror}") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _export(args: argparse.Namespace) -> int:
    filters = exports.Filters(
        partner_id=args.partner_id,
        status=args.status,
        date_from=args.date_from,
        date_to=args.date_to,
        year=args.year,
    )
    operator = Actor.operator()
    with unit_of_work() as session:
        total = exports.count_rows(session, actor=operator, kind=args.kind, filters=filters)
        show = sys.stderr.isatty()

        def progress(rows: int) -> None:
            if show and rows >= 0:
                done = rows / total if total else 1.0
                bar = "#" * int(done * 40)
                print(f"\r[{bar:<40}] {rows:,}/{total:,} rows", end="", file=sys.stderr)

        if args.out == "-":
            written = exports.write_csv(
                session,
                actor=operator,
                kind=args.kind,
                sink=sys.stdout,
                filters=filters,
                progress=progress,
            )
        else:
            with _replacing(args.out) as sink:
                written = exports.write_csv(
                    session,
                    actor=operator,
                    kind=args.kind,
                    sink=sink,
                    filters=filters,
                    progress=progress,
                )
    if show:
        print(file=sys.stderr)
    if args.out != "-":
        print(f"Wrote {written:,} rows to {args.out}.")
    return 0


def _payouts(args: argparse.Namespace) -> int:
    """A payouts command as one action (`actions.run`)."""
    return actions.run(partial(_payout_action, args))


def _payout_action(args: argparse.Namespace, session: Session) -> int:
    operator = Actor.operator()
    if args.payout_command in ("preview", "run"):
        rates = _batch_rates(args)
        if args.payout_command == "preview":
            plan = payouts.preview(session, actor=operator, cutoff=args.cutoff, rates=rates)
            paid, left_out = plan.paid, plan.left_out
            print(
                f"Batch for {args.cutoff}: {fmt.count(len(paid), 'payout')}, "
                f"{plan.total:,.2f} {plan.currency} in all."
            )
            for item in paid:
                print(
                    f"  pay     {item.company_name} (partner {item.partner_id}): "
                    f"{item.amount:,.2f} in {fmt.count(item.lines, 'line')}"
                )
        else:
            result = payouts.run_batch(
                session,
                actor=operator,
                cutoff=args.cutoff,
                rates=rates,
                confirm_rate_jumps=args.confirm_rate_jumps,
            )
            left_out = result.left_out
            print(f"Scheduled {fmt.count(len(result.scheduled), 'payout')} for {args.cutoff}.")
            for payout in result.scheduled:
                arrives = (
                    f" → {payout.payout_amount:,.2f} {payout.payout_currency} at "
                    f"{payout.exchange_rate.normalize()}"
                    if payout.payout_currency != payout.currency
                    else ""
                )
                print(
                    f"  #{payout.id} {payout.company_name}: {payout.amount:,.2f} "
                    f"{payout.currency}{arrives}"
                )
        for item in left_out:
            print(
                f"  skip    {item.company_name} (partner {item.partner_id}): "
                f"{item.amount:,.2f} — {'; '.join(item.reasons)}"
            )
        return 0
    if args.payout_command == "file":
        return _payout_file(session, args)
    if args.payout_command == "positive-pay":
        return _write_file(
            payout_files.positive_pay_file(session, actor=operator, file_id=args.file_id),
            args.out,
        )
    if args.payout_command == "void-file":
        record = payout_files.void_payout_file(
            session, actor=operator, file_id=args.file_id, reason=args.reason
        )
        print(
            f"Payout file #{record.id} ({record.file_format}, batch {record.cutoff}) is void; "
            "its unpaid payouts can go in a new file."
        )
        return 0
    if args.payout_command == "settle":
        if args.file == "-":
            content = sys.stdin.buffer.read()
        else:
            try:
                with open(args.file, "rb") as source:
                    content = source.read(payouts.MAX_STATEMENT_BYTES + 1)
            except OSError as error:
                raise PortalError(f"cannot read {args.file}: {error.strerror}") from None
        settled = payouts.settle_statement(session, actor=operator, content=content)
        for view in settled:
            print(
                f"  #{view.id} {view.company_name}: {view.amount:,.2f} {view.currency} "
                f"paid, reference {view.reference}"
            )
        print(f"Recorded {fmt.count(len(settled), 'payout')} as paid.")
        return 0
    if args.payout_command == "mark-returned":
        view = payouts.mark_returned(
            session,
            actor=operator,
            payout_id=args.payout_id,
            reason_code=args.reason_code,
            note=args.note,
        )
    elif args.payout_command == "reapprove":
        view = payouts.reapprove(session, actor=operator, payout_id=args.payout_id)
    elif args.payout_command == "mark-paid":
        view = payouts.mark_paid(
            session,
            actor=operator,
            payout_id=args.payout_id,
            reference=args.reference,
            paid_on=args.paid_date,
        )
    else:
        status = "failed" if args.payout_command == "mark-failed" else "canceled"
        view = payouts.close_unpaid(
            session, actor=operator, payout_id=args.payout_id, status=status, reason=args.reason
        )
    print(
        f"Payout #{view.id} ({view.company_name}, {view.amount:,.2f} {view.currency}) is "
        f"now {view.status.value}."
    )
    return 0


def _payout_file(session: Session, args: argparse.Namespace) -> int:
    result = payout_files.build_payout_file(
        session,
        actor=Actor.operator(),
        cutoff=args.cutoff,
        file_format=args.format,
        currency=args.currency,
    )
    return _write_file(result, args.out)


def _typed_rate(text: str) -> tuple[str, Decimal]:
    code, _, rate = text.partition("=")
    errors = FieldErrors()
    value = currencies.clean_rate(errors, "rate", rate, label=f"The rate of {code or '?'}")
    if not re.fullmatch(r"[A-Za-z]{3}", code) or value is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a currency code and a positive rate, such as EUR=0.9234"
        )
    return code.upper(), value


def _batch_rates(args: argparse.Namespace) -> dict[str, currencies.Quote]:
    """The batch's rates: a rates file's, then each typed one (dated today)."""
    today = utc_now().date()
    rates: dict[str, currencies.Quote] = {}
    if args.rates:
        try:
            with open(args.rates, "rb") as source:
                content = source.read(currencies.MAX_RATES_BYTES + 1)
        except OSError as error:
            raise PortalError(f"cannot read {args.rates}: {error.strerror}") from None
        rates |= currencies.read_rates(content, today=today)
    for code, rate in args.rate:
        rates[code] = currencies.Quote(rate, today, "typed on the command line")
    return rates


def _write_file(result: payout_files.PayoutFileResult, out: str) -> int:
    if out == "-":
        sys.stdout.buffer.write(result.content)
        sys.stdout.flush()
    else:
        # It holds full account numbers: readable by its owner only.
        with _replacing(out, binary=True, private=True) as sink:
            sink.write(result.content)
        print(
            f"Wrote {fmt.count(result.payouts, 'payout')}, {result.total:,.2f} "
            f"{result.currency}, to "
            f"{out} (SHA-256 {result.sha256}). It holds full account numbers: keep it safe."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
