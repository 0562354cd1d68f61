"""Alembic's entry: the migrations run on the connection `model_store.migrations.upgrade` holds."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
