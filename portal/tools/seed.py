"""Demo data: a believable program of about 40 partners and 3,000 leads over 18 months.

Rows are inserted in bulk with historical timestamps (the services stamp "now"), then the
statistics are rebuilt from the leads, so `verify` holds afterwards. Demo passwords are
random, made at seeding time and written to data/demo-logins.txt, never kept in code.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from schwifty import IBAN
from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from portal.accounts.users import hash_password
from portal.core import audit, program
from portal.core.access import Actor, load_actor
from portal.core.config import ProgramRules, get_settings, write_private
from portal.core.crypto import encrypt, encrypt_bytes, last4
from portal.core.models import (
    BankAccountType,
    Commission,
    CommissionKind,
    CommissionStatus,
    Lead,
    LeadEvent,
    LeadEventKind,
    LeadStatus,
    LostReason,
    Notification,
    Partner,
    PartnerProfile,
    PartnerStatus,
    PayeeType,
    PaymentMethod,
    Payout,
    PayoutStatus,
    Role,
    TaxDocumentStatus,
    TaxForm,
    TaxFormDocument,
    TaxIdType,
    User,
)
from portal.core.types import to_cents, utc_now
from portal.leads import leads as leads_service
from portal.messaging import announcements, conversations
from portal.money import currencies, payouts, tax_forms
from portal.money.commissions import next_payout_date
from portal.money.currencies import Quote
from portal.partners import groups, resources
from portal.reporting import integrity, statistics
from portal.risk import center as risk_center

# Every payout method, so a fresh demo can produce every payout file.
DEMO_METHODS = (
    PaymentMethod.BANK_TRANSFER,
    PaymentMethod.PAYPAL,
    PaymentMethod.BANK_TRANSFER,
    PaymentMethod.WISE,
    PaymentMethod.CHECK,
)
DEMO_GERMAN_BANKS = ("37040044", "10070000", "50010517", "20041111")
DEMO_ROUTING_NUMBERS = ("011000015", "021000021", "026009593", "121000358")
DEMO_BRITISH_BANKS = ("NWBK601613", "BARC200000")


def demo_tax_form_pdf(company: str, form: TaxForm) -> bytes:
    """A one-page PDF standing in for a signed form (demo data only)."""
    return demo_pdf(f"Demo {form.value} for {company}")


def demo_pdf(title: str) -> bytes:
    """A one-page PDF with one line of text (demo data only)."""
    text = title.encode("latin-1", "replace")
    text = text.replace(b"\\", b"").replace(b"(", b"").replace(b")", b"")
    stream = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


LEAD_COUNT = 3000
MONTHS = 18
COMPANY_WORDS = (
    "Northwind",
    "Brightpath",
    "Bluepeak",
    "Cedar",
    "Harbor",
    "Summit",
    "Ironwood",
    "Silverline",
    "Oakridge",
    "Redfern",
    "Keystone",
    "Lumen",
    "Meridian",
    "Pinecrest",
    "Granite",
    "Foxglove",
    "Tidewater",
    "Clearview",
    "Amberly",
    "Wildrose",
    "Stonebridge",
    "Evergreen",
    "Highland",
    "Riverbend",
    "Sunstone",
    "Copperleaf",
    "Bayside",
    "Larkspur",
    "Westgate",
    "Driftwood",
    "Falcon",
    "Juniper",
    "Marigold",
    "Orchard",
    "Quarry",
    "Sable",
    "Thistle",
    "Vantage",
    "Willow",
    "Zephyr",
)
COMPANY_KINDS = ("Digital", "Consulting", "Partners", "Agency", "Media", "Solutions", "Labs")
FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Wes",
    "Xin",
    "Yara",
    "Zoe",
    "Liam",
    "Maya",
    "Noah",
    "Iris",
)
LAST_NAMES = (
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Haddad",
    "Novak",
    "Silva",
    "Brennan",
    "Kowalski",
    "Reyes",
    "Nakamura",
    "Osei",
    "Petrov",
    "Larsen",
    "Costa",
    "Mehta",
    "Fischer",
    "Duarte",
    "Hughes",
    "Ito",
)
CLIENT_KINDS = (
    "Bakery",
    "Dental",
    "Law",
    "Fitness",
    "Realty",
    "Florist",
    "Garage",
    "Studio",
    "Clinic",
    "Brewery",
    "Hotel",
    "Logistics",
    "Salon",
    "Cafe",
    "Builders",
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    note: str


def logins_file() -> Path:
    """Where the demo logins are written for `make run` to print."""
    return get_settings().data_dir / "demo-logins.txt"


def has_data(session: Session) -> bool:
    """Whether the database already holds a program (seeding then does nothing)."""
    return (session.scalar(select(func.count()).select_from(Partner)) or 0) > 0


def _password() -> str:
    return "-".join(secrets.token_urlsafe(4) for _ in range(4))


def _targets(rng: random.Random) -> list[tuple[PartnerStatus, int, int]]:
    """(status, leads weight, conversion share in %) per partner, spanning every tier."""
    plan = [
        (PartnerStatus.ACTIVE, 300, 30),
        (PartnerStatus.ACTIVE, 220, 28),
        (PartnerStatus.ACTIVE, 160, 26),
        (PartnerStatus.ACTIVE, 120, 24),
    ]
    plan += [(PartnerStatus.ACTIVE, rng.randint(40, 110), rng.randint(12, 25)) for _ in range(24)]
    plan += [(PartnerStatus.ACTIVE, rng.randint(5, 12), 10) for _ in range(4)]
    plan += [(PartnerStatus.SUSPENDED, rng.randint(20, 60), 15) for _ in range(4)]
    plan += [(PartnerStatus.PENDING, 0, 0) for _ in range(4)]
    return plan


def seed_demo(session: Session, *, rng_seed: int = 2026) -> list[DemoLogin]:
    """Fill an empty database with the demo program; returns the demo logins."""
    rng = random.Random(rng_seed)
    now = utc_now()
    start = now - timedelta(days=30 * MONTHS)
    settings = get_settings()
    rules = program.current(session)
    logins: list[DemoLogin] = []

    def add_login(username: str, role: Role, partner: Partner | None, note: str) -> User:
        password = _password()
        user = User(
            username=username,
            display_name=note.split(" — ")[0],
            email=f"{username}@{_domain(partner) if partner else 'portal.example'}",
            password_hash=hash_password(password),
            role=role,
            partner_id=partner.id if partner else None,
            created_at=start,
        )
        session.add(user)
        logins.append(DemoLogin(username, password, role.value, note))
        return user

    add_login("manager", Role.MANAGER, None, "Morgan Manager — program manager")

    names = rng.sample(COMPANY_WORDS, len(COMPANY_WORDS))
    partners: list[tuple[Partner, int, int]] = []
    for index, (status, weight, share) in enumerate(_targets(rng)):
        company = f"{names[index % len(names)]} {rng.choice(COMPANY_KINDS)}"
        slug = company.lower().replace(" ", "")
        joined = start + timedelta(days=rng.randint(0, 60) if weight else rng.randint(500, 530))
        partner = Partner(
            company_name=company,
            email=f"hello@{slug}.example",
            status=status,
            created_at=joined,
            updated_at=joined,
            approved_at=None if status is PartnerStatus.PENDING else joined,
        )
        if index == 5:
            partner.commission_rate = Decimal("0.1800")  # a negotiated, pinned rate
        session.add(partner)
        partners.append((partner, weight, share))
    session.flush()

    main_partner = partners[3][0]
    add_login("partner", Role.PARTNER, main_partner, f"Pat Partner — {main_partner.company_name}")
    add_login(
        "partner2", Role.PARTNER, main_partner, f"Casey Colleague — {main_partner.company_name}"
    )
    add_login(
        "platinum", Role.PARTNER, partners[0][0], f"Plato Top — {partners[0][0].company_name}"
    )
    pending = next(p for p, _, _ in partners if p.status is PartnerStatus.PENDING)
    add_login("applicant", Role.PARTNER, pending, f"Avery Applicant — {pending.company_name}")
    suspended = next(p for p, _, _ in partners if p.status is PartnerStatus.SUSPENDED)
    add_login("suspended", Role.PARTNER, suspended, f"Sasha Suspended — {suspended.company_name}")
    session.flush()

    for number, (partner, _, _) in enumerate(partners):
        if number % 6 == 5:  # as in a real program, some never finish their profile
            session.add(
                PartnerProfile(
                    partner_id=partner.id,
                    contact_email=partner.email,
                    created_at=partner.created_at,
                    updated_at=partner.created_at,
                )
            )
            continue
        method = DEMO_METHODS[number % len(DEMO_METHODS)]
        european = method is PaymentMethod.BANK_TRANSFER and number % 2 == 0
        # Some of them British: paid in GBP by a cross-border transfer; the rest in EUR by SEPA.
        british = european and number % 4 == 0
        if british:
            account_code = f"{rng.randint(10**7, 10**8 - 1)}"
            iban = IBAN.generate(
                "GB", bank_code=rng.choice(DEMO_BRITISH_BANKS), account_code=account_code
            )
            account, code, scheme = (
                iban.compact,
                str(iban.bic.compact) if iban.bic else None,
                "iban",
            )
        elif european:  # a eurozone company paid by SEPA transfer to its IBAN
            bank_code = rng.choice(DEMO_GERMAN_BANKS)
            account_code = f"{rng.randint(10**8, 10**10 - 1):010d}"
            iban = IBAN.generate("DE", bank_code=bank_code, account_code=account_code)
            account, code, scheme = (
                iban.compact,
                str(iban.bic.compact) if iban.bic else None,
                "iban",
            )
        else:  # a US account with a real routing number (ACH), kept on file for any method
            account, code, scheme = (
                f"{rng.randint(10**9, 10**10 - 1)}",
                rng.choice(DEMO_ROUTING_NUMBERS),
                "us",
            )
        tax_id = f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}"
        form = TaxForm.W8BENE if european else TaxForm.W9
        has_tax_form = number % 7 != 5
        signed = partner.created_at
        expires = tax_forms.expiry_of(form, signed.date()) if has_tax_form else None
        session.add(
            PartnerProfile(
                partner_id=partner.id,
                payment_email=partner.email,
                payment_method=method,
                bank_account_encrypted=encrypt(account),
                bank_account_last4=last4(account),
                bank_scheme=scheme,
                bank_code=code,
                # US accounts: mostly business checking, a few savings and sole traders (PPD).
                bank_account_type=None
                if european
                else (BankAccountType.SAVINGS if number % 5 == 1 else BankAccountType.CHECKING),
                payee_type=PayeeType.INDIVIDUAL if number % 4 == 1 else PayeeType.BUSINESS,
                tax_id_encrypted=encrypt(tax_id),
                tax_id_type=TaxIdType.FOREIGN if european else TaxIdType.EIN,
                tax_id_last4=last4(tax_id),
                tax_form=form if has_tax_form else None,
                tax_form_received_at=signed if has_tax_form else None,
                tax_form_expires_on=expires,
                tax_form_pending=number % 11 == 3,
                contact_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                contact_email=partner.email,
                website=f"https://{_domain(partner)}",
                address=f"{rng.randint(1, 999)} {rng.choice(LAST_NAMES)} "
                + ("Straße" if european and not british else "Street"),
                city=rng.choice(["London", "Leeds", "Bristol"])
                if british
                else rng.choice(["Berlin", "Hamburg", "Munich"])
                if european
                else rng.choice(["Austin", "Denver", "Portland", "Raleigh", "Madison"]),
                state=None if european else rng.choice(["TX", "CO", "OR", "NC", "WI"]),
                zip=f"{rng.randint(10000, 99999)}",
                country="GB" if british else "DE" if european else "US",
                created_at=partner.created_at,
                updated_at=partner.created_at,
            )
        )
        uploads = [(form, TaxDocumentStatus.VERIFIED, signed)] if has_tax_form else []
        if number % 11 == 3:  # a fresh upload waiting in the managers' review queue
            uploads.append((form, TaxDocumentStatus.SUBMITTED, now - timedelta(days=2)))
        for kind, state, at in uploads:
            pdf = demo_tax_form_pdf(partner.company_name, kind)
            session.add(
                TaxFormDocument(
                    partner_id=partner.id,
                    form=kind,
                    file_name=f"{kind.value.lower()}-{partner.id}.pdf",
                    size_bytes=len(pdf),
                    sha256=hashlib.sha256(pdf).hexdigest(),
                    content_encrypted=encrypt_bytes(pdf),
                    status=state,
                    rejection_reason="",
                    submitted_at=at,
                    reviewed_at=at if state is TaxDocumentStatus.VERIFIED else None,
                    expires_on=expires if state is TaxDocumentStatus.VERIFIED else None,
                )
            )

    total_weight = sum(weight for _, weight, _ in partners)
    leads: list[Lead] = []
    history: list[list[tuple[datetime, LeadStatus | None, LeadStatus, str]]] = []
    client_number = 0
    for partner, weight, share in partners:
        for _ in range(round(LEAD_COUNT * weight / total_weight)):
            client_number += 1
            created = partner.created_at + timedelta(
                seconds=rng.randint(0, int((now - partner.created_at).total_seconds()) - 3600)
            )
            lead, steps = _demo_lead(rng, rules, partner, created, now, share, client_number)
            leads.append(lead)
            history.append(steps)
    # What the risk center should find (a case for each rule), drawn from a generator of its
    # own so that the rest of the demo program stays as it was.
    risky = random.Random(rng_seed + 1)
    burst_partner, _, burst_share = partners[BURST_CASE]
    hour = (now - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    for minute in range(rules.risk_burst_per_hour + 4):
        client_number += 1
        lead, steps = _demo_lead(
            risky,
            rules,
            burst_partner,
            hour + timedelta(minutes=2 * minute),
            now,
            burst_share,
            client_number,
        )
        leads.append(lead)
        history.append(steps)
    throwaway = next(
        lead
        for lead in leads
        if lead.partner_id == partners[THROWAWAY_CLIENT_CASE][0].id
        and lead.status is not LeadStatus.CONVERTED
    )
    throwaway.client_email = f"{throwaway.client_name.split()[0].lower()}@mailinator.com"
    throwaway.client_email_key = throwaway.client_email.casefold()
    _rates_by_the_rules(
        leads, {partner.id: partner for partner, _, _ in partners}, program.timeline(session)
    )
    session.add_all(leads)
    session.flush()

    manager_id = session.scalar(select(User.id).where(User.username == "manager"))
    partner_users = {
        partner_id: user_id
        for user_id, partner_id in session.execute(
            select(User.id, User.partner_id).where(User.role == Role.PARTNER)
        )
    }
    events = []
    for lead, steps in zip(leads, history, strict=True):
        for at, from_status, to_status, note in steps:
            by_manager = to_status in (LeadStatus.CONVERTED,) or from_status is LeadStatus.LOST
            events.append(
                {
                    "lead_id": lead.id,
                    "actor_user_id": manager_id
                    if by_manager
                    else partner_users.get(lead.partner_id),
                    "kind": LeadEventKind.REGISTERED
                    if from_status is None
                    else LeadEventKind.STATUS_CHANGED,
                    "from_status": from_status,
                    "to_status": to_status,
                    "note": note,
                    "created_at": at,
                }
            )
    session.execute(insert(LeadEvent), events)

    main_user_ids = session.scalars(select(User.id).where(User.partner_id == main_partner.id))
    recent = sorted(
        (lead for lead in leads if lead.partner_id == main_partner.id),
        key=lambda lead: lead.updated_at,
    )[-6:]
    for user_id in main_user_ids:
        for lead in recent:
            session.add(
                Notification(
                    user_id=user_id,
                    lead_id=lead.id,
                    kind="lead_status",
                    created_at=lead.updated_at,
                    message=f"Lead “{lead.client_name}” is now {lead.status.value}.",
                    read_at=None if lead is recent[-1] or lead is recent[-2] else lead.updated_at,
                )
            )
    session.flush()
    hold = timedelta(days=rules.hold_days)
    session.execute(
        insert(Commission),
        [
            {
                "partner_id": lead.partner_id,
                "lead_id": lead.id,
                "kind": CommissionKind.COMMISSION,
                "amount": lead.commission,
                "deal_value": lead.deal_value,
                "rate": lead.commission_rate,
                "earned_at": lead.converted_at,
                "hold_until": lead.converted_at + hold,
                "status": CommissionStatus.OPEN,
                "created_at": lead.converted_at,
            }
            for lead in leads
            if lead.status is LeadStatus.CONVERTED and lead.converted_at is not None
        ],
    )
    integrity.rebuild_statistics(session)
    _payout_history(session, rng, rules, start, now, leads)
    _risk_cases(session, [partner for partner, _, _ in partners])
    rules = program.change(
        session,
        actor=Actor.operator(),
        changes={"risk_holds": ["shared_payout_method"]},
        reason="Payouts to details another partner also uses wait for a review.",
        based_on=program.current_version(session),
    )
    risk_center.record(session, risk_center.findings(session, rules))
    _conversation(session, main_partner, recent[-1])
    resellers = groups.save_group(
        session,
        actor=Actor.operator(),
        name="Resellers",
        description="Small resellers: paid from a lower balance, after a shorter hold.",
        hold_days="14",
        min_payout="25",
    )
    groups.move_partners(
        session,
        actor=Actor.operator(),
        partner_ids=[partners[index][0].id for index in RESELLERS],
        group_id=resellers.id,
    )
    assert resellers.id is not None  # a saved group
    resources.add_resource(
        session,
        actor=Actor.operator(),
        title="Brand kit",
        description="Logos, colours and the product one-pager.",
        url="https://example.com/brand-kit",
    )
    resources.add_resource(
        session,
        actor=Actor.operator(),
        title="Resellers' pitch deck",
        description="The deck for reselling the services, with the reseller price list.",
        file_name="resellers-pitch-deck.pdf",
        content=demo_pdf("Resellers' pitch deck (demo)"),
        audience=[resellers.id],
    )
    announcements.publish(
        session,
        actor=Actor.operator(),
        title="Payouts over the holidays",
        body="December's payouts run on the 15th as usual. Commissions that finish their hold "
        "by the 31st go out on January 15th.",
    )
    audit.record(
        session,
        actor_user_id=None,
        actor_label="operator",
        action="seed.demo",
        object_type="program",
        after={"partners": len(partners), "leads": len(leads), "currency": settings.currency},
    )
    return logins


# Rates of the program currency (demo figures near those of late 2026), moved a little
# each month as real rates are.
DEMO_RATES_FROM_USD = {"EUR": Decimal("0.9217"), "GBP": Decimal("0.7882"), "USD": Decimal("1")}


def _demo_rates(rng: random.Random, payday: date, rules: ProgramRules) -> dict[str, Quote]:
    """A batch's rates for every enabled payout currency, from the program currency."""
    program = get_settings().currency
    base = DEMO_RATES_FROM_USD.get(program)
    quotes = {}
    for code in currencies.enabled(rules):
        if code == program or base is None or code not in DEMO_RATES_FROM_USD:
            continue
        rate = DEMO_RATES_FROM_USD[code] / base * Decimal(1 + rng.uniform(-0.015, 0.015))
        quotes[code] = Quote(
            rate.quantize(currencies.RATE_QUANTUM), payday - timedelta(days=1), "demo rate"
        )
    return quotes


