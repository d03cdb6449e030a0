"""Program-wide rollups for the manager's overview, filled from the partner rollups, and a
partial index for self-referral flags.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('program_conversion_stats',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('conversions', sa.Integer(), nullable=False),
    sa.Column('commission', portal.core.types.Money(), nullable=False),
    sa.CheckConstraint('conversions >= 0', name=op.f('ck_program_conversion_stats_conversions_nonnegative')),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_program_conversion_stats'))
    )
    op.create_table('program_lead_stats',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'contacted', 'qualified', 'converted', 'lost', name='program_stats_lead_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('lead_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('lead_count >= 0', name=op.f('ck_program_lead_stats_lead_count_nonnegative')),
    sa.PrimaryKeyConstraint('month', 'status', name=op.f('pk_program_lead_stats'))
    )
    with op.batch_alter_table('partner_leads', schema=None) as batch_op:
        batch_op.create_index('ix_partner_leads_self_referral', ['created_at', 'id'], unique=False, postgresql_where=sa.text('self_referral'), sqlite_where=sa.text('self_referral'))

    op.execute(
        "INSERT INTO program_lead_stats (month, status, lead_count) "
        "SELECT month, status, SUM(lead_count) FROM partner_lead_stats GROUP BY month, status"
    )
    op.execute(
        "INSERT INTO program_conversion_stats (day, conversions, commission) "
        "SELECT day, SUM(conversions), SUM(commission) FROM partner_conversion_stats GROUP BY day"
    )



def downgrade() -> None:
    with op.batch_alter_table('partner_leads', schema=None) as batch_op:
        batch_op.drop_index('ix_partner_leads_self_referral', postgresql_where=sa.text('self_referral'), sqlite_where=sa.text('self_referral'))

    op.drop_table('program_lead_stats')
    op.drop_table('program_conversion_stats')
