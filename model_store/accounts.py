"""The school's teacher accounts: each teacher's own name and password. No Streamlit here.

A password is kept only as its argon2id hash (argon2-cffi: a slow, memory-hard KDF with its salt
and costs inside the hash), in the class database's `teacher_accounts`, so every app process of
a school sees the same teachers. A school admin makes them on the command line
(`python -m model_store teachers add NAME`). The install's password ($MNIST_LAB_TEACHER_PASSWORD or
`teacher_password` in the secrets) stays the one-class way in: alone, it signs in the first
teacher made (`first`), or the install's teacher when there are no accounts.
Removing or disabling an account ends its sign-ins at once (`model_store.people`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, select, update

from model_store.database import MAIN, Database, classes, teacher_accounts, teachers
from model_store.names import NameRefused, clean_name, looks

SHORTEST_PASSWORD = 8
IDLE_SECONDS = 60 * 60  # a teacher's browser idle this long is a student's again


class NoSuchTeacher(KeyError):
    def __str__(self) -> str:
        return f"no teacher account is called {self.args[0]!r}"


@dataclass(frozen=True)
class Account:
    name: str
    created: str
    disabled: bool


@cache
def password_hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with argon2-cffi's costs (RFC 9106's second choice)


@cache
def _decoy() -> str:
    """A hash to check a password against when the name is nobody's, so that a wrong name takes as
    long as a wrong password and the time does not tell which names exist."""
    return password_hasher().hash("not anyone's password")


def check_password(password: str) -> str:
    if len(password) < SHORTEST_PASSWORD:
        raise ValueError(f"a teacher's password has at least {SHORTEST_PASSWORD} characters (this one has {len(password)})")
    return password


class Accounts:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    def add(self, name: str, password: str) -> str:
        """A new teacher account; NameRefused when the name (or one that looks the same) is taken.
        The command line's; on a page, the school admin's (`people.Register.add_teacher`)."""
        name, hashed = clean_name(name), password_hasher().hash(check_password(password))  # hashed before the lock is taken
        with self.db.write(lock="teachers") as db:
            if any(looks(held) == looks(name) for held in db.execute(select(teacher_accounts.c.name)).scalars()):
                raise NameRefused(f"{name!r} is already a teacher account's name")
            created = datetime.now(UTC).isoformat(timespec="microseconds")
            db.execute(teacher_accounts.insert().values(name=name, hash=hashed, created=created, disabled=False))
        return name

    def list(self) -> list[Account]:
        """Every account, the first made first."""
        with self.db.read() as db:
            rows = db.execute(select(teacher_accounts).order_by(teacher_accounts.c.created)).all()
        return [Account(r.name, r.created, bool(r.disabled)) for r in rows]

    def set_password(self, name: str, password: str) -> None:
        """A new password; the account's sign-ins end (a password is changed because it got out)."""
        hashed = password_hasher().hash(check_password(password))
        with self.db.write() as db:
            self._change(db, name, hash=hashed)

    def set_disabled(self, name: str, disabled: bool) -> None:
        with self.db.write() as db:
            self._change(db, name, disabled=disabled)

    def set_email(self, name: str, email: str) -> None:
        """The school account (e-mail) that signs this teacher in through single sign-on; "" for none."""
        email = clean_email(email) if email.strip() else None
        with self.db.write(lock="teachers") as db:
            if email:
                _refuse_taken(db, email, name)
            self._change(db, name, email=email)

    def check_email_free(self, email: str) -> None:
        """ValueError when `email` is no address, or another teacher's already."""
        with self.db.read() as db:
            _refuse_taken(db, clean_email(email), None)

    def remove(self, name: str) -> None:
        with self.db.write() as db:
            if db.execute(delete(teacher_accounts).where(teacher_accounts.c.name == name)).rowcount == 0:
                raise NoSuchTeacher(name)
            end_sign_ins(db, name)

    def _change(self, db: Connection, name: str, **values) -> None:
        if db.execute(update(teacher_accounts).where(teacher_accounts.c.name == name).values(**values)).rowcount == 0:
            raise NoSuchTeacher(name)
        end_sign_ins(db, name)


def _refuse_taken(db: Connection, email: str, name: str | None) -> None:
    held = db.execute(select(teacher_accounts.c.name).where(teacher_accounts.c.email == email)).scalar()
    if held is not None and held != name:
        raise ValueError(f"{email} is another teacher's school account already")


def is_admin(db: Connection, account: str | None) -> bool:
    """Whether a sign-in is the school admin's: the install's first teacher (`first`), or the
    install's password while the school has no accounts. The admin makes the other teachers."""
    return account == first(db)


def clean_email(email: str) -> str:
    """An e-mail address as it is matched: trimmed, lower case; ValueError for one that is not."""
    email = (email or "").strip().lower()
    if email.count("@") != 1 or not all(email.split("@")) or len(email) > 254 or any(c.isspace() for c in email):
        raise ValueError(f"{email!r} is not an e-mail address")
    return email


def by_email(db: Connection, email: str) -> str | None:
    """The teacher account a school account (e-mail) signs in: not disabled; None when none."""
    query = select(teacher_accounts.c.name).where(
        teacher_accounts.c.email == clean_email(email), teacher_accounts.c.disabled.is_(False)
    )
    return db.execute(query).scalar()


def sign_in_holds(db: Connection, person: str, sign_in: str, now: float, class_id: str = MAIN) -> bool:
    """Whether the sign-in `sign_in` of this person still holds, in class `class_id`: not signed
    out (in any tab), its session not renewed, not expired, not idle, its account not removed or
    disabled (they end its sign-ins), and the class one its account teaches (`teaches`)."""
    row = db.execute(select(teachers).where(teachers.c.person == person, teachers.c.sign_in == sign_in)).first()
    return row is not None and row.until > now and now - row.seen <= IDLE_SECONDS and teaches(db, row.account, class_id)


def teaches(db: Connection, account: str | None, class_id: str) -> bool:
    """Whether a teacher account has the teacher's rights in a class: its own, or one that is every
    teacher's (the install's own). The install's password (no account) teaches every class."""
    if account is None:
        return True
    owner = db.execute(select(classes.c.id, classes.c.teacher).where(classes.c.id == class_id)).first()
    return owner is not None and owner.teacher in (None, account)


def end_sign_ins(db: Connection, name: str) -> None:
    db.execute(update(teachers).where(teachers.c.account == name).values(until=0))


def any_accounts(db: Connection) -> bool:
    return db.execute(select(teacher_accounts.c.name).limit(1)).first() is not None


def first(db: Connection) -> str | None:
    """The install's first teacher: the first account made that may sign in (None: no account)."""
    query = select(teacher_accounts.c.name).where(teacher_accounts.c.disabled.is_(False))
    return db.execute(query.order_by(teacher_accounts.c.created).limit(1)).scalar()


def account_of(db: Connection, name: str, password: str) -> str | None:
    """The account `name` (as typed at a sign-in: any case, any spacing) when `password` is its and
    it may sign in; else None. As slow for a name that is nobody's as for a wrong password."""
    typed = " ".join(name.split()).lower()  # unique so (`add`); a school's teachers are few: compared here, in Python
    row = next((r for r in db.execute(select(teacher_accounts)) if r.name.lower() == typed), None)
    try:
        password_hasher().verify(row.hash if row else _decoy(), password)
    except (VerificationError, InvalidHashError):
        return None
    return row.name if row is not None and not row.disabled else None