def _payout_history(
    session: Session,
    rng: random.Random,
    rules: ProgramRules,
    start: datetime,
    now: datetime,
    leads: list[Lead],
) -> None:
    """Run the monthly payout batches of the past 18 months through the real services. The
    latest batch is left scheduled, as on a morning before finance pays it, so the demo can
    make every payout file and settle it from the Payouts page."""
    operator = Actor.operator()
    payday = next_payout_date(start.date(), rules)
    while payday < now.date():
        latest = next_payout_date(payday + timedelta(days=1), rules) >= now.date()
        batch = payouts.run_batch(
            session, actor=operator, cutoff=payday, rates=_demo_rates(rng, payday, rules)
        )
        for payout in batch.scheduled:
            scheduled_at = datetime.combine(payday, datetime.min.time(), UTC) + timedelta(hours=9)
            if latest:
                session.execute(
                    update(Payout).where(Payout.id == payout.id).values(created_at=scheduled_at)
                )
                continue
            if rng.random() < 0.04:
                payouts.close_unpaid(
                    session,
                    actor=operator,
                    payout_id=payout.id,
                    status=PayoutStatus.FAILED,
                    reason="Bank rejected the transfer.",
                )
            else:
                payouts.mark_paid(
                    session,
                    actor=operator,
                    payout_id=payout.id,
                    reference=f"TRF-{payday:%Y%m}-{payout.id:05d}",
                )
            settled_at = scheduled_at + timedelta(days=1)
            session.execute(
                update(Payout)
                .where(Payout.id == payout.id)
                .values(
                    created_at=scheduled_at,
                    closed_at=settled_at,
                    paid_at=case((Payout.status == PayoutStatus.PAID, settled_at), else_=None),
                )
            )
        payday = next_payout_date(payday + timedelta(days=1), rules)
    # Historic batches notified every partner user; those messages are long read.
    session.execute(
        update(Notification)
        .where(Notification.read_at.is_(None), Notification.kind.like("payout%"))
        .values(read_at=now)
    )
    # A few conversions reversed: two after payment (clawbacks), one before (void).
    paid_ids = session.scalars(
        select(Commission.lead_id)
        .where(Commission.status == CommissionStatus.PAID)
        .order_by(Commission.id)
        .limit(40)
    ).all()
    open_ids = session.scalars(
        select(Commission.lead_id)
        .where(Commission.status == CommissionStatus.OPEN)
        .order_by(Commission.id)
        .limit(40)
    ).all()
    for lead_id in [*rng.sample(paid_ids, min(2, len(paid_ids))), *open_ids[:1]]:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        leads_service.change_lead_status(
            session,
            actor=operator,
            lead_id=lead_id,
            to=LeadStatus.QUALIFIED,
            expected_version=lead.version,
            note="Client cancelled within the refund window.",
        )


