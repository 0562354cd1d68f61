"""A school's classes, and the students who come back to them. No Streamlit here.

- A class has a name, a teacher account (`model_store.accounts`), a join code and its own
  drawings, people, runs, limits and lessons. MAIN is the install's own class: a one-class
  install never makes another, and a visitor who has joined none is its guest.
- The join code is CODE_LENGTH letters of CODE_LETTERS (no 0/O, 1/I/L to misread): 31^8, about
  8.5e11 codes. Wrong codes are counted per address (WRONG_CODES a minute) and for the whole
  school (SCHOOL_CODES), never per cookie (a script makes new ones for free); past either, every
  try from there waits for the minute to end. At the school's rate, about 6e7 guesses a year:
  finding one of 100 classes' codes takes about 135 years on average. A flood from one address
  holds up only that address; a flood from many, joining by code for a minute, never a session
  already open.
- A student joins with the code, their name and a secret a child can keep: two words from
  WORDS (picked from lists, so nothing is misspelt). The first join chooses it; from then on the
  same three lead to the same person, on any browser, so their drawings, models and runs follow
  them. The secret is kept as its argon2id hash. Wrong secrets are counted per student (before
  the words are checked): after SECRET_TRIES, waits from FIRST_WAIT doubling to LONGEST_WAIT; a
  quiet day starts the count again. The teacher resets a forgotten one (`reset_secret`): new
  words, shown once.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update

from model_store.accounts import clean_email, password_hasher
from model_store.database import MAIN, Database, people, students, upsert, wrong_passwords
from model_store.database import classes as table
from model_store.names import clean_name, looks
from model_store.people import QUIET_SECONDS, holders_of, wait_after
from model_store.roles import Person, require

CODE_LETTERS = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
WRONG_CODES = 20  # a minute, from one address (a classroom behind one router: 20 mistypes a minute)
SCHOOL_CODES = 120  # a minute, from anywhere: what bounds guessing when addresses are many
SECRET_TRIES = 10  # wrong secret words in a row for one student before waits start
FIRST_WAIT, LONGEST_WAIT = 30.0, 900.0  # then waits double, at most a quarter of an hour
_hashing = threading.BoundedSemaphore(2)  # argon2 checks at once in a process: each takes 64 MiB and ~0.1 s of a core

# Two of these make a student's secret: short, concrete, easy to picture (256, so 65,536 pairs).
WORDS = tuple(
    sorted(
        set(
            """
    acorn apple arrow badger bagel banana basket beach beaver bell berry bicycle birch biscuit
    blanket boat bonnet boot bottle branch bread brick bridge broom bubble bucket bunny button
    cabin cactus cake camel candle canoe carrot castle cat cello chalk cherry chess cloud clover
    coat comet cookie coral corn cow crab crayon cricket crown cup daisy deer desert dinosaur
    dolphin donkey dragon drum duck eagle egg elephant elk fern fiddle finch fish flag flute
    forest fox frog garden giraffe glove goat goose grape guitar hammer harbor hat hawk hedgehog
    helmet hill honey horse igloo island jacket jam jelly kayak kettle kite kitten koala ladder
    lake lamp lantern leaf lemon lion lizard llama lobster lotus mango maple marble meadow melon
    mitten monkey moon moose mountain mouse muffin mushroom nest noodle oak ocean octopus olive
    orange otter owl paddle panda parrot peach peanut pear pebble pencil penguin pepper piano
    pickle pigeon pillow pine pizza planet plum pony popcorn potato pretzel puffin pumpkin puppy
    quilt rabbit raccoon radish rainbow raven robin rocket rose saddle sailboat salmon sandal
    scarf seal shark sheep shell ship shovel skate sled snail snow sock spoon squid squirrel star
    starfish stone strawberry sun swan sweater table teapot tent tiger toast tomato tortoise
    tractor train tree trumpet tulip turtle umbrella unicorn valley violin volcano wagon walnut
    walrus whale wheel willow window wolf yak yogurt zebra acrobat anchor apricot astronaut
    avocado bamboo beetle blueberry bramble cabbage canyon caramel cedar cheetah chestnut cobra
    compass cupcake dune emerald falcon feather firefly flamingo gecko glacier harp heron jaguar
    jasmine kiwi lagoon lighthouse magnet marsh narwhal nutmeg orchid pelican plateau reef sparrow
    sunflower thistle toucan waffle
    """.split()
        )
    )
)


class ClassError(ValueError):
    """A class or a join that cannot be: the message says why, for a person."""


class WrongJoin(ClassError):
    """A join code, or a student's secret, that is not right (which of the two is said)."""


class JoinWait(ClassError):
    """Too many wrong codes or secrets: `seconds` to wait."""

    def __init__(self, message: str, seconds: float):
        super().__init__(message)
        self.seconds = seconds


@dataclass(frozen=True)
class Class:
    id: str
    name: str
    code: str
    teacher: str | None  # the account it belongs to; None: every teacher's
    guests: bool  # visitors may draw in it without joining
    created: str


def new_code() -> str:
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))


