"""Who is who in the class: each person's name, and the teacher's sign-in. No Streamlit here.

Both live in the class database (`model_store.database`), so every app process of a class sees
the same names, the same wrong-password counts and the same signed-in teacher, and they survive a
restart of the app.

- A person is reached only through their browser's session token (`model_store.sessions`); their
  id is random and is what their things carry. Their name is kept for that id, never in a link,
  and is unique in the class: a name another person holds is refused with a free one suggested.
  Only the teacher merges two people under one name (a student who used two computers).
- What a person makes (models, runs, drawings) carries their name and id; it is theirs through
  the id (`roles.owns`), so a name given up and taken by someone else brings nothing with it. When
  a person's name changes, what they made changes with it, found by their id, never by the name
  (`rename`, and `training.runs.rename_person` for the models and runs).
- A guest has no row until they save something: a name is written then (`name_for`).
- Wrong teacher passwords are counted per browser session and for the whole app: a browser that
  forges fresh cookies gets fresh counts of its own but not a fresh app count. Waits double with
  each wrong password past the allowance. A person who has signed in as teacher before is held
  only to their own count, so nobody can lock the teacher out by guessing from elsewhere.
- A sign-in belongs to the session it was made in (a token new at that sign-in) for LESSON_SECONDS,
  until Sign out, or until IDLE_SECONDS without a page run.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, false, func, select, update

from model_store import accounts
from model_store.accounts import IDLE_SECONDS
from model_store.database import MAIN, RENAMES, Database, bump, drawings, people, students, teachers, upsert, wrong_passwords
from model_store.names import MAX_NAME, NameRefused, clean_name, looks
from model_store.roles import NotAllowed, Person, is_teacher, password_matches, require

BROWSER_TRIES, APP_TRIES = 5, 20  # wrong passwords in a row before waits start
FIRST_WAIT, LONGEST_WAIT = 60.0, 3600.0  # seconds; each wrong password past the allowance doubles the wait
QUIET_SECONDS = 24 * 3600  # a day without a wrong password starts the count again
LESSON_SECONDS = 4 * 3600  # how long a sign-in holds on its browser
SEEN_EVERY = 60  # the last page run is written at most this often
GUEST_TRIES = 20  # 40-bit guest names: a clash is rare, twenty in a row never happens
NEW_GUESTS_AN_HOUR = 200  # in one class: a school's open day fits; a script making guests does not


PASSWORD_VARIABLE = "MNIST_LAB_TEACHER_PASSWORD"
SECRETS_KEY = "teacher_password"


class SetupProblem(RuntimeError):
    """The teacher password is configured in a way that would open the class to everyone."""


def password_from(variable: str | None, secrets_file: dict | None) -> str:
    """The teacher password, from $MNIST_LAB_TEACHER_PASSWORD (`variable`, None when unset) or
    the secrets file (`secrets_file`: its keys and values, None when there is none); "" when neither is configured: one
    person on their own computer, who may do everything. A configuration that looks meant to set
    one and sets none (an empty value, a misspelt key) raises SetupProblem saying what to fix."""
    if variable is not None:
        if not variable.strip():
            raise SetupProblem(f"{PASSWORD_VARIABLE} is set but empty. Give it the teacher password, or unset it.")
        return variable
    if secrets_file is None or set(secrets_file) <= {"auth"}:  # no file, or only the single sign-on's section
        return ""
    if SECRETS_KEY not in secrets_file:
        keys = ", ".join(sorted(secrets_file)) or "none"
        raise SetupProblem(
            f"The secrets file (.streamlit/secrets.toml) has no `{SECRETS_KEY}` (its keys: {keys}). "
            f'Add `{SECRETS_KEY} = "..."`, or remove the file to run without a teacher password.'
        )
    value = secrets_file[SECRETS_KEY]
    if not isinstance(value, str) or not value.strip():
        raise SetupProblem(
            f"`{SECRETS_KEY}` in the secrets file (.streamlit/secrets.toml) is empty or not text. Give it the password."
        )
    return value


@dataclass(frozen=True)
class SignIn:
    """A browser's teacher sign-in, as the class database holds it."""

    until: float  # Unix time it ends
    account: str | None  # the teacher account (None: the install's password, with no accounts)
    id: str  # random, new at every sign-in: a Person made from an older one has no rights left


class TooManyTries(PermissionError):
    """Too many wrong passwords: `seconds` to wait."""

    def __init__(self, seconds: float, scope: str):
        whose = "from this browser" if scope != "app" else "in this class, from any browser"
        super().__init__(f"Too many wrong passwords {whose}: wait {seconds:.0f} s before the next try.")
        self.seconds = seconds


