"""A program rollup of partners by status, filled from the partners.

A partner's rank reads how many partners are active, and the overview reads every status:
counting 10,000 partners on each dashboard view cost more than the rest of the dashboard.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "program_partner_stats",
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "active",
                "suspended",
                name="program_stats_partner_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("partner_count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "partner_count >= 0",
            name=op.f("ck_program_partner_stats_partner_count_nonnegative"),
        ),
        sa.PrimaryKeyConstraint("status", name=op.f("pk_program_partner_stats")),
    )
    op.execute(
        "INSERT INTO program_partner_stats (status, partner_count) "
        "SELECT status, COUNT(*) FROM partners GROUP BY status"
    )


def downgrade() -> None:
    op.drop_table("program_partner_stats")
