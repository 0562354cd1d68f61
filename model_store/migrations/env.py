"""Alembic's entry: the migrations run on the connection `model_store.database.upgrade` holds."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
