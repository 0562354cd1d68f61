"""The class database: every record of a class in one SQL database, SQLite or PostgreSQL.

    $MNIST_LAB_DATABASE   a URL, postgresql://user:password@host:port/db for a school's server;
                          unset, the SQLite file `drawings.sqlite3` in the class's data folder
                          (`files.data_root`; $MNIST_LAB_DB names another file), so a one-class
                          install starts nothing

One schema (the tables below, SQLAlchemy Core) and one set of queries serve both engines; Alembic
keeps the schema's versions (`model_store/migrations/`), and a database is brought to the newest
when this release first opens it. Reading works beside writing on both. Writing is one
transaction; those that check before they write (a free name, the save-rate limit, the sign-in
counts) take the database's write lock first (`write(lock=...)`): SQLite's BEGIN IMMEDIATE, a
PostgreSQL advisory lock on the key given, so every app process of a school, on any machine,
sees the check and the write as one. Any failure becomes a DatabaseError that says which
database and what to fix.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from model_store.files import data_root, free_bytes, in_mb, short_of_space

URL_VARIABLE = "MNIST_LAB_DATABASE"
BUSY_SECONDS = 5.0  # a busy SQLite file or a PostgreSQL lock is waited for this long, then reported
CONNECT_SECONDS = 5  # a PostgreSQL server that does not answer within this is reported
KNOWN_VERSIONS = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
)  # every schema version this release knows (model_store/migrations/versions)
HEAD = KNOWN_VERSIONS[-1]
MAIN = "main"  # the install's own class (`classes`)


CLASS_SETTINGS = ("limits", "default_model")  # the settings each class has its own of (`class_key`)


def class_key(base: str, class_id: str) -> str:
    """A class's own setting (its limits, its default model): `base` for the install's own class,
    as every release before classes kept it; `base:ID` for another."""
    return base if class_id == MAIN else f"{base}:{class_id}"


MIGRATIONS = Path(__file__).resolve().parent / "migrations"

metadata = MetaData()

# The class's handwriting: one row a drawing (`model_store.drawings`).
drawings = Table(
    "drawings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # never reused: (count, last id) tells any change
    Column("created", Text, nullable=False),  # UTC, ISO 8601 (sorts as text)
    Column("writer", Text, nullable=False),  # the display name of who drew it
    Column("label", Integer, nullable=False),
    Column("image", LargeBinary, nullable=False),  # the prepared 28x28, uint8, row by row
    Column("original", LargeBinary),  # the canvas or the file, as PNG
    Column("source", Text, nullable=False),  # canvas, upload or import
    Column("model", Text),  # the model that answered when it was saved
    Column("probabilities", Text),  # that model's ten probabilities, JSON
    Column("browser", Text),  # the writer's browser (NULL for imports and older rows)
    Column("class_id", Text, nullable=False, server_default=MAIN),  # the class it was drawn in
    Index("drawings_writer", "writer"),
    Index("drawings_browser", "browser", "created"),
    Index("drawings_class", "class_id", "id"),
)

# Who is who (`model_store.people`): a person's name, wrong passwords, the teacher's sign-ins.
# "browser" columns hold a person's opaque id (random, `model_store.sessions`), never a token.
people = Table(
    "people",
    metadata,
    Column("browser", Text, primary_key=True),  # the person's id
    Column("name", Text, nullable=False),  # shown everywhere (two browsers share one only after a merge)
    Column("since", Text, nullable=False),
    Column("class_id", Text, nullable=False, server_default=MAIN),  # a name is unique in its class
    Index("people_class", "class_id"),
)
wrong_passwords = Table(
    "wrong_passwords",
    metadata,
    Column("scope", Text, primary_key=True),  # a browser's id, or "app" for every browser at once
    Column("wrong", Integer, nullable=False),  # wrong passwords in a row
    Column("last", Float, nullable=False),  # the last one, Unix time
)
teachers = Table(
    "teachers",
    metadata,
    Column("browser", Text, primary_key=True),  # the session signed in (its token's hash; kept after sign-out)
    Column("until", Float, nullable=False),  # the sign-in holds until then (0 after Sign out)
    Column("seen", Float, nullable=False),  # its last page run, for the idle rule
    Column("account", Text),  # the teacher account signed in (NULL: the install's password, with no accounts)
    Column("sign_in", Text),  # this sign-in's random id: a new one at each sign-in, so an old tab's is refused
    Column("person", Text),  # who signed in (their id): a person the teacher was is never locked out
)
# Sessions (`model_store.sessions`): a browser is a person through a random token the server
# issued, kept here only as its SHA-256; a row is written once a guest saves something.
sessions = Table(
    "sessions",
    metadata,
    Column("token", Text, primary_key=True),  # sha256 of the token in the browser's cookie
    Column("person", Text, nullable=False),  # the person's opaque id
    Column("seen", Float, nullable=False),  # its last page run (written at most every minute), for the idle expiry
    Column("class_id", Text),  # the class this session is in (NULL: the install's own, MAIN)
    Index("sessions_seen", "seen"),
    Index("sessions_person", "person"),
)
# The school's teachers (`model_store.accounts`): each signs in with their own name and password.
teacher_accounts = Table(
    "teacher_accounts",
    metadata,
    Column("name", Text, primary_key=True),
    Column("hash", Text, nullable=False),  # argon2id, as argon2-cffi writes it (its salt and costs inside)
    Column("created", Text, nullable=False),  # UTC, ISO 8601: the first made is the install's first teacher
    Column("disabled", Boolean, nullable=False, default=False),  # cannot sign in; their sign-ins ended
    Column("email", Text),  # single sign-on (`st.login`) finds the teacher by it
)

# The school's classes (`model_store.classes`): each has a join code, a teacher and its own
# drawings, people, runs, limits and lessons. MAIN is the install's own class: every row from
# before classes is in it, and a visitor with no class is its guest.
classes = Table(
    "classes",
    metadata,
    Column("id", Text, primary_key=True),  # random (MAIN for the install's own): what rows carry
    Column("name", Text, nullable=False, unique=True),  # as teachers and `--class` name it
    Column("code", Text, nullable=False, unique=True),  # the join code students type
    Column("teacher", Text),  # the teacher account it belongs to (NULL: every teacher's, as MAIN)
    Column("guests", Boolean, nullable=False, server_default="1"),  # visitors may draw without joining
    Column("created", Text, nullable=False),
)
# Students who come back: a person of a class with a secret (two words; argon2id, as accounts).
students = Table(
    "students",
    metadata,
    Column("person", Text, primary_key=True),  # their id: a session opened with the secret leads to it
    Column("class_id", Text, nullable=False),
    Column("secret", Text, nullable=False),  # argon2id of the two words
    Column("created", Text, nullable=False),
    Column("email", Text),  # their school account's (single sign-on), once they joined signed in with it
)

# The settings, one JSON value a key: each class's "limits" (`training.limits`) and "default_model"
# (`class_key`: "limits:ID" for a class other than the install's own), and "renames".
settings = Table(
    "settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# The model store (`model_store.store`): a record a model, and its files' bytes.
models = Table(
    "models",
    metadata,
    Column("name", Text, primary_key=True),
    Column("record", Text, nullable=False),  # JSON: architecture, options, metrics, owner, files' checksums
    Column("saved", Text, nullable=False),  # UTC, ISO 8601
)
model_files = Table(
    "model_files",
    metadata,
    Column("model", Text, primary_key=True),
    Column("kind", Text, primary_key=True),  # model (.keras), test_probabilities, map
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# Training runs (`training.runs`): who queued what, its status, its progress, its checkpoints.
runs = Table(
    "runs",
    metadata,
    Column("id", Text, primary_key=True),  # sorts in the order the runs were submitted
    Column("config", Text, nullable=False),  # JSON: the TrainConfig and who queued it
    Column("state", Text, nullable=False),  # a model_store.status.Status: waiting, running, ..., archived
    Column("status", Text, nullable=False),  # JSON: the stored model, the error, the node, the latest progress...
    Column("version", Integer, nullable=False, default=0),  # one more at every change: a cache key
    Index("runs_state", "state"),
)
run_events = Table(
    "run_events",
    metadata,
    Column("run", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),  # each event is written once, whoever copies it
    Column("event", Text, nullable=False),  # JSON
)
run_files = Table(
    "run_files",
    metadata,
    Column("run", Text, primary_key=True),
    Column("kind", Text, primary_key=True),  # checkpoint (best epoch), last (where it resumes), teaching
    Column("data", LargeBinary, nullable=False),
)


class DatabaseError(RuntimeError):
    """The class database cannot be read or written; the message says which and why, for a person."""


def configured_url() -> str:
    """The class database's URL: $MNIST_LAB_DATABASE, else the SQLite file of the data folder."""
    if url := os.environ.get(URL_VARIABLE, "").strip():
        return url
    path = Path(os.environ.get("MNIST_LAB_DB") or data_root() / "drawings.sqlite3")
    return f"sqlite:///{path}"