def holders_of(db, class_id: str, name: str) -> set[str]:
    """The people of the class who carry `name`, or a name that looks the same (any case, look-alike
    letters): those of its register, and those whose drawings in it carry the name (a teacher's
    register row may be another class's: their name is still theirs here)."""
    rows = db.execute(select(people.c.browser, people.c.name).where(people.c.class_id == class_id))
    drawn = select(drawings.c.browser, drawings.c.writer).where(drawings.c.class_id == class_id, drawings.c.browser.is_not(None))
    rows = [*rows, *db.execute(drawn.distinct())]
    return {browser for browser, held in rows if looks(held) == looks(name)}


def _taken(db, class_id: str, name: str) -> NameRefused:
    """The refusal of a name someone holds, with the first free NAME-2, NAME-3, ... suggested."""
    taken = {looks(n) for n in db.execute(select(people.c.name).where(people.c.class_id == class_id)).scalars()}
    stem = name[: MAX_NAME - 4]
    free = next(f"{stem}-{i}" for i in range(2, 10_000) if looks(f"{stem}-{i}") not in taken)
    return NameRefused(f"{name!r} is already someone else's name in this class: try {free!r}")


def _signed_in(db, browser: str, account: str | None, person: str, now: float) -> None:
    """The teacher's sign-in of a session, for LESSON_SECONDS, with a new id: an old tab's is no longer it."""
    row = {"browser": browser, "until": now + LESSON_SECONDS, "seen": now, "person": person}
    row |= {"account": account, "sign_in": secrets.token_hex(16)}
    upsert(db, teachers, row, ("browser",), ("until", "seen", "account", "sign_in", "person"))


def guest_name() -> str:
    """A guest's name until they pick one: 40 random bits, so a class never runs out of them."""
    return f"guest-{secrets.token_hex(5)}"


def wait_after(
    wrong: int, last: float, allowed: int, now: float, first: float = FIRST_WAIT, longest: float = LONGEST_WAIT
) -> float:
    """Seconds still to wait after `wrong` wrong tries in a row, the last at `last`: none within
    the `allowed`, then `first`, doubling to at most `longest`; none once a quiet day has passed."""
    if wrong < allowed or now - last > QUIET_SECONDS:
        return 0.0
    return max(0.0, last + min(first * 2 ** (wrong - allowed), longest) - now)


