"""The risk center's events, and the network address each self-sign-up came from.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('risk_events',
    sa.Column('id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('partner_id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('rule', sa.Enum('shared_payout_method', 'self_referral', 'disposable_client_email', 'registration_burst', 'website_domain_mismatch', 'applications_from_one_address', name='risk_rule', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('severity', sa.Enum('low', 'medium', 'high', name='risk_severity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('subject', sa.String(length=120), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('lead_id', portal.core.types.WholeNumber(), nullable=True),
    sa.Column('status', sa.Enum('open', 'resolved', 'dismissed', name='risk_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('raised_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_user_id', portal.core.types.WholeNumber(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'], name=op.f('fk_risk_events_decided_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['partner_leads.id'], name=op.f('fk_risk_events_lead_id_partner_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_risk_events_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_events')),
    sa.UniqueConstraint('partner_id', 'rule', 'subject', name=op.f('uq_risk_events_partner_id_rule_subject'))
    )
    op.create_index('ix_risk_events_status_partner_id', 'risk_events', ['status', 'partner_id'], unique=False)
    op.add_column('partners', sa.Column('applied_from', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_partners_applied_from'), 'partners', ['applied_from'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_partners_applied_from'), table_name='partners')
    # Not a batch (a copy of the table): SQLite cannot copy into the computed
    # pending_earnings column, and drops a plain column in place since 3.35.
    op.drop_column('partners', 'applied_from')
    op.drop_index('ix_risk_events_status_partner_id', table_name='risk_events')
    op.drop_table('risk_events')
