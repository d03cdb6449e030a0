"""The risk center's rules: each looks at the program's data (all of it, or what concerns some
partners or some new leads) and returns what it found, as `Finding`s for `center.record`.

A rule never decides anything: it says what a manager should look at and why, in words with
no secret in them (an account shows its last four characters only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from disposable_email_domains import blocklist
from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from portal.core.config import RISK_RULES
from portal.core.crypto import decrypt, masked
from portal.core.models import (
    Lead,
    Partner,
    PartnerProfile,
    PaymentMethod,
    RiskRule,
    RiskSeverity,
    User,
)
from portal.core.validation import email_domain

assert set(RISK_RULES) == {rule.value for rule in RiskRule}

# Three sign-ups from one network address is more than a shared office explains.
APPLICATIONS_PER_ADDRESS = 3
SUBJECT_LENGTH = 120

# What each rule is, in the words the risk center and the settings page use.
DESCRIPTIONS = {
    RiskRule.SHARED_PAYOUT_METHOD: "A payout account or payment e-mail shared by partners",
    RiskRule.SELF_REFERRAL: "A client whose e-mail address or domain is the partner's own",
    RiskRule.DISPOSABLE_CLIENT_EMAIL: "A client at a disposable e-mail domain",
    RiskRule.REGISTRATION_BURST: "Many referrals registered by one partner within an hour",
    RiskRule.WEBSITE_DOMAIN_MISMATCH: "A partner whose e-mail domain is not its website's",
    RiskRule.APPLICATIONS_FROM_ONE_ADDRESS: "Several applications from one network address",
}


@dataclass(frozen=True)
class Finding:
    """One thing a rule found about one partner. `subject` tells it apart from the rule's
    other findings about that partner (the lead, the hour, the shared account)."""

    partner_id: int
    rule: RiskRule
    severity: RiskSeverity
    subject: str
    evidence: str
    lead_id: int | None = None


def _name(company: str, partner_id: int) -> str:
    return f"{company} (#{partner_id})"


# --- payout methods -----------------------------------------------------------------------


def shared_payout_methods(
    session: Session, partner_ids: Collection[int] | None = None
) -> list[Finding]:
    """Partners paid into the same bank account, or to the same PayPal or Wise e-mail: one
    person behind several partner accounts, or details copied by mistake. With
    `partner_ids`, only what those partners share (with anyone): every holder is told."""
    columns = (
        PartnerProfile.partner_id,
        Partner.company_name,
        PartnerProfile.payment_method,
        PartnerProfile.payment_email,
        PartnerProfile.bank_scheme,
        PartnerProfile.bank_code,
        PartnerProfile.bank_account_last4,
        PartnerProfile.bank_account_encrypted,
    )
    query = (
        select(*columns)
        .join(Partner, Partner.id == PartnerProfile.partner_id)
        .where(PartnerProfile.payment_method.is_not(None))
    )
    if partner_ids is not None:
        # The plain columns narrow the candidates; only they are decrypted and compared.
        mine = session.execute(query.where(PartnerProfile.partner_id.in_(partner_ids))).all()
        emails = {row.payment_email.casefold() for row in mine if row.payment_email}
        banks = {
            (row.bank_scheme, row.bank_code or "", row.bank_account_last4)
            for row in mine
            if row.bank_account_encrypted
        }
        candidates = []
        if emails:
            candidates.append(func.lower(PartnerProfile.payment_email).in_(emails))
        if banks:
            candidates.append(
                tuple_(
                    PartnerProfile.bank_scheme,
                    func.coalesce(PartnerProfile.bank_code, ""),
                    PartnerProfile.bank_account_last4,
                ).in_(banks)
            )
        if not candidates:
            return []
        query = query.where(or_(*candidates))
    holders: dict[tuple[str, ...], list[tuple[int, str]]] = defaultdict(list)
    shown: dict[tuple[str, ...], str] = {}
    for row in session.execute(query):
        identity: tuple[str, ...]
        if row.payment_method is PaymentMethod.BANK_TRANSFER and row.bank_account_encrypted:
            account = "".join(decrypt(row.bank_account_encrypted).split()).upper()
            identity = ("bank", row.bank_scheme or "", row.bank_code or "", account)
            shown[identity] = f"bank account {masked(row.bank_account_last4)}"
        elif row.payment_method in (PaymentMethod.PAYPAL, PaymentMethod.WISE) and (
            row.payment_email
        ):
            identity = ("email", row.payment_email.casefold())
            shown[identity] = f"payment e-mail {row.payment_email}"
        else:
            continue
        holders[identity].append((row.partner_id, row.company_name))
    findings = []
    for identity, partners in holders.items():
        if len(partners) < 2:
            continue
        for partner_id, _ in partners:
            others = sorted(other for other in partners if other[0] != partner_id)
            findings.append(
                Finding(
                    partner_id,
                    RiskRule.SHARED_PAYOUT_METHOD,
                    RiskSeverity.HIGH,
                    ("payout shared with " + ", ".join(f"#{o}" for o, _ in others))[
                        :SUBJECT_LENGTH
                    ],
                    f"The same {shown[identity]} is on file for "
                    + ", ".join(_name(company, other) for other, company in others)
                    + ".",
                )
            )
    return findings


# --- leads ----------------------------------------------------------------------------------


def is_self_referral(client_email: str, owned_addresses: Iterable[str]) -> bool:
    """Whether a client's e-mail address, or its domain, is one of the partner's own (its
    company address and its users')."""
    client = client_email.strip().casefold()
    owned = {address.strip().casefold() for address in owned_addresses if address}
    return client in owned or email_domain(client) in {email_domain(a) for a in owned}


def own_addresses(session: Session, partner_ids: Collection[int]) -> dict[int, set[str]]:
    """Each partner's own e-mail addresses: its company's and its users'."""
    owned: dict[int, set[str]] = defaultdict(set)
    for partner_id, address in session.execute(
        select(Partner.id, Partner.email).where(Partner.id.in_(partner_ids))
    ):
        owned[partner_id].add(address)
    for user_partner_id, address in session.execute(
        select(User.partner_id, User.email).where(
            User.partner_id.in_(partner_ids), User.email.is_not(None)
        )
    ):
        if user_partner_id is not None and address:
            owned[user_partner_id].add(address)
    return owned


@dataclass(frozen=True)
class LeadFacts:
    id: int
    partner_id: int
    client_name: str
    client_email: str
    self_referral: bool | None

    @classmethod
    def of(cls, lead: Lead) -> LeadFacts:
        return cls(
            lead.id, lead.partner_id, lead.client_name, lead.client_email, lead.self_referral
        )


def lead_findings(leads: Sequence[LeadFacts], owned: Mapping[int, set[str]]) -> list[Finding]:
    """Self-referrals (flagged, or at one of the partner's `owned` addresses) and disposable
    client addresses among these leads."""
    findings = []
    for lead in leads:
        subject = f"lead #{lead.id}"
        domain = email_domain(lead.client_email)
        if lead.self_referral or is_self_referral(
            lead.client_email, owned.get(lead.partner_id, ())
        ):
            findings.append(
                Finding(
                    lead.partner_id,
                    RiskRule.SELF_REFERRAL,
                    RiskSeverity.MEDIUM,
                    subject,
                    f"Lead #{lead.id} ({lead.client_name}): the client's address at {domain} "
                    "is the partner's own.",
                    lead.id,
                )
            )
        if domain in blocklist:
            findings.append(
                Finding(
                    lead.partner_id,
                    RiskRule.DISPOSABLE_CLIENT_EMAIL,
                    RiskSeverity.MEDIUM,
                    subject,
                    f"Lead #{lead.id} ({lead.client_name}): {domain} hands out throwaway "
                    "addresses.",
                    lead.id,
                )
            )
    return findings


def every_lead(session: Session) -> list[LeadFacts]:
    """The facts the lead rules look at, of every lead (a scan)."""
    query = select(
        Lead.id, Lead.partner_id, Lead.client_name, Lead.client_email, Lead.self_referral
    )
    return [LeadFacts(*row) for row in session.execute(query.execution_options(yield_per=5000))]


def registration_bursts(
    session: Session,
    per_hour: int,
    partner_ids: Collection[int] | None = None,
    since: datetime | None = None,
) -> list[Finding]:
    """Partners who registered `per_hour` referrals or more within one clock hour (UTC)."""
    query = select(Lead.partner_id, Lead.created_at)
    if partner_ids is not None:
        query = query.where(Lead.partner_id.in_(partner_ids))
    if since is not None:
        query = query.where(Lead.created_at >= since.replace(minute=0, second=0, microsecond=0))
    counts: dict[tuple[int, datetime], int] = defaultdict(int)
    for partner_id, created_at in session.execute(query.execution_options(yield_per=5000)):
        counts[(partner_id, created_at.replace(minute=0, second=0, microsecond=0))] += 1
    return [
        Finding(
            partner_id,
            RiskRule.REGISTRATION_BURST,
            RiskSeverity.MEDIUM,
            f"hour {hour:%Y-%m-%d %H}:00",
            f"{count} referrals registered between {hour:%H}:00 and "
            f"{hour + timedelta(hours=1):%H}:00 UTC on {hour:%Y-%m-%d}.",
        )
        for (partner_id, hour), count in sorted(counts.items())
        if count >= per_hour
    ]


# --- applications ---------------------------------------------------------------------------


def website_host(website: str) -> str:
    host = (urlsplit(website).hostname or "").casefold()
    return host.removeprefix("www.")


def domains_match(email: str, website: str) -> bool:
    """Whether an e-mail address belongs to a website's domain (or a domain above or below
    it: mail.acme.example and acme.example are one company)."""
    mail, host = email_domain(email), website_host(website)
    return bool(host) and (mail == host or mail.endswith("." + host) or host.endswith("." + mail))


def website_mismatches(
    session: Session, partner_ids: Collection[int] | None = None
) -> list[Finding]:
    """Partners whose company e-mail is not at their website's domain."""
    query = (
        select(Partner.id, Partner.email, PartnerProfile.website)
        .join(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .where(PartnerProfile.website.is_not(None))
    )
    if partner_ids is not None:
        query = query.where(Partner.id.in_(partner_ids))
    return [
        Finding(
            partner_id,
            RiskRule.WEBSITE_DOMAIN_MISMATCH,
            RiskSeverity.LOW,
            f"website {website_host(website)}"[:SUBJECT_LENGTH],
            f"The partner's e-mail address is at {email_domain(email)}; its website is "
            f"{website_host(website)}.",
        )
        for partner_id, email, website in session.execute(query)
        if website and not domains_match(email, website)
    ]


def applications_from_one_address(
    session: Session, partner_ids: Collection[int] | None = None
) -> list[Finding]:
    """Partners who applied from a network address that `APPLICATIONS_PER_ADDRESS` or more
    applications came from (with `partner_ids`: the addresses those partners applied from;
    every applicant from them is told)."""
    crowded = (
        select(Partner.applied_from)
        .where(Partner.applied_from.is_not(None))
        .group_by(Partner.applied_from)
        .having(func.count() >= APPLICATIONS_PER_ADDRESS)
    )
    if partner_ids is not None:
        crowded = crowded.where(
            Partner.applied_from.in_(
                select(Partner.applied_from).where(Partner.id.in_(partner_ids))
            )
        )
    applicants: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for partner_id, company, address in session.execute(
        select(Partner.id, Partner.company_name, Partner.applied_from)
        .where(Partner.applied_from.in_(crowded))
        .order_by(Partner.id)
    ):
        if address is not None:
            applicants[address].append((partner_id, company))
    return [
        Finding(
            partner_id,
            RiskRule.APPLICATIONS_FROM_ONE_ADDRESS,
            RiskSeverity.MEDIUM,
            f"address {address}"[:SUBJECT_LENGTH],
            f"One of {len(partners)} applications from the network address {address}: "
            + ", ".join(_name(company, other) for other, company in partners)
            + ".",
        )
        for address, partners in applicants.items()
        for partner_id, _ in partners
    ]
