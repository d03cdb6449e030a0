"""API keys may carry the payout_details scope: only such a key changes where payouts go.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPE_CHECK = "scope IN ({})"


def _scopes(check: str) -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_api_keys_api_scope'), type_='check')
        batch_op.create_check_constraint('api_scope', SCOPE_CHECK.format(check))


def upgrade() -> None:
    _scopes("'read', 'write', 'payout_details'")


def downgrade() -> None:
    # A key that could change payout details keeps its writing, not that.
    op.execute("UPDATE api_keys SET scope = 'write' WHERE scope = 'payout_details'")
    _scopes("'read', 'write'")
