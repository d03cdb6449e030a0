"""Conversations between partners and the program: threads, messages, how far each user read.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('conversations',
    sa.Column('id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('partner_id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('lead_id', portal.core.types.WholeNumber(), nullable=True),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['partner_leads.id'], name=op.f('fk_conversations_lead_id_partner_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_conversations_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('partner_id', 'topic', name=op.f('uq_conversations_partner_id_topic'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_last_message_at_id', ['last_message_at', 'id'], unique=False)

    op.create_table('conversation_reads',
    sa.Column('user_id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('conversation_id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('last_read_message_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_reads_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_conversation_reads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'conversation_id', name=op.f('pk_conversation_reads'))
    )
    op.create_table('messages',
    sa.Column('id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('conversation_id', portal.core.types.WholeNumber(), nullable=False),
    sa.Column('author_user_id', portal.core.types.WholeNumber(), nullable=True),
    sa.Column('author_name', sa.String(length=200), nullable=False),
    sa.Column('from_manager', sa.Boolean(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], name=op.f('fk_messages_author_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_conversation_id_id', ['conversation_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_conversation_id_id')

    op.drop_table('messages')
    op.drop_table('conversation_reads')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_last_message_at_id')

    op.drop_table('conversations')
