"""Program settings managers change themselves: every version of the program's rules, with
who changed them, when and why (`portal.core.program`).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'program_settings',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('changed_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('changed_by', sa.Integer(), nullable=True),
        sa.Column('changed_by_label', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ['changed_by'],
            ['users.id'],
            name=op.f('fk_program_settings_changed_by_users'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_program_settings')),
    )


def downgrade() -> None:
    op.drop_table('program_settings')
