"""The class database's schema versions, kept by Alembic (`versions/`, one file a version).

`upgrade` brings a database to the newest version when this release first opens it, under the
write lock, so two app processes starting at once upgrade it once. A file from before Alembic
(the release that kept its version in `PRAGMA user_version`: 1 or 2) is taken up where it was.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

from model_store.database import HEAD, KNOWN_VERSIONS, MIGRATIONS, Database, DatabaseError


def upgrade(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.info["immediate"] = True  # SQLite: the write lock from the start
        with connection.begin():
            if not db.sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(7305)"))  # the schema's own key
            version = _version(connection, db)
            if version == HEAD:
                return
            if version is not None and version not in KNOWN_VERSIONS:
                raise DatabaseError(f"the class database {db.where} is from a newer release (schema {version})")
            _run(connection)


def _version(connection: Connection, db: Database) -> str | None:
    """The database's Alembic version; None for a new one, or one from before Alembic (brought to
    version 1's columns here, so the first migration finds what it expects)."""
    tables = inspect(connection).get_table_names()
    if "alembic_version" in tables:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if db.sqlite:
        legacy = connection.exec_driver_sql("PRAGMA user_version").scalar()
        if legacy > 2:
            raise DatabaseError(f"the class database {db.where} is from a newer release (schema {legacy})")
        if legacy == 1:  # version 2 added who drew it from which browser
            connection.exec_driver_sql("ALTER TABLE drawings ADD COLUMN browser TEXT")
    return None


def _run(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