def where(url: URL) -> str:
    """The database as a person names it: its file, or its server and name (never the password)."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return f"at {url.host or 'localhost'}:{url.port or 5432}/{url.database}"


class Database:
    """One class database. Cheap to make: the engine behind a URL is made once per process."""

    def __init__(self, url: str | Path | None = None):
        """`url`: a database URL, or an SQLite file's path; the configured one (`configured_url`) when None."""
        url = configured_url() if url is None else str(url)
        url = url if "://" in url else f"sqlite:///{url}"
        self.url = _driver_url(make_url(url))
        self.where = where(self.url)
        self.sqlite = self.url.get_backend_name() == "sqlite"

    @property
    def path(self) -> Path | None:
        """The SQLite file; None on a server."""
        return Path(self.url.database) if self.sqlite else None

    @property
    def engine(self) -> Engine:
        return _engine(self.url)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (and single-statement writes that check nothing first)."""
        with self._errors(), self._connection() as connection:
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one moment of the whole database across its statements
        (SQLite's WAL gives it; PostgreSQL with REPEATABLE READ): a backup taken while the class
        draws holds every drawing committed before it began, and none half."""
        with self._errors(), self._connection() as connection:
            if not self.sqlite:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def write(self, lock: str | None = None) -> Iterator[Connection]:
        """One transaction that checks, then writes: all of it or none. On SQLite it holds the
        file's write lock from the start (BEGIN IMMEDIATE); on PostgreSQL, with `lock`, an advisory
        lock on that key, so two app processes checking the same thing take turns."""
        with self._errors(), self._connection() as connection:
            connection.info["immediate"] = True
            try:
                with connection.begin():
                    if lock is not None and not self.sqlite:
                        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(lock)})
                    yield connection
            finally:
                connection.info.pop("immediate", None)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        self._upgrade()
        with self.engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa_exc.DBAPIError as err:
            raise explain(err, self) from None

    def _upgrade(self) -> None:
        """The schema made or brought to HEAD, once per process and database."""
        key = self.url.render_as_string(hide_password=False)
        if key in _current:
            return
        with _upgrade_lock, self._errors():
            if key not in _current:
                if self.sqlite:
                    try:
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                    except OSError as err:
                        raise DatabaseError(f"the class database {self.where} cannot be opened ({err})") from None
                upgrade(self)
                _current.add(key)

    def check_room(self, needed: int) -> None:
        """Refused (DatabaseError) when writing `needed` bytes would leave an SQLite file's disk under
        the floor (`files.short_of_space`). A PostgreSQL server's disk is its own, not checked here."""
        if self.sqlite and (why := short_of_space(self.path, needed)):
            raise DatabaseError(f"the class database {self.where} {why}")

    def setting(self, key: str) -> str | None:
        """A class setting's JSON value (`settings`); None when it was never set."""
        with self.read() as connection:
            return connection.execute(select(settings.c.value).where(settings.c.key == key)).scalar()

    def set_setting(self, key: str, value: str) -> None:
        with self.read() as connection:
            upsert(connection, settings, {"key": key, "value": value}, ("key",), ("value",))

    def counted(self) -> int:
        """Statements this process has sent to any class database, but for those of a thread that
        said `not_counted`: for tests and benchmarks."""
        return _statements[0]


