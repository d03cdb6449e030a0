"""Webhook deliveries have a status of their own: pending, sent or dead (a machine takes no
daily digest, so the mail's held and digested never applied).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _statuses(values: str) -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_webhook_deliveries_webhook_status'), type_='check')
        batch_op.create_check_constraint('webhook_status', f"status IN ({values})")


def upgrade() -> None:
    _statuses("'pending', 'sent', 'dead'")


def downgrade() -> None:
    _statuses("'pending', 'held', 'digested', 'sent', 'dead'")