# Which demo partners (by their place in `_targets`) the risk center's demo cases concern;
# self-referrals come with the leads (`_demo_lead`).
SHARED_ACCOUNT_CASE = (12, 13)
BURST_CASE = 10
THROWAWAY_CLIENT_CASE = 11
OTHER_WEBSITE_CASE = 14
ONE_ADDRESS_CASE = (36, 37, 38)
# The small active partners: the demo's "Resellers" group.
RESELLERS = (28, 29, 30, 31)


def _risk_cases(session: Session, partners: list[Partner]) -> None:
    """Profiles and applications the risk rules find something in: payout details on file
    for two partners, a website at another domain than the partner's e-mail, three
    applications from one network address."""
    session.flush()
    first, second = (partners[index] for index in SHARED_ACCOUNT_CASE)
    source = session.scalar(select(PartnerProfile).where(PartnerProfile.partner_id == second.id))
    copy = session.scalar(select(PartnerProfile).where(PartnerProfile.partner_id == first.id))
    assert source is not None and copy is not None
    for name in (
        "payment_method",
        "payment_email",
        "bank_account_encrypted",
        "bank_account_last4",
        "bank_scheme",
        "bank_code",
        "bank_account_type",
    ):
        setattr(copy, name, getattr(source, name))
    odd = partners[OTHER_WEBSITE_CASE]
    session.execute(
        update(PartnerProfile)
        .where(PartnerProfile.partner_id == odd.id)
        .values(website="https://quickgrowth-deals.example")
    )
    for index in ONE_ADDRESS_CASE:
        partners[index].applied_from = "203.0.113.24"
    session.flush()


