"""one mute model: a monitor's mutes "until unmuted" become suppression rows ending at
UNTIMED (as a watch's already are), and monitors.muted goes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

Each dataset in a monitor's `muted` list becomes a `mute` suppression of that monitor,
made by the monitor's owner when the monitor was made (when it was muted is not on
record), ending at UNTIMED; no other row is touched. The downgrade puts the untimed
mutes in force back in the column and deletes their rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UNTIMED = datetime(9999, 1, 1, tzinfo=UTC)  # bot/triage/model.UNTIMED as of 0016
REASON = "muted before 0016"

monitors = sa.table(
    "monitors",
    sa.column("id", sa.Integer()),
    sa.column("subject_id", sa.Integer()),
    sa.column("created_by", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("muted", sa.JSON()),
)
suppressions = sa.table(
    "suppressions",
    sa.column("id", sa.Integer()),
    sa.column("monitor_id", sa.Integer()),
    sa.column("subject_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("dataset", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("created_by", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("lifted_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    connection = op.get_bind()
    muted = connection.execute(
        sa.select(
            monitors.c.id,
            monitors.c.subject_id,
            monitors.c.created_by,
            monitors.c.created_at,
            monitors.c.muted,
        ).order_by(monitors.c.id)
    ).all()
    for monitor_id, subject_id, owner, created_at, datasets in muted:
        for dataset in sorted(set(datasets or ())):
            connection.execute(
                suppressions.insert().values(
                    monitor_id=monitor_id,
                    subject_id=subject_id,
                    kind="mute",
                    dataset=dataset,
                    reason=REASON,
                    created_by=owner,
                    created_at=created_at,
                    expires_at=UNTIMED,
                )
            )
    with op.batch_alter_table("monitors") as batch:
        batch.drop_column("muted")


def downgrade() -> None:
    with op.batch_alter_table("monitors") as batch:
        batch.add_column(sa.Column("muted", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    connection = op.get_bind()
    untimed = (
        suppressions.c.monitor_id.is_not(None),
        suppressions.c.kind == "mute",
        suppressions.c.lifted_at.is_(None),
        suppressions.c.expires_at >= UNTIMED,
    )
    muted: dict[int, set[str]] = {}
    for monitor_id, dataset in connection.execute(
        sa.select(suppressions.c.monitor_id, suppressions.c.dataset).where(*untimed)
    ):
        muted.setdefault(monitor_id, set()).add(dataset)
    for monitor_id, datasets in sorted(muted.items()):
        connection.execute(
            monitors.update().where(monitors.c.id == monitor_id).values(muted=sorted(datasets))
        )
    connection.execute(suppressions.delete().where(*untimed))
    with op.batch_alter_table("monitors") as batch:
        batch.alter_column("muted", existing_type=sa.JSON(), server_default=None)