class Register:
    """The people of one class (`class_id`; a name is unique in its class), and the teachers' sign-ins."""

    def __init__(self, db: Database | None = None, class_id: str = MAIN):
        self.db = db or Database()
        self.class_id = class_id

    # ------------------------------------------------------------ names

    def name_of(self, browser: str) -> str | None:
        with self.db.read() as db:
            return db.execute(select(people.c.name).where(people.c.browser == browser)).scalar()

    def name_for(self, browser: str, guest: str | None = None) -> str:
        """This person's name; a new person is given a free "guest-" name (`guest` if it is free:
        the one their page showed), kept for them. Called once a guest saves something."""
        if name := self.name_of(browser):
            return name
        self._refuse_a_guest_flood()
        for wanted in [guest or guest_name()] + [guest_name() for _ in range(GUEST_TRIES)]:
            try:
                return self.claim(browser, wanted)
            except NameRefused:
                continue  # that guest name is someone's: draw another
        raise NameRefused(f"no free guest name was found in {GUEST_TRIES} tries")

    def _refuse_a_guest_flood(self) -> None:
        """NameRefused once the class has had NEW_GUESTS_AN_HOUR new guests in the last hour: cookies
        are free, so a script could otherwise keep a guest a second, each saving its 30 a minute."""
        hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        joined = select(students.c.person)
        new = select(func.count()).where(
            people.c.class_id == self.class_id, people.c.since > hour_ago, people.c.browser.not_in(joined)
        )
        with self.db.read() as db:
            if db.execute(new).scalar_one() >= NEW_GUESTS_AN_HOUR:
                raise NameRefused(
                    f"this class has had {NEW_GUESTS_AN_HOUR} new guests in the last hour, its most: join it with its code "
                    "(the sidebar's Join your class) to save"
                )

    def claim(self, browser: str, wanted: str) -> str:
        """Give this browser the name `wanted` (cleaned), unless another browser holds it."""
        name = clean_name(wanted)
        with self.db.write(lock="names") as db:  # the check and the write as one, for every app process
            if holders_of(db, self.class_id, name) - {browser}:
                raise _taken(db, self.class_id, name)
            since = datetime.now(UTC).isoformat(timespec="seconds")
            row = {"browser": browser, "name": name, "since": since, "class_id": self.class_id}
            upsert(db, people, row, ("browser",), ("name", "class_id"))
        return name

    def person(self, browser: str) -> tuple[str | None, frozenset[str]]:
        """(this person's name, the other people merged under it); (None, {}) for a guest who has
        saved nothing: reading writes no row."""
        if (name := self.name_of(browser)) is None:
            return None, frozenset()
        with self.db.read() as db:
            others = db.execute(
                select(people.c.browser).where(
                    people.c.name == name, people.c.browser != browser, people.c.class_id == self.class_id
                )
            )
            return name, frozenset(others.scalars())

    def people(self) -> dict[str, list[str]]:
        """Every name in the class and the people's ids that carry it."""
        query = select(people.c.name, people.c.browser).where(people.c.class_id == self.class_id)
        with self.db.read() as db:
            rows = db.execute(query.order_by(func.lower(people.c.name))).all()
        names: dict[str, list[str]] = {}
        for name, browser in rows:
            names.setdefault(name, []).append(browser)
        return names

    def rename(self, old: str, new: str, by: Person, merge: bool = False) -> tuple[str, set[str]]:
        """Every person of the class named `old` (and `by`, if that is their name: a teacher's own
        row may be another class's) is named `new`, and the drawings they made in the class with
        them: those from their ids (and, renamed by the teacher, those imported under the name),
        never another's that carry the same name. The models and runs: `training.runs.rename_person`.
        A person renames themselves; the teacher anyone. Into a name someone holds only with `merge`
        and only by the teacher: one person then. (The name they now have, the ids renamed.)"""
        new = clean_name(new)
        with self.db.write(lock="names") as db:  # who holds which name, read and changed as one
            in_class = people.c.class_id == self.class_id
            holders = set(db.execute(select(people.c.browser).where(people.c.name == old, in_class)).scalars())
            own = db.execute(select(people.c.name, people.c.class_id).where(people.c.browser == by.session)).first()
            if own is not None and own.name == old:  # their own name, its row perhaps another class's (a teacher's)
                holders.add(by.session)
                if own.class_id != self.class_id and holders_of(db, own.class_id, new) - {by.session}:
                    raise _taken(db, own.class_id, new)
            if not holders:
                raise NameRefused(f"nobody in this class is called {old!r}")
            if holders - by.browsers:  # someone else's name, or one merged with another browser's
                require(by, "rename_person", f" ({old})")
            if others := holders_of(db, self.class_id, new) - holders:
                if not merge:
                    raise _taken(db, self.class_id, new)
                require(by, "rename_person", f" (merging {old} into {new})")
                new = db.execute(select(people.c.name).where(people.c.browser == min(others))).scalar_one()
            db.execute(update(people).where(people.c.browser.in_(holders)).values(name=new))
            made = drawings.c.browser.in_(holders) | (drawings.c.browser.is_(None) if is_teacher(by) else false())
            mine = (drawings.c.writer == old) & (drawings.c.class_id == self.class_id) & made
            db.execute(update(drawings).where(mine).values(writer=new))
            bump(db, RENAMES)  # the drawings' version changes with it: every process's copies are read again
        return new, holders

    # ------------------------------------------------------------ the teacher's sign-in

    def _counts(self, db, browser: str) -> dict[str, tuple[int, float]]:
        rows = db.execute(select(wrong_passwords).where(wrong_passwords.c.scope.in_((browser, "app"))))
        return {scope: (wrong, last) for scope, wrong, last in rows}

    def _known(self, db, person: str) -> bool:
        return db.execute(select(teachers.c.person).where(teachers.c.person == person)).first() is not None

    def wait_left(self, browser: str, now: float | None = None, person: str | None = None) -> tuple[float, str]:
        """(seconds before this browser may try a password, "browser" or "app": whose count).
        `person`: who is at it (default `browser`), for the teacher's own allowance."""
        now = time.time() if now is None else now
        with self.db.read() as db:
            return self._wait_left(db, browser, now, person or browser)

    def _wait_left(self, db, browser: str, now: float, person: str) -> tuple[float, str]:
        counts = self._counts(db, browser)
        mine = wait_after(*counts.get(browser, (0, 0.0)), BROWSER_TRIES, now)
        everyone = 0.0 if self._known(db, person) else wait_after(*counts.get("app", (0, 0.0)), APP_TRIES, now)
        return max((mine, "browser"), (everyone, "app"))

    def _refuse_while_waiting(self, db, browser: str, now: float, person: str) -> None:
        wait, scope = self._wait_left(db, browser, now, person)
        if wait:
            raise TooManyTries(wait, scope)

    def tries_left(self, browser: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.db.read() as db:
            wrong, last = self._counts(db, browser).get(browser, (0, 0.0))
        return BROWSER_TRIES if now - last > QUIET_SECONDS else max(0, BROWSER_TRIES - wrong)

    def attempt(self, browser: str, given: str, password: str, now: float | None = None, account: str = "", **who) -> bool:
        """True for the right password (and the session is signed in as teacher); a wrong one is
        counted for the browser session `browser` and for the app. Raises TooManyTries while a
        wait holds. With `account`, `given` is checked against that teacher account's hash;
        without, against the install's `password`, which signs in its first teacher
        (`accounts.first`). `who`: `person`, who is at the browser (default `browser`), and
        `renew`, the session the sign-in is for: the browser's next token (default `browser`)."""
        now = time.time() if now is None else now
        person = who.get("person") or browser
        with self.db.read() as db:  # argon2 is slow on purpose: checked before the write lock, not under it
            self._refuse_while_waiting(db, browser, now, person)
            if account:
                account = accounts.account_of(db, account, given)
                right = account is not None
            else:
                right, account = bool(password) and password_matches(given, password), accounts.first(db)
        with self.db.write(lock="sign-in") as db:  # counted once by whichever app process asks
            self._refuse_while_waiting(db, browser, now, person)  # the answer is given only within the budget
            if right:
                db.execute(delete(wrong_passwords).where(wrong_passwords.c.scope.in_((browser, "app"))))
                _signed_in(db, who.get("renew") or browser, account, person, now)
                return True
            counts = self._counts(db, browser)
            for key in (browser, "app"):
                wrong, last = counts.get(key, (0, 0.0))
                wrong = 1 if now - last > QUIET_SECONDS else wrong + 1
                upsert(db, wrong_passwords, {"scope": key, "wrong": wrong, "last": now}, ("scope",), ("wrong", "last"))
            return False

    def single_sign_in(self, browser: str, email: str, person: str, now: float | None = None) -> str | None:
        """The session `browser` (its token's hash: a new one) signed in as the teacher whose school
        account `email` is (`st.login` has checked it); that account's name, or None when no
        teacher has it."""
        now = time.time() if now is None else now
        with self.db.write(lock="sign-in") as db:
            if (account := accounts.by_email(db, email)) is not None:
                _signed_in(db, browser, account, person, now)
        return account

    def teacher(self, browser: str, now: float | None = None) -> tuple[SignIn | None, str]:
        """(this browser's teacher sign-in, or None when it is not signed in or the register's class
        is not theirs; why not: "idle" when IDLE_SECONDS passed without a page run, "elsewhere" for
        another teacher's class, else ""). A page run counts as activity, written at most every
        SEEN_EVERY seconds."""
        now = time.time() if now is None else now
        with self.db.read() as db:
            row = db.execute(select(teachers).where(teachers.c.browser == browser)).first()
            if row is None or row.until <= now or not row.sign_in:  # a sign-in from before ids: signed in again
                return None, ""
            if not accounts.teaches(db, row.account, self.class_id):
                return None, "elsewhere"
            if now - row.seen > IDLE_SECONDS:
                db.execute(update(teachers).where(teachers.c.browser == browser).values(until=0))
                return None, "idle"
            if now - row.seen > SEEN_EVERY:
                db.execute(update(teachers).where(teachers.c.browser == browser).values(seen=now))
        return SignIn(row.until, row.account, row.sign_in), ""

    def add_teacher(self, name: str, password: str, email: str, by: Person) -> str:
        """A new teacher account (`accounts.Accounts.add`), made by the school admin: the command
        line, or a sign-in of the install's first teacher that holds now (NotAllowed otherwise)."""
        with self.db.read() as db:
            if by.sign_in or not by.teacher:  # the command line and one person with no password set may
                row = db.execute(
                    select(teachers.c.account).where(teachers.c.person == by.session, teachers.c.sign_in == by.sign_in)
                )
                account = row.scalar()
                holds = accounts.sign_in_holds(db, by.session, by.sign_in, time.time(), by.class_id)
                if not (holds and accounts.is_admin(db, account)):
                    raise NotAllowed("Only the school admin (the install's first teacher) may make teacher accounts.")
        made = accounts.Accounts(self.db).add(name, password)
        if email.strip():
            accounts.Accounts(self.db).set_email(made, email)
        return made

    def accounts_exist(self) -> bool:
        """Whether the school has teacher accounts: then a teacher signs in with name and password."""
        with self.db.read() as db:
            return accounts.any_accounts(db)

    def sign_out(self, browser: str) -> None:
        """The browser's sign-in ends; it stays known as the teacher's (see `wait_left`)."""
        with self.db.read() as db:
            db.execute(update(teachers).where(teachers.c.browser == browser).values(until=0))