def _conversation(session: Session, partner: Partner, lead: Lead) -> None:
    """The main partner asks about one of its leads and the manager answers; a general
    question of the partner waits for an answer."""
    asker = load_actor(
        session, user_id=session.scalars(select(User.id).where(User.username == "partner")).one()
    )
    manager = load_actor(
        session, user_id=session.scalars(select(User.id).where(User.username == "manager")).one()
    )
    conversations.post(
        session,
        actor=asker,
        body=f"Hi! {lead.client_name} told us they spoke to your team last week. Is there "
        "anything you need from us to move this forward?",
        lead_id=lead.id,
    )
    conversations.post(
        session,
        actor=manager,
        body="Thanks for checking in. They asked for a second quote; we expect to hear back "
        "by Friday and will update the lead then.",
        lead_id=lead.id,
    )
    conversations.post(
        session,
        actor=asker,
        body="Could our payouts go to our new PayPal account from next month? We will update "
        "the profile once you confirm.",
    )


def _domain(partner: Partner | None) -> str:
    return partner.email.partition("@")[2] if partner else "portal.example"


def _rates_by_the_rules(
    leads: list[Lead], partners: dict[int, Partner], rules: program.Timeline
) -> None:
    """Give each converted lead the rate its conversion earned by the program's rule
    (`statistics.rates_at_conversion`), and the commission that rate makes."""
    converted: dict[int, list[Lead]] = {}
    for lead in leads:
        if lead.status is LeadStatus.CONVERTED and lead.converted_at is not None:
            converted.setdefault(lead.partner_id, []).append(lead)
    for partner_id, own in converted.items():
        rates = statistics.rates_at_conversion(
            [
                statistics.Conversion(index, lead.converted_at)
                for index, lead in enumerate(own)
                if lead.converted_at is not None
            ],
            rules,
            pinned=partners[partner_id].commission_rate,
        )
        for index, lead in enumerate(own):
            assert lead.deal_value is not None
            lead.commission_rate = rates[index]
            lead.commission = to_cents(lead.deal_value * rates[index])


