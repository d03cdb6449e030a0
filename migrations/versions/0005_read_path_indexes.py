"""Indexes for two pages read on every visit.

- Unread notifications newest first: the partial index also orders by id. The dashboard
  shows a partner's ten newest unread ones; indexed by user alone, PostgreSQL read every
  unread one of the user (thousands on a busy partner) to sort them.
- The ledger lines still moving (not paid), with their amounts: the program overview sums
  them by state without reading the paid history, which grows with every payout.
- On SQLite, the self-referral index's condition as SQLAlchemy writes it in queries
  (`self_referral = 1`): SQLite ignored the index for the overview's flagged leads, and
  scanned every lead instead.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = sa.text("read_at IS NULL")
UNPAID = sa.text("status <> 'paid'")
SELF_REFERRAL = "ix_partner_leads_self_referral"


def _self_referral_index(sqlite_condition: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL matches `WHERE self_referral` against the query's condition
    op.drop_index(SELF_REFERRAL, table_name="partner_leads")
    op.create_index(
        SELF_REFERRAL,
        "partner_leads",
        ["created_at", "id"],
        unique=False,
        sqlite_where=sa.text(sqlite_condition),
    )


def _unread_index(columns: list[str]) -> None:
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        columns,
        unique=False,
        postgresql_where=UNREAD,
        sqlite_where=UNREAD,
    )


def upgrade() -> None:
    op.drop_index("ix_notifications_unread", table_name="notifications")
    _unread_index(["user_id", "id"])
    op.create_index(
        "ix_commissions_unpaid",
        "commissions",
        ["status", "hold_until"],
        unique=False,
        postgresql_include=["amount"],
        postgresql_where=UNPAID,
        sqlite_where=UNPAID,
    )
    _self_referral_index("self_referral = 1")


def downgrade() -> None:
    _self_referral_index("self_referral")
    op.drop_index("ix_commissions_unpaid", table_name="commissions")
    op.drop_index("ix_notifications_unread", table_name="notifications")
    _unread_index(["user_id"])
