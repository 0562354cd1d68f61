"""Who may change what the class shares: the teacher, or a student.

Every function that changes something the whole class shares takes the person asking (`by`) and
calls `require` first, so a rule holds whatever page or script calls it, not only because a
button is hidden. A teacher's sign-in is checked against the class database each time a right is
used (`is_teacher`), not when the page was drawn: a tab left open after a Sign out in another tab,
or after the sign-in expired, has no rights left in its buttons, callbacks and fragments.

Students may draw, predict, save drawings, train and run experiments (within the class limits,
`training.limits`), look at everything, download their own drawings, and rename, delete or stop
what they made themselves (`owns`); the command lines act as the teacher (TERMINAL). Without a
teacher password or account (one person on their own computer) everyone is the teacher.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

# What only the teacher may do, as a refusal names it ("another person's": the owner may too).
TEACHER_ONLY = {
    "delete_model": "delete another person's model",
    "rename_model": "rename another person's model",
    "upload_model": "add models from a file",
    "set_default": "choose the class's default model",
    "share_model": "share a model with the whole school",
    "model_job": "calibrate another person's model or build its map",
    "delete_drawings": "delete another person's drawings",
    "export_drawings": "download the whole class's drawings with their names",
    "import_drawings": "add class drawings from a file",
    "stop_any_run": "stop or cancel another person's run",
    "clear_queue": "clear the training queue",
    "set_limits": "change the class limits",
    "rename_person": "rename or merge a person",
    "lesson": "back up, restore or start a lesson",
    "make_class": "make a class or change who may join it",
    "reset_secret": "give a student new secret words",
}


class NotAllowed(PermissionError):
    """The action needs the teacher; the message says so and how to become one."""


@dataclass(frozen=True)
class Person:
    name: str  # the display name runs and drawings carry
    session: str  # the person's opaque id (random, never a token): what a person makes is theirs through it
    teacher: bool = False
    merged: frozenset[str] = frozenset()  # other people's ids the teacher merged into this person
    sign_in: str = ""  # the teacher's sign-in this person came from ("": the command line, or no password set)
    class_id: str = "main"  # the class they act in (database.MAIN, the install's own; `model_store.classes`): what they make and change is its

    @property
    def browsers(self) -> frozenset[str]:
        return self.merged | {self.session}

    @property
    def role(self) -> str:
        return "teacher" if self.teacher else "student"

    @property
    def maker(self) -> dict:
        """This person as what they make records them (`maker`)."""
        return maker(self.name, self.session)


# Whoever runs the command lines on the server has its files anyway: the teacher's rights.
TERMINAL = Person("terminal", "terminal", teacher=True)


def maker(name: str | None, browser: str | None) -> dict:
    """Who made a thing, as models, runs and drawings record it and `owns` reads it: their name
    (only shown) and their person id (the "browser")."""
    return {"name": name, "browser": browser}


def owns(person: Person, owner: dict | None) -> bool:
    """Whether `owner` ({"name", "browser"}, as models, runs and drawings record their maker; the
    "browser" is the maker's person id) is `person`. The name is only shown: anyone can type one;
    the id leads nowhere without its session's token. Things without one (command lines,
    imports, older files) are nobody's but the teacher's."""
    return bool(owner) and owner.get("browser") in person.browsers


def is_teacher(person: Person) -> bool:
    """Whether `person` has the teacher's rights now, in their class: a sign-in is read again from
    the class database (it may have been signed out in another tab, have expired, or its account
    removed; the class may be another teacher's)."""
    if not person.teacher or not person.sign_in:
        return person.teacher
    from model_store.accounts import sign_in_holds  # argon2 and the database: loaded once a sign-in is checked
    from model_store.database import Database

    with Database().read() as db:
        return sign_in_holds(db, person.session, person.sign_in, time.time(), person.class_id)


def require(person: Person, action: str, detail: str = "", owner: dict | None = None) -> None:
    """Refuse `action` (a TEACHER_ONLY key) to a student with NotAllowed, saying what it needs;
    with `owner`, the student who owns the thing may."""
    if owns(person, owner) or is_teacher(person):
        return
    if person.teacher:
        raise NotAllowed(
            f"Only the teacher may {TEACHER_ONLY[action]}{detail}, and your sign-in as teacher has ended "
            "(signed out, perhaps in another tab, or expired): sign in again from the sidebar."
        )
    raise NotAllowed(
        f"Only the teacher may {TEACHER_ONLY[action]}{detail}. You are a student here: "
        "the teacher signs in from the sidebar with the teacher password."
    )


def password_matches(given: str, password: str) -> bool:
    """Compared in constant time, as Streamlit's own password example does."""
    return hmac.compare_digest(given.encode(), password.encode())
