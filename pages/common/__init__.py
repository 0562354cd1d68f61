"""What every page shares. A subfolder, so Streamlit never lists it as a page."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def through_app_frame() -> None:
    """Make a page always run inside `app.py`, even opened first at its own URL.

    With a `pages/` folder beside the entry point, a fresh server starts in Streamlit's old
    multipage mode: `/data` runs `pages/data.py` on its own (no page config, a sidebar listing
    every file) until some session has called `st.navigation`. This switches it over and reruns.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
