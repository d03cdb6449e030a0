"""Initial schema: users, partners, profiles, leads, lead events, notifications, audit log
and the statistics rollups.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.core.types


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.Enum('pending', 'active', 'suspended', name='partner_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('commission_rate', portal.core.types.Rate(), nullable=True),
    sa.Column('total_referrals', sa.Integer(), server_default='0', nullable=False),
    sa.Column('total_earnings', portal.core.types.Money(), server_default='0', nullable=False),
    sa.Column('paid_earnings', portal.core.types.Money(), server_default='0', nullable=False),
    sa.Column('pending_earnings', portal.core.types.Money(), sa.Computed('total_earnings - paid_earnings', persisted=True), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('commission_rate IS NULL OR (commission_rate >= 0 AND commission_rate <= 0.5)', name=op.f('ck_partners_commission_rate_range')),
    sa.CheckConstraint('paid_earnings >= 0', name=op.f('ck_partners_paid_earnings_nonnegative')),
    sa.CheckConstraint('total_referrals >= 0', name=op.f('ck_partners_total_referrals_nonnegative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners'))
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.create_index('ix_partners_status_total_earnings', ['status', 'total_earnings'], unique=False)

    op.create_table('partner_conversion_stats',
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('conversions', sa.Integer(), nullable=False),
    sa.Column('commission', portal.core.types.Money(), nullable=False),
    sa.CheckConstraint('conversions >= 0', name=op.f('ck_partner_conversion_stats_conversions_nonnegative')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_conversion_stats_partner_id_partners')),
    sa.PrimaryKeyConstraint('partner_id', 'day', name=op.f('pk_partner_conversion_stats'))
    )
    op.create_table('partner_lead_stats',
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'contacted', 'qualified', 'converted', 'lost', name='stats_lead_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('lead_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('lead_count >= 0', name=op.f('ck_partner_lead_stats_lead_count_nonnegative')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_lead_stats_partner_id_partners')),
    sa.PrimaryKeyConstraint('partner_id', 'month', 'status', name=op.f('pk_partner_lead_stats'))
    )
    op.create_table('partner_leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('client_name', sa.String(length=200), nullable=False),
    sa.Column('client_email', sa.String(length=254), nullable=False),
    sa.Column('client_email_key', sa.String(length=254), nullable=False),
    sa.Column('client_phone', sa.String(length=32), nullable=True),
    sa.Column('company', sa.String(length=200), nullable=True),
    sa.Column('service', sa.String(length=100), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'contacted', 'qualified', 'converted', 'lost', name='lead_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('lost_reason', sa.Enum('no_response', 'not_interested', 'bad_fit', 'duplicate', 'other', name='lost_reason', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('lost_note', sa.Text(), nullable=True),
    sa.Column('deal_value', portal.core.types.Money(), nullable=True),
    sa.Column('commission', portal.core.types.Money(), nullable=True),
    sa.Column('commission_rate', portal.core.types.Rate(), nullable=True),
    sa.Column('self_referral', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('contacted_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('qualified_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('converted_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lost_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claim_expires_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(status = 'converted') = (converted_at IS NOT NULL AND deal_value IS NOT NULL AND commission IS NOT NULL AND commission_rate IS NOT NULL)", name=op.f('ck_partner_leads_converted_has_commission')),
    sa.CheckConstraint("(status = 'lost') = (lost_reason IS NOT NULL)", name=op.f('ck_partner_leads_lost_has_reason')),
    sa.CheckConstraint('commission IS NULL OR commission >= 0', name=op.f('ck_partner_leads_commission_nonnegative')),
    sa.CheckConstraint('commission_rate IS NULL OR (commission_rate >= 0 AND commission_rate <= 0.5)', name=op.f('ck_partner_leads_commission_rate_range')),
    sa.CheckConstraint('deal_value IS NULL OR deal_value > 0', name=op.f('ck_partner_leads_deal_value_positive')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_partner_leads_version_positive')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_leads_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_leads'))
    )
    with op.batch_alter_table('partner_leads', schema=None) as batch_op:
        batch_op.create_index('ix_partner_leads_client_email_key', ['client_email_key'], unique=False)
        batch_op.create_index('ix_partner_leads_client_phone', ['client_phone'], unique=False)
        batch_op.create_index('ix_partner_leads_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_partner_leads_partner_created', ['partner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_partner_leads_partner_status_created', ['partner_id', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_partner_leads_status_created', ['status', 'created_at', 'id'], unique=False)

    op.create_table('partner_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('payment_email', sa.String(length=254), nullable=True),
    sa.Column('payment_method', sa.Enum('bank_transfer', 'paypal', 'wise', 'check', name='payment_method', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('bank_account_encrypted', sa.Text(), nullable=True),
    sa.Column('bank_account_last4', sa.String(length=4), nullable=True),
    sa.Column('tax_id', sa.Text(), nullable=True),
    sa.Column('tax_id_last4', sa.String(length=4), nullable=True),
    sa.Column('tax_form', sa.Enum('W-9', 'W-8BEN', 'W-8BEN-E', name='tax_form', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('tax_form_received_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('contact_phone', sa.String(length=32), nullable=True),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=100), nullable=True),
    sa.Column('zip', sa.String(length=20), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('notifications_enabled', sa.Boolean(), nullable=False),
    sa.Column('email_notifications', sa.Boolean(), nullable=False),
    sa.Column('monthly_reports', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_profiles_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_profiles')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_partner_profiles_partner_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=100), nullable=False),
    sa.Column('role', sa.Enum('partner', 'manager', name='user_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sessions_valid_after', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(role = 'partner' AND partner_id IS NOT NULL) OR (role = 'manager' AND partner_id IS NULL)", name=op.f('ck_users_role_matches_partner')),
    sa.CheckConstraint('failed_logins >= 0', name=op.f('ck_users_failed_logins_nonnegative')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_users_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_partner_id'), ['partner_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_audit_log_actor_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_created', ['action', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_log_actor_created', ['actor_user_id', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_log_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_log_object', ['object_type', 'object_id'], unique=False)

    op.create_table('lead_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('registered', 'status_changed', 'reassigned', name='lead_event_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('from_status', sa.Enum('pending', 'contacted', 'qualified', 'converted', 'lost', name='lead_event_from_status', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('to_status', sa.Enum('pending', 'contacted', 'qualified', 'converted', 'lost', name='lead_event_to_status', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_lead_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['lead_id'], ['partner_leads.id'], name=op.f('fk_lead_events_lead_id_partner_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_events'))
    )
    with op.batch_alter_table('lead_events', schema=None) as batch_op:
        batch_op.create_index('ix_lead_events_lead_id_id', ['lead_id', 'id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', portal.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', portal.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['partner_leads.id'], name=op.f('fk_notifications_lead_id_partner_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_unread', ['user_id'], unique=False, postgresql_where=sa.text('read_at IS NULL'), sqlite_where=sa.text('read_at IS NULL'))
        batch_op.create_index('ix_notifications_user_id_id', ['user_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_id_id')
        batch_op.drop_index('ix_notifications_unread', postgresql_where=sa.text('read_at IS NULL'), sqlite_where=sa.text('read_at IS NULL'))

    op.drop_table('notifications')
    with op.batch_alter_table('lead_events', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_events_lead_id_id')

    op.drop_table('lead_events')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_object')
        batch_op.drop_index('ix_audit_log_created')
        batch_op.drop_index('ix_audit_log_actor_created')
        batch_op.drop_index('ix_audit_log_action_created')

    op.drop_table('audit_log')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_partner_id'))

    op.drop_table('users')
    op.drop_table('partner_profiles')
    with op.batch_alter_table('partner_leads', schema=None) as batch_op:
        batch_op.drop_index('ix_partner_leads_status_created')
        batch_op.drop_index('ix_partner_leads_partner_status_created')
        batch_op.drop_index('ix_partner_leads_partner_created')
        batch_op.drop_index('ix_partner_leads_created')
        batch_op.drop_index('ix_partner_leads_client_phone')
        batch_op.drop_index('ix_partner_leads_client_email_key')

    op.drop_table('partner_leads')
    op.drop_table('partner_lead_stats')
    op.drop_table('partner_conversion_stats')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_index('ix_partners_status_total_earnings')

    op.drop_table('partners')
