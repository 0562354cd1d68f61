"""Who a browser is: a random session token that only the server issues. No Streamlit here.

A browser holds a token (`secrets.token_urlsafe`, 256 bits) in a cookie of its own (COOKIE); the
class database keeps only the token's SHA-256, with the person it belongs to and when it was last
used. A token the database does not hold (guessed, copied from an ended session, made up) is never
adopted: the browser is given a new one. The person's id is random too and is all a record ever
carries (`roles.owns`): it is no secret, because only a live token leads to it.

- A visit costs nothing until its guest saves something (`keep`): 65,537 cookie-less visits write
  no row.
- A session idle for IDLE_SECONDS is gone; the rows of idle sessions are deleted as new ones are kept.
- At every sign-in and sign-out the token is replaced (`renew`): the old one, wherever a copy of it
  is, leads nowhere, and any sign-in on it ends. So a token planted in the teacher's browser before
  the teacher signs in gives its planter nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, replace

from sqlalchemy import delete, insert, select, update

from model_store.database import MAIN, Database, count_rows, sessions, teachers

COOKIE = "mnist_lab_session"
IDLE_SECONDS = 8 * 24 * 3600  # a week's lesson to the next keeps a student's work theirs
SEEN_EVERY = 60  # a session's last use is written at most this often


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits; cookie-safe characters only


def digest(token: str) -> str:
    """What the database keeps of a token: a stolen database gives no cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_person() -> str:
    """A person's id: random, so nothing about a browser or its cookie can be read from it."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Visit:
    """One browser's session as a page run sees it."""

    token: str  # what the browser's cookie should hold
    person: str  # the person's id
    kept: bool  # the session is in the class database (False: a guest who has saved nothing)
    fresh: bool  # the token is new: the page writes it into the cookie
    class_id: str = MAIN  # the class it is in (`model_store.classes`): a student's, or the one a teacher opened

    @property
    def key(self) -> str:
        return digest(self.token)


class Sessions:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    def visit(self, token: str | None, now: float | None = None) -> Visit:
        """The session a browser's `token` belongs to; a new token and person (written nowhere
        yet) when the database does not hold it, or it has been idle too long."""
        now = time.time() if now is None else now
        if token and (found := self.session_of(token, now)):
            return Visit(token, found[0], kept=True, fresh=False, class_id=found[1])
        return Visit(new_token(), new_person(), kept=False, fresh=True)

    def person_of(self, token: str, now: float | None = None) -> str | None:
        """The person a live token belongs to; None for one unknown, replaced or idle too long."""
        found = self.session_of(token, now)
        return found[0] if found else None

    def session_of(self, token: str, now: float | None = None) -> tuple[str, str] | None:
        """(the person a live token belongs to, the class it is in); None for a token unknown,
        replaced or idle too long. A use counts as activity, written at most every SEEN_EVERY seconds."""
        now = time.time() if now is None else now
        with self.db.read() as db:
            row = db.execute(select(sessions).where(sessions.c.token == digest(token))).first()
            if row is None or now - row.seen > IDLE_SECONDS:
                return None
            if now - row.seen > SEEN_EVERY:
                db.execute(update(sessions).where(sessions.c.token == row.token).values(seen=now))
        return row.person, row.class_id or MAIN

    def keep(self, visit: Visit, now: float | None = None) -> Visit:
        """The visit written down, as its guest saves something: from now on the token leads to
        its person. Idle sessions are deleted here, so rows stay bounded by the people active."""
        if visit.kept:
            return visit
        now = time.time() if now is None else now
        with self.db.read() as db:
            db.execute(delete(sessions).where(sessions.c.seen < now - IDLE_SECONDS))
            db.execute(insert(sessions).values(token=visit.key, person=visit.person, seen=now, class_id=visit.class_id))
        return replace(visit, kept=True)

    def open(self, person: str, now: float | None = None) -> Visit:
        """A new kept session for `person` (the command line's and tests' way in)."""
        return self.keep(Visit(new_token(), person, kept=False, fresh=True), now)

    def renew(self, visit: Visit, token: str | None = None, now: float | None = None, **becomes) -> Visit:
        """The same person under a new token (`token`, or a new one), at a sign-in or sign-out:
        the old token is forgotten and any sign-in on it ends, in one transaction. `becomes`:
        `person` and `class_id`, when the browser is now someone else (a student who joined)."""
        now = time.time() if now is None else now
        token = token or new_token()
        person, class_id = becomes.get("person", visit.person), becomes.get("class_id", visit.class_id)
        with self.db.write() as db:
            db.execute(delete(sessions).where(sessions.c.token == visit.key))
            db.execute(update(teachers).where(teachers.c.browser == visit.key).values(until=0))
            db.execute(insert(sessions).values(token=digest(token), person=person, seen=now, class_id=class_id))
        return Visit(token, person, kept=True, fresh=True, class_id=class_id)

    def move(self, visit: Visit, class_id: str) -> Visit:
        """The session into another class (a teacher opening one of theirs: the page offers only
        those, and every right is checked in the class it is used in, `accounts.teaches`)."""
        with self.db.read() as db:
            db.execute(update(sessions).where(sessions.c.token == visit.key).values(class_id=class_id))
        return replace(visit, class_id=class_id)

    def count(self) -> int:
        with self.db.read() as db:
            return count_rows(db, sessions)
