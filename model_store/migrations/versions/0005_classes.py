"""Classes: a school's sections, each with its own join code, drawings and people; students who
come back on any browser with their class code, name and secret. Every existing row joins the
install's own class, "main"."""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CODE_LETTERS = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # as model_store.classes: no 0/O, 1/I/L


def upgrade() -> None:
    classes = op.create_table(
        "classes",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("teacher", sa.Text),
        sa.Column("guests", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_table(
        "students",
        sa.Column("person", sa.Text, primary_key=True),
        sa.Column("class_id", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("email", sa.Text),  # their school account's, once they joined signed in with it
    )
    for table in ("drawings", "people"):
        op.add_column(table, sa.Column("class_id", sa.Text, nullable=False, server_default="main"))
    op.add_column("sessions", sa.Column("class_id", sa.Text))
    op.add_column("teacher_accounts", sa.Column("email", sa.Text))  # single sign-on finds a teacher by it
    op.create_index("drawings_class", "drawings", ["class_id", "id"])
    op.create_index("people_class", "people", ["class_id"])
    code = "".join(secrets.choice(CODE_LETTERS) for _ in range(8))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    op.bulk_insert(classes, [{"id": "main", "name": "main", "code": code, "teacher": None, "guests": True, "created": created}])