def clean_code(typed: str) -> str:
    """A code as typed (any case, spaces or dashes between its letters) as it is kept."""
    return "".join(c for c in (typed or "").upper() if c.isalnum())


def new_secret() -> tuple[str, str]:
    return secrets.choice(WORDS), secrets.choice(WORDS)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _class(row) -> Class:
    return Class(row.id, row.name, row.code, row.teacher, bool(row.guests), row.created)


class Classes:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    # ------------------------------------------------------------ the classes

    def create(self, name: str, by: Person, teacher: str | None = None) -> Class:
        """A new class with a fresh join code, for `teacher` (an account's name; the command line
        names one, a teacher on the Class page makes their own)."""
        require(by, "make_class")
        name = clean_name(name)
        with self.db.write(lock="classes") as db:
            if any(looks(held) == looks(name) for held in db.execute(select(table.c.name)).scalars()):
                raise ClassError(f"the school already has a class called {name!r}")
            taken = set(db.execute(select(table.c.code)).scalars())
            code = next(c for c in iter(new_code, None) if c not in taken)
            row = {"id": secrets.token_hex(8), "name": name, "code": code, "teacher": teacher, "guests": True, "created": _now()}
            db.execute(insert(table).values(**row))
        return Class(**row)

    def all(self) -> list[Class]:
        """Every class of the school: the install's own first, then the oldest first."""
        with self.db.read() as db:
            found = [_class(r) for r in db.execute(select(table))]
        return sorted(found, key=lambda c: (c.id != MAIN, c.created, c.name.lower()))

    def of_teacher(self, account: str | None) -> list[Class]:
        """The classes a teacher sees: their own and those that are every teacher's (MAIN); with
        no account (the install's password, or the command line), every class."""
        return [c for c in self.all() if account is None or c.teacher in (None, account)]

    def get(self, class_id: str) -> Class:
        with self.db.read() as db:
            row = db.execute(select(table).where(table.c.id == class_id)).first()
        if row is None:
            raise ClassError(f"no class has the id {class_id!r}")
        return _class(row)

    def named(self, name: str) -> Class:
        """The class called `name` (`--class NAME` on the command lines)."""
        found = [c for c in self.all() if looks(c.name) == looks(name.strip())]
        if not found:
            names = ", ".join(c.name for c in self.all())
            raise ClassError(f"no class is called {name!r} (the school's classes: {names})")
        return found[0]

    def set_guests(self, allowed: bool, by: Person) -> None:
        """Whether visitors may draw in `by`'s class without joining (its teacher's to say)."""
        require(by, "make_class")
        with self.db.read() as db:
            db.execute(update(table).where(table.c.id == by.class_id).values(guests=allowed))

    # ------------------------------------------------------------ students

    def join(
        self, code: str, name: str, words: tuple[str, str], person: str, now: float | None = None, source: str = ""
    ) -> tuple[Class, str]:
        """(the class, the student's person id) for a join code, a name and two secret words.
        A name new in the class makes a student with those words (`person`, who is at the
        browser, becomes them); a student's name leads to them only with their words. WrongJoin
        or JoinWait otherwise. `source`: where the try comes from (the browser's address), whose
        own wrong codes are counted too."""
        now = time.time() if now is None else now
        name, words = clean_name(name), _checked_words(words)
        found = self._by_code(code, now, source)
        with self.db.read() as db:
            holders = holders_of(db, found.id, name)
            holder = min(holders) if len(holders) == 1 else None
            hashed = db.execute(select(students.c.secret).where(students.c.person == holder)).scalar() if holder else None
        if hashed is None and holders - {person}:
            raise WrongJoin(f"{name!r} is someone's name in {found.name} who chose no secret words: pick another name")
        if hashed is None:  # a new student, or this browser's guest choosing a secret
            return found, self._enrol(found, name, words, person)
        self._check_secret(holder, hashed, words, now)
        return found, holder

    def _by_code(self, code: str, now: float, source: str) -> Class:
        """The class of a join code. The try is counted before the code is looked at, in one locked
        write (so tries at once cannot pass the budget together), and given back when it is right."""
        scopes = [("codes", SCHOOL_CODES)] + ([(f"codes:{source}", WRONG_CODES)] if source else [])
        with self.db.write(lock="codes") as db:
            for scope, allowed in scopes:
                _refuse_in_window(db, scope, now, allowed)
            for scope, _ in scopes:
                _count_in_window(db, scope, now, +1)
            row = db.execute(select(table).where(table.c.code == clean_code(code))).first()
            if row is not None:
                for scope, _ in scopes:
                    _count_in_window(db, scope, now, -1)
        if row is None:  # raised once the count is written: inside, it would undo it
            raise WrongJoin("no class has that code: check it with your teacher")
        return _class(row)

    def _enrol(self, found: Class, name: str, words: tuple[str, str], person: str) -> str:
        with _hashing:  # slow on purpose: before the lock, not under it
            hashed = password_hasher().hash(" ".join(words))
        with self.db.write(lock="names") as db:
            if holders_of(db, found.id, name) - {person}:
                raise WrongJoin(f"{name!r} was just taken in {found.name}: pick another name")
            upsert(
                db,
                people,
                {"browser": person, "name": name, "since": _now(), "class_id": found.id},
                ("browser",),
                ("name", "class_id"),
            )
            upsert(
                db,
                students,
                {"person": person, "class_id": found.id, "secret": hashed, "created": _now()},
                ("person",),
                ("secret", "class_id"),
            )
        return person

    def _check_secret(self, student: str, hashed: str, words: tuple[str, str], now: float) -> None:
        """The words checked, the try counted first (as `_by_code`); the count ends when they are right."""
        scope = f"secret:{student}"
        with self.db.write(lock=scope) as db:
            row = db.execute(select(wrong_passwords).where(wrong_passwords.c.scope == scope)).first()
            wrong, last = (row.wrong, row.last) if row else (0, 0.0)
            if wait := wait_after(wrong, last, SECRET_TRIES, now, FIRST_WAIT, LONGEST_WAIT):
                raise JoinWait(f"Too many wrong secret words for this student: wait {wait:.0f} s before the next try.", wait)
            wrong = 0 if now - last > QUIET_SECONDS else wrong  # a quiet day starts the count again
            upsert(db, wrong_passwords, {"scope": scope, "wrong": wrong + 1, "last": now}, ("scope",), ("wrong", "last"))
        try:
            with _hashing:
                password_hasher().verify(hashed, " ".join(words))
        except (VerificationError, InvalidHashError):
            raise WrongJoin("those are not this student's secret words (your teacher can give you new ones)") from None
        with self.db.read() as db:
            db.execute(delete(wrong_passwords).where(wrong_passwords.c.scope == scope))

    def student_by_email(self, email: str) -> tuple[str, str] | None:
        """(the person, their class) of the student whose school account `email` is; None when none."""
        with self.db.read() as db:
            row = db.execute(select(students.c.person, students.c.class_id).where(students.c.email == clean_email(email))).first()
        return (row.person, row.class_id) if row else None

    def link_email(self, person: str, email: str) -> None:
        """A student's school account (they joined signed in with it): from now on it leads to them."""
        email = clean_email(email)
        with self.db.write(lock="names") as db:
            db.execute(update(students).where(students.c.email == email).values(email=None))  # one person an address
            db.execute(update(students).where(students.c.person == person).values(email=email))

    def students(self, class_id: str) -> list[str]:
        """The names of the class's students (those with a secret), in order."""
        query = select(people.c.name).join(students, students.c.person == people.c.browser).where(students.c.class_id == class_id)
        with self.db.read() as db:
            return sorted(db.execute(query).scalars(), key=str.lower)

    def reset_secret(self, name: str, by: Person) -> tuple[str, str]:
        """New secret words for a student of `by`'s class who forgot theirs (its teacher's); its waits end."""
        require(by, "reset_secret")
        class_id = by.class_id
        words = new_secret()
        with _hashing:
            hashed = password_hasher().hash(" ".join(words))
        with self.db.write(lock="names") as db:
            joined = select(students.c.person).where(students.c.class_id == class_id)
            holder = next(iter(holders_of(db, class_id, clean_name(name)) & set(db.execute(joined).scalars())), None)
            if holder is None:
                raise ClassError(f"no student of this class is called {name!r}")
            db.execute(update(students).where(students.c.person == holder).values(secret=hashed))
            db.execute(delete(wrong_passwords).where(wrong_passwords.c.scope == f"secret:{holder}"))
        return words

    def student_class(self, person: str) -> str | None:
        with self.db.read() as db:
            return db.execute(select(students.c.class_id).where(students.c.person == person)).scalar()


