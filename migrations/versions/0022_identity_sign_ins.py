"""Sign-ins through the company's identity provider, each used once (by its nonce).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'identity_sign_ins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('issuer', sa.String(length=300), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('nonce', sa.String(length=255), nullable=False),
        sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_identity_sign_ins_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_sign_ins')),
        sa.UniqueConstraint('nonce', name=op.f('uq_identity_sign_ins_nonce')),
    )
    op.create_index(op.f('ix_identity_sign_ins_user_id'), 'identity_sign_ins', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_identity_sign_ins_user_id'), table_name='identity_sign_ins')
    op.drop_table('identity_sign_ins')
