"""dataset_states.sources: baselines per source and field, and why a source is pending

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

No data is rewritten: a row left NULL reads its open facts' sources as baselined (the
first check after the upgrade writes the column), so an upgrade raises no false alert.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_states") as batch:
        batch.add_column(sa.Column("sources", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_states") as batch:
        batch.drop_column("sources")
