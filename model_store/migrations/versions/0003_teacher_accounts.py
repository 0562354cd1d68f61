"""Teacher accounts: each teacher of a school signs in with their own name and password (an
argon2 hash), and a sign-in records which account it is and an id of its own."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teacher_accounts",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("teachers", sa.Column("account", sa.Text))
    op.add_column("teachers", sa.Column("sign_in", sa.Text))
