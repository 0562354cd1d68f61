"""A person's name as the class keeps it: cleaned, one script, and compared as it looks. No
Streamlit here; the people (`model_store.people`) and the teacher accounts
(`model_store.accounts`) both build on it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 40
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")  # incl. bidi overrides
FORMULA_START = ("=", "+", "-", "@")  # a spreadsheet runs a cell that starts so


class NameRefused(ValueError):
    """A name that cannot be used, with the reason (and a free one, when it is taken)."""


def clean_name(text: str) -> str:
    """A name as it is kept: NFKC-normalised (a full-width "ａｄａ" is "ada"), spaces collapsed, at
    most MAX_NAME characters, no control, direction-changing or invisible characters, letters of
    one script only, not starting as a spreadsheet formula. Shown as plain text wherever it
    appears (the pages escape it)."""
    text = unicodedata.normalize("NFKC", text or "")
    if CONTROL.search(text):
        raise NameRefused("a name cannot hold control characters")
    if invisible := [c for c in text if unicodedata.category(c) == "Cf"]:
        raise NameRefused(f"a name cannot hold invisible characters (U+{ord(invisible[0]):04X})")
    name = " ".join(text.split())
    if not name:
        raise NameRefused("a name cannot be empty")
    if len(name) > MAX_NAME:
        raise NameRefused(f"a name has at most {MAX_NAME} characters (this one has {len(name)})")
    if name[0] in FORMULA_START:
        raise NameRefused(f"a name cannot start with {name[0]!r}: a spreadsheet would read it as a formula")
    if len(scripts := sorted({_script(c) for c in name if c.isalpha()})) > 1:
        raise NameRefused(f"a name is written in one script (this one mixes {' and '.join(s.title() for s in scripts)} letters)")
    return name


def _script(letter: str) -> str:
    """A letter's script, as its Unicode name starts ("LATIN SMALL LETTER A": LATIN)."""
    return unicodedata.name(letter, "UNKNOWN").split()[0]


# Letters of other scripts that look like Latin ones (after Unicode's confusables, UTS #39): a
# name written with them passes for a Latin one, so two names are one if they look the same.
LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁһвкмнтаαβεικνορτυχ",
    "aeopcyxijsdhbkmhtaabeiknoptyx",
)


def looks(name: str) -> str:
    """What a name looks like: lower case, with look-alike letters of other scripts read as Latin."""
    return name.lower().translate(LOOKALIKES)


def formula_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, quoted with a leading ' (as OWASP
    advises for CSV files); anything else as it is. For every CSV the app writes."""
    if isinstance(value, str) and value[:1] in FORMULA_START + ("\t", "\r"):
        return "'" + value
    return value