def _checked_words(words) -> tuple[str, str]:
    words = tuple(str(w).strip().lower() for w in words)
    if len(words) != 2 or any(w not in WORDS for w in words):
        raise WrongJoin("a secret is two words from the lists")
    return words


def _refuse_in_window(db: Connection, scope: str, now: float, allowed: int) -> None:
    """JoinWait while `scope` has had `allowed` wrong codes in the minute that began at its `last`."""
    row = db.execute(select(wrong_passwords).where(wrong_passwords.c.scope == scope)).first()
    if row is not None and now - row.last < 60 and row.wrong >= allowed:
        whose = "in this school" if scope == "codes" else "from this address"
        raise JoinWait(
            f"Too many wrong class codes {whose} in the last minute: wait {row.last + 60 - now:.0f} s.", row.last + 60 - now
        )


def _count_in_window(db: Connection, scope: str, now: float, step: int) -> None:
    """One more try (`step` +1) in the scope's minute, a new minute if the last is over; or one given back (-1)."""
    row = db.execute(select(wrong_passwords).where(wrong_passwords.c.scope == scope)).first()
    wrong, last = (row.wrong, row.last) if row is not None and now - row.last < 60 else (0, now)
    upsert(db, wrong_passwords, {"scope": scope, "wrong": max(0, wrong + step), "last": last}, ("scope",), ("wrong", "last"))
