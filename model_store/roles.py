"""Who may change what the class shares: the teacher, or a student.

Every function that changes something the whole class shares takes the person asking (`by`) and
calls `require` first, so a rule holds whatever page or script calls it, not only because a
button is hidden. Students may draw, predict, save drawings, train and run experiments (within
the class limits, `training.limits`), look at everything, download, and stop their own runs; the
command lines act as the teacher (TERMINAL).
Without a teacher password (one person on their own computer) everyone is the teacher.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass

# What only the teacher may do, as a refusal names it.
TEACHER_ONLY = {
    "delete_model": "delete models",
    "rename_model": "rename models",
    "upload_model": "add models from a file",
    "set_default": "choose the class's default model",
    "delete_drawings": "delete class drawings",
    "import_drawings": "add class drawings from a file",
    "stop_any_run": "stop or cancel another person's run",
    "clear_queue": "clear the training queue",
    "set_limits": "change the class limits",
}
MAX_TRIES = 5  # wrong passwords in a row before a wait
WAIT_SECONDS = 60
IDLE_SECONDS = 60 * 60  # a teacher idle this long is a student again


class NotAllowed(PermissionError):
    """The action needs the teacher; the message says so and how to become one."""


@dataclass(frozen=True)
class Person:
    name: str  # the display name runs and drawings carry
    session: str  # the browser's id: what a person owns (their runs) is kept under it
    teacher: bool = False

    @property
    def role(self) -> str:
        return "teacher" if self.teacher else "student"


# Whoever runs the command lines on the server has its files anyway: the teacher's rights.
TERMINAL = Person("terminal", "terminal", teacher=True)


def require(person: Person, action: str, detail: str = "") -> None:
    """Refuse `action` (a TEACHER_ONLY key) to a student with NotAllowed, saying what it needs."""
    if not person.teacher:
        raise NotAllowed(
            f"Only the teacher may {TEACHER_ONLY[action]}{detail}. You are a student here: "
            "the teacher signs in from the sidebar with the teacher password."
        )


def password_matches(given: str, password: str) -> bool:
    """Compared in constant time, as Streamlit's own password example does."""
    return hmac.compare_digest(given.encode(), password.encode())


class TooManyTries(PermissionError):
    """Too many wrong passwords from one browser: `seconds` to wait."""

    def __init__(self, seconds: float):
        super().__init__(f"Too many wrong passwords: wait {seconds:.0f} s before the next try.")
        self.seconds = seconds


class SignIns:
    """Wrong teacher passwords, counted per browser: after MAX_TRIES in a row, WAIT_SECONDS before
    the next try. One per app process; a right password clears the count."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}  # browser: (wrong in a row, the last one's time)
        self._lock = threading.Lock()

    def wait_left(self, browser: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        wrong, last = self._failures.get(browser, (0, 0.0))
        return max(0.0, last + WAIT_SECONDS - now) if wrong >= MAX_TRIES else 0.0

    def tries_left(self, browser: str) -> int:
        return max(0, MAX_TRIES - self._failures.get(browser, (0, 0.0))[0])

    def attempt(self, browser: str, given: str, password: str, now: float | None = None) -> bool:
        """True for the right password; raises TooManyTries while this browser must wait."""
        now = time.time() if now is None else now
        with self._lock:
            if wait := self.wait_left(browser, now):
                raise TooManyTries(wait)
            if password_matches(given, password):
                self._failures.pop(browser, None)
                return True
            wrong, _ = self._failures.get(browser, (0, 0.0))
            # After a wait, the next wrong one starts another wait at once.
            self._failures[browser] = (wrong + 1 if wrong < MAX_TRIES else MAX_TRIES, now)
            return False
