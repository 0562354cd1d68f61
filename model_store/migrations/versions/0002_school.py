"""A school's database: the class settings (limits, the default model), the model store (each
model's record and its files' bytes) and the training runs (config, status, progress events,
checkpoints) join the drawings, so nothing that matters lives on one machine's disk."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("settings", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table(
        "models",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("saved", sa.Text, nullable=False),
    )
    op.create_table(
        "model_files",
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("runs_state", "runs", ["state"])
    op.create_table(
        "run_events",
        sa.Column("run", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
    )
    op.create_table(
        "run_files",
        sa.Column("run", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