def _demo_lead(
    rng: random.Random,
    rules: ProgramRules,
    partner: Partner,
    created: datetime,
    now: datetime,
    share: int,
    number: int,
) -> tuple[Lead, list[tuple[datetime, LeadStatus | None, LeadStatus, str]]]:
    """One lead and the steps of its history, ending in a status fitting its age."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    business = f"{last} {rng.choice(CLIENT_KINDS)}"
    domain = business.lower().replace(" ", "") + ".example"
    if rng.random() < 0.01:
        domain = _domain(partner)  # a partner referring itself: flagged for managers
    age_days = (now - created).days
    steps: list[tuple[datetime, LeadStatus | None, LeadStatus, str]] = [
        (created, None, LeadStatus.PENDING, "")
    ]
    path = [LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.CONVERTED]
    if age_days < 2:
        depth = 0
    elif age_days < 20:
        depth = rng.choice([0, 1, 1, 2])
    else:
        depth = 3 if rng.randint(1, 100) <= share * 2 else rng.choice([1, 2, -1, -1, -1])
    moment = created
    status = LeadStatus.PENDING
    lead = Lead(
        partner_id=partner.id,
        client_name=f"{first} {last}",
        client_email=f"{first.lower()}.{number}@{domain}",
        client_phone=f"+1415555{number % 10000:04d}" if number % 3 == 0 else None,
        company=business,
        service=rng.choice(rules.services),
        notes=rng.choice(
            [
                "",
                "Met at a local meetup.",
                "Wants a quote before Q2.",
                "Referred by an existing customer.",
            ]
        ),
        created_at=created,
        self_referral=domain == _domain(partner),
        claim_expires_at=created + timedelta(days=rules.claim_days),
        version=1,
    )
    lead.client_email_key = lead.client_email.casefold()
    if depth == -1:
        steps_to_lost = rng.randint(0, 2)
        for next_status in path[:steps_to_lost]:
            moment = _later(rng, moment, now)
            steps.append((moment, status, next_status, ""))
            _stamp(lead, next_status, moment)
            status = next_status
        moment = _later(rng, moment, now)
        lead.lost_reason = rng.choice(list(LostReason))
        lead.lost_note = {
            LostReason.NO_RESPONSE: "No reply after three follow-ups.",
            LostReason.NOT_INTERESTED: "Chose to wait a year.",
            LostReason.BAD_FIT: "Budget too small for the service.",
            LostReason.DUPLICATE: "Already a customer.",
            LostReason.OTHER: "Went with an in-house team.",
        }[lead.lost_reason]
        lead.lost_at = moment
        steps.append((moment, status, LeadStatus.LOST, lead.lost_note))
        status = LeadStatus.LOST
    else:
        for next_status in path[:depth]:
            moment = _later(rng, moment, now)
            steps.append((moment, status, next_status, ""))
            _stamp(lead, next_status, moment)
            status = next_status
    if status is LeadStatus.CONVERTED:  # its rate and commission: `_rates_by_the_rules`
        lead.deal_value = Decimal(rng.randrange(1500_00, 60000_00, 50)) / 100
    lead.status = status
    lead.updated_at = moment
    return lead, steps


def _later(rng: random.Random, moment: datetime, now: datetime) -> datetime:
    return min(moment + timedelta(hours=rng.randint(6, 24 * 12)), now - timedelta(minutes=5))


def _stamp(lead: Lead, status: LeadStatus, moment: datetime) -> None:
    if status is LeadStatus.CONTACTED:
        lead.contacted_at = moment
    elif status is LeadStatus.QUALIFIED:
        lead.qualified_at = moment
    elif status is LeadStatus.CONVERTED:
        lead.converted_at = moment


def write_logins(logins: list[DemoLogin]) -> Path:
    """Save the demo logins (git-ignored, readable by the owner only)."""
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Demo logins (made at seeding; delete data/ to start over):"]
    lines += [f"  {login.username:<10} {login.password:<24} {login.note}" for login in logins]
    write_private(path, "\n".join(lines) + "\n")
    return path