# ---------------------------------------------------------------- the schema's versions (Alembic)


def upgrade(db: Database) -> None:
    """The database brought to the newest version when this release first opens it, under the
    write lock, so two app processes starting at once upgrade it once. A file from before Alembic
    (the release that kept its version in `PRAGMA user_version`: 1 or 2) is taken up where it was."""
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
            migrate(connection)


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


def migrate(connection: Connection, version: str = "head") -> None:
    """Alembic's migrations up to `version`, on a connection in its transaction. One run at a time
    in a process: Alembic's `op` and `context` are module globals, so two threads migrating two
    databases at once would each write into the other's."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    with _alembic_lock:
        command.upgrade(config, version)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_upgrade_lock = threading.Lock()
_alembic_lock = threading.Lock()  # taken inside _upgrade_lock, never the other way round
_current: set[str] = set()  # databases known to be at HEAD in this process
_statements = [0]
_uncounted = threading.local()


def _driver_url(url: URL) -> URL:
    """postgresql:// means psycopg 3 here (SQLAlchemy's own default is psycopg2, not installed)."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _engine(url: URL) -> Engine:
    key = url.render_as_string(hide_password=False)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = _make_engine(url)
        return _engines[key]


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        # A connection for each piece of work, as SQLite wants across threads; opening one is ~50 µs.
        engine = create_engine(url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        # pre_ping: a connection the server dropped (a restart mid-lesson) is replaced, not failed.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            pool_timeout=BUSY_SECONDS,
            connect_args={"connect_timeout": CONNECT_SECONDS, "options": f"-c lock_timeout={int(BUSY_SECONDS * 1000)}"},
        )
    event.listen(engine, "before_cursor_execute", _count)
    return engine


