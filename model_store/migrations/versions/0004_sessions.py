"""Sessions: a browser is a person through a random token the server issues (kept as its hash),
not through Streamlit's XSRF cookie. Sign-ins made for XSRF-derived browser ids end here."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("person", sa.Text, nullable=False),
        sa.Column("seen", sa.Float, nullable=False),
    )
    op.create_index("sessions_seen", "sessions", ["seen"])
    op.create_index("sessions_person", "sessions", ["person"])
    op.add_column("teachers", sa.Column("person", sa.Text))
    # Keyed by an id anyone could plant with a copied cookie: the teacher signs in again.
    op.execute("DELETE FROM teachers")
