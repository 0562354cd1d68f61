"""Train a model in the browser (the live Train page is its own piece of work)."""

import streamlit as st

from pages.common import through_app_frame
from training.config import PRESETS

through_app_frame()

st.title("Train")
st.info("Training in the browser is on its way. Until then, train from the command line:")
st.code("python -m training --preset seed-c        # notebook C's CNN\npython -m training --list-archs", language="bash")
st.write("Presets:", ", ".join(f"`{name}`" for name in PRESETS))