def not_counted() -> None:
    """This thread's statements are left out of `counted`: the training queue's engine thread, which
    copies the board in the background beside whatever a test or a benchmark counts."""
    _uncounted.on = True


def _count(_connection, _cursor, statement: str, *_args) -> None:
    if getattr(_uncounted, "on", False):
        return
    if not statement.startswith(("BEGIN", "SELECT pg_advisory")):  # the queries, not their transactions
        _statements[0] += 1


def _sqlite_connect(connection, _record) -> None:
    """The driver's own transaction handling off (SQLAlchemy's recipe), so `_sqlite_begin` says how
    each transaction begins; WAL mode, kept in the file, lets readers work beside one writer."""
    connection.isolation_level = None
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
    _wal(connection)


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get("immediate") else "BEGIN")


def _wal(connection) -> None:
    """Switching a new file to WAL needs the other connections out of it, and SQLite answers
    "database is locked" at once instead of waiting its busy timeout (1 time in 20 with 20
    sessions saving into a fresh file): so it is tried again until BUSY_SECONDS."""
    import sqlite3

    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock's key (a signed 64-bit number) for a name."""
    return zlib.crc32(name.encode()) - 2**31


def explain(err: sa_exc.DBAPIError, db: Database) -> DatabaseError:
    """A driver's failure in words: which database, what happened, what to fix."""
    text_ = str(err.orig).lower()
    if db.sqlite:
        why = _sqlite_reason(text_, db.path)
    else:
        why = _server_reason(text_, db.url)
    return DatabaseError(f"the class database {db.where} {why}")


