"""People for tests: the teacher, and two students at two browsers."""

from model_store.roles import Person

TEACHER = Person("teacher", "teacher-browser", teacher=True)
STUDENT = Person("ada", "ada-browser")
OTHER_STUDENT = Person("bob", "bob-browser")


def at_browser(at, person: str) -> str:
    """An AppTest session holding a live session of `person` (AppTest has no cookie: the page finds
    the session in its state, as a tab does after its first page run); the session's key."""
    from model_store.sessions import Sessions

    visit = Sessions().open(person)
    at.session_state["who_visit"] = visit
    return visit.key


def signed_in_as_teacher(at, password: str, person: str = TEACHER.session):
    """An AppTest session at the teacher's browser, signed in, as the sidebar's sign-in leaves it."""
    from model_store.people import Register

    assert Register().attempt(at_browser(at, person), password, password, person=person)
    return at
