"""People for tests: the teacher, and two students at two browsers."""

from model_store.roles import Person

TEACHER = Person("teacher", "teacher-browser", teacher=True)
STUDENT = Person("ada", "ada-browser")
OTHER_STUDENT = Person("bob", "bob-browser")


def signed_in_as_teacher(at, password: str):
    """An AppTest session at the teacher's browser, signed in (AppTest has no cookie: the page
    takes the browser's id from the session), as the sidebar's sign-in leaves it."""
    from model_store.people import Register

    at.session_state["session_id"] = TEACHER.session
    assert Register().attempt(TEACHER.session, password, password)
    return at
