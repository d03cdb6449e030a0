"""Money: the commission ledger and payouts; existing conversions get their ledger line.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import portal.core.types


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLD_DAYS = 30


def upgrade() -> None:
    op.create_table('payouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('cutoff', sa.Date(), nullable=False),
    sa.Column('amount', portal.core.types.Money(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'paid', 'failed', 'canceled', name='payout_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('payment_method', sa.Enum('bank_transfer', 'paypal', 'wise', 'check', name='payout_payment_method', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('failure_reason', sa.Text(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name=op.f('ck_payouts_paid_has_time')),
    sa.CheckConstraint("status <> 'paid' OR length(reference) > 0", name=op.f('ck_payouts_paid_has_reference')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payouts_amount_positive')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_payouts_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payouts'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.create_index('ix_payouts_partner_created', ['partner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_payouts_status_created', ['status', 'created_at', 'id'], unique=False)

    op.create_table('commissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('commission', 'clawback', name='commission_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('amount', portal.core.types.Money(), nullable=False),
    sa.Column('deal_value', portal.core.types.Money(), nullable=True),
    sa.Column('rate', portal.core.types.Rate(), nullable=True),
    sa.Column('earned_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hold_until', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'in_payout', 'paid', 'void', name='commission_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('payout_id', sa.Integer(), nullable=True),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('voided_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'clawback') = (reverses_id IS NOT NULL)", name=op.f('ck_commissions_clawback_reverses')),
    sa.CheckConstraint("(kind = 'commission' AND amount >= 0) OR (kind = 'clawback' AND amount <= 0)", name=op.f('ck_commissions_amount_sign_matches_kind')),
    sa.CheckConstraint("(status = 'void') = (voided_at IS NOT NULL)", name=op.f('ck_commissions_void_has_time')),
    sa.CheckConstraint("(status IN ('in_payout', 'paid')) = (payout_id IS NOT NULL)", name=op.f('ck_commissions_payout_matches_status')),
    sa.ForeignKeyConstraint(['lead_id'], ['partner_leads.id'], name=op.f('fk_commissions_lead_id_partner_leads')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_commissions_partner_id_partners')),
    sa.ForeignKeyConstraint(['payout_id'], ['payouts.id'], name=op.f('fk_commissions_payout_id_payouts')),
    sa.ForeignKeyConstraint(['reverses_id'], ['commissions.id'], name=op.f('fk_commissions_reverses_id_commissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commissions')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_commissions_reverses_id'))
    )
    with op.batch_alter_table('commissions', schema=None) as batch_op:
        batch_op.create_index('ix_commissions_lead_id', ['lead_id'], unique=False)
        batch_op.create_index('ix_commissions_partner_earned', ['partner_id', 'earned_at', 'id'], unique=False)
        batch_op.create_index('ix_commissions_partner_status_hold', ['partner_id', 'status', 'hold_until'], unique=False)
        batch_op.create_index('ix_commissions_payout_id', ['payout_id'], unique=False)
        batch_op.create_index('ix_commissions_status_hold', ['status', 'hold_until'], unique=False)

    _ledger_lines_for_existing_conversions()


def _ledger_lines_for_existing_conversions() -> None:
    """Each lead converted before the ledger existed gets its open commission line."""
    leads = sa.table(
        "partner_leads",
        sa.column("id", sa.Integer()), sa.column("partner_id", sa.Integer()),
        sa.column("status", sa.String()), sa.column("commission", portal.core.types.Money()),
        sa.column("deal_value", portal.core.types.Money()), sa.column("commission_rate", portal.core.types.Rate()),
        sa.column("converted_at", portal.core.types.UTCDateTime()),
    )
    commissions = sa.table(
        "commissions",
        sa.column("partner_id", sa.Integer()), sa.column("lead_id", sa.Integer()),
        sa.column("kind", sa.String()), sa.column("amount", portal.core.types.Money()),
        sa.column("deal_value", portal.core.types.Money()), sa.column("rate", portal.core.types.Rate()),
        sa.column("earned_at", portal.core.types.UTCDateTime()),
        sa.column("hold_until", portal.core.types.UTCDateTime()),
        sa.column("status", sa.String()), sa.column("created_at", portal.core.types.UTCDateTime()),
    )
    # Frozen: the hold this migration was written for (DOMAIN.md's default). A migration's
    # result must not depend on the settings of the day it happens to run.
    hold = timedelta(days=HOLD_DAYS)
    rows = op.get_bind().execute(sa.select(leads).where(leads.c.status == "converted")).all()
    if rows:
        op.bulk_insert(commissions, [
            {"partner_id": row.partner_id, "lead_id": row.id, "kind": "commission",
             "amount": row.commission, "deal_value": row.deal_value, "rate": row.commission_rate,
             "earned_at": row.converted_at, "hold_until": row.converted_at + hold,
             "status": "open", "created_at": row.converted_at}
            for row in rows
        ])


def downgrade() -> None:
    with op.batch_alter_table('commissions', schema=None) as batch_op:
        batch_op.drop_index('ix_commissions_status_hold')
        batch_op.drop_index('ix_commissions_payout_id')
        batch_op.drop_index('ix_commissions_partner_status_hold')
        batch_op.drop_index('ix_commissions_partner_earned')
        batch_op.drop_index('ix_commissions_lead_id')

    op.drop_table('commissions')
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index('ix_payouts_status_created')
        batch_op.drop_index('ix_payouts_partner_created')

    op.drop_table('payouts')
