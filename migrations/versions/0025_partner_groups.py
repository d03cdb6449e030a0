"""Partner groups: terms of their own (tier rates, hold days, minimum payout), one group per
partner (none: the default group, on the program's terms).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('partner_groups',
    sa.Column('id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tier_rates', sa.JSON(), nullable=False),
    sa.Column('hold_days', sa.Integer(), nullable=True),
    sa.Column('min_payout', portal.core.types.Money(), nullable=True),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('hold_days IS NULL OR hold_days >= 0', name=op.f('ck_partner_groups_hold_days_nonnegative')),
    sa.CheckConstraint('min_payout IS NULL OR min_payout >= 0', name=op.f('ck_partner_groups_min_payout_nonnegative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_partner_groups_name'))
    )
    # No foreign key (see `Partner.group_id`): SQLite would have to copy the table.
    op.add_column('partners', sa.Column('group_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_partners_group_id'), 'partners', ['group_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_partners_group_id'), table_name='partners')
    op.drop_column('partners', 'group_id')
    op.drop_table('partner_groups')
