"""The class database as the release before Alembic left it (its `PRAGMA user_version` 2): the
drawings, the names, the wrong passwords and the teacher's sign-ins. Made only where missing, so a
file from that release is taken up as it is."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = sa.MetaData()
    drawings = sa.Table(
        "drawings",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("writer", sa.Text, nullable=False),
        sa.Column("label", sa.Integer, nullable=False),
        sa.Column("image", sa.LargeBinary, nullable=False),
        sa.Column("original", sa.LargeBinary),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("probabilities", sa.Text),
        sa.Column("browser", sa.Text),
    )
    sa.Index("drawings_writer", drawings.c.writer)
    browser_index = sa.Index("drawings_browser", drawings.c.browser, drawings.c.created)
    people = sa.Table(
        "people",
        meta,
        sa.Column("browser", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("since", sa.Text, nullable=False),
    )
    sa.Index("people_name", sa.func.lower(people.c.name))
    sa.Table(
        "wrong_passwords",
        meta,
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("wrong", sa.Integer, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
    )
    sa.Table(
        "teachers",
        meta,
        sa.Column("browser", sa.Text, primary_key=True),
        sa.Column("until", sa.Float, nullable=False),
        sa.Column("seen", sa.Float, nullable=False),
    )
    meta.create_all(op.get_bind(), checkfirst=True)
    browser_index.create(op.get_bind(), checkfirst=True)  # a version 1 file had the table, not the index