def _sqlite_reason(text_: str, path: Path) -> str:
    # SQLite says "database or disk is full" when a write finds no room, but only "disk I/O error"
    # when a full disk stops its shared-memory file growing (reads included): the disk tells which.
    full = "disk is full" in text_
    if full or ("disk i/o error" in text_ and free_bytes(path) < 2**20):
        return (
            f"cannot be {'written' if full else 'read or written'}: the disk it is on is full "
            f"({in_mb(free_bytes(path))} free); free some space on it (old backups, runs or files), then try again"
        )
    if "locked" in text_ or "busy" in text_:
        return f"is busy (another program holds a lock on it for over {BUSY_SECONDS:.0f} s)"
    if "readonly" in text_ or "read-only" in text_:
        return "is read-only"
    if "not a database" in text_ or "malformed" in text_ or "corrupt" in text_:
        return "is damaged (not a readable SQLite database)"
    if "unable to open" in text_:
        return "cannot be opened (check that its folder exists and may be written)"
    return f"failed: {text_.splitlines()[0] if text_ else 'no reason given'}"


def _server_reason(text_: str, url: URL) -> str:
    if "password authentication failed" in text_ or "no password supplied" in text_:
        return f"refused the password of user {url.username!r}: check the password in ${URL_VARIABLE}"
    if "does not exist" in text_ and "database" in text_:
        return (
            f"has no database named {url.database!r}: create it on that server (createdb {url.database}), or fix ${URL_VARIABLE}"
        )
    if "role" in text_ and "does not exist" in text_:
        return f"has no user {url.username!r}: create it on that server (createuser), or fix ${URL_VARIABLE}"
    if "could not translate host name" in text_ or "name or service not known" in text_:
        return f"cannot be found: no machine is called {url.host!r} (check ${URL_VARIABLE})"
    if "connection refused" in text_ or "timeout expired" in text_ or "could not receive data" in text_:
        return f"does not answer (is PostgreSQL running on {url.host or 'localhost'}:{url.port or 5432}, and is ${URL_VARIABLE} right?)"
    if "terminating connection" in text_ or "server closed the connection" in text_ or "connection is closed" in text_:
        return "went away mid-work (the server stopped or restarted); nothing was half-written: try again"
    if "lock timeout" in text_ or "canceling statement due to lock timeout" in text_:
        return f"is busy (a lock was held for over {BUSY_SECONDS:.0f} s)"
    if "read-only" in text_ or "read only" in text_:
        return "is read-only"
    return f"failed: {text_.splitlines()[0] if text_ else 'no reason given'}"


def upsert(connection: Connection, table: Table, values: dict, keys: tuple[str, ...], update: tuple[str, ...]):
    """INSERT, or UPDATE `update` columns where a row with the same `keys` exists: each engine's own
    ON CONFLICT, in one statement."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: getattr(statement.excluded, c) for c in update}
    )
    return connection.execute(statement)


def insert_new(connection: Connection, table: Table, rows: list[dict], keys: tuple[str, ...]) -> int:
    """Insert the rows whose `keys` are not there yet (the others are left as they are); how many.
    One multi-row INSERT per 200 rows, its count kept (`preserve_rowcount`: psycopg's count of an
    INSERT is otherwise -1)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    added = 0
    for start in range(0, len(rows), 200):
        statement = dialect.insert(table).values(rows[start : start + 200]).on_conflict_do_nothing(index_elements=list(keys))
        added += connection.execute(statement.execution_options(preserve_rowcount=True)).rowcount
    return added


RENAMES = "renames"  # a setting: how many renames changed drawings' writers (no row added or gone)


def bump(connection: Connection, key: str) -> None:
    """One more in the counting setting `key`: a cache key for changes that add or remove no row."""
    current = connection.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
    upsert(connection, settings, {"key": key, "value": str(int(current or 0) + 1)}, ("key",), ("value",))


def count_rows(connection: Connection, table: Table) -> int:
    return connection.execute(func.count().select().select_from(table)).scalar_one()
