"""People for tests: the teacher, and two students at two browsers."""

from model_store.roles import Person

TEACHER = Person("teacher", "teacher-browser", teacher=True)
STUDENT = Person("ada", "ada-browser")
OTHER_STUDENT = Person("bob", "bob-browser")
