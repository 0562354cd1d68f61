"""The class database's schema versions, kept by Alembic (`versions/`, one file a version; `env.py`
runs them on the connection `model_store.database.upgrade` holds). Nothing here is imported: the
upgrade itself lives with the schema, in `model_store.database`.
"""
