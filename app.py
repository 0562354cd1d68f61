"""MNIST Lab: the entry point. `streamlit run app.py`

The frame only: page config, navigation, and who is at the browser (name and role, in the
sidebar). Every page draws; the logic lives in `model_store` and `training`, which never import
Streamlit.
"""

import threading
from pathlib import Path

import streamlit as st

from pages.common.joining import sidebar_class
from pages.common.people import check_setup, sidebar
from pages.common.sso import single_sign_on

# A local icon: a ":material/...:" page icon makes the browser fetch it from a font server.
st.set_page_config(page_title="MNIST Lab", page_icon=Path(__file__).parent / "pages/common/icon.png", layout="wide")

pages = [
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", default=True),  # served at the root URL
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/experiments.py", title="Experiments", icon=":material/science:", url_path="experiments"),
    st.Page("pages/gallery.py", title="Gallery", icon=":material/grid_view:", url_path="gallery"),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:", url_path="data"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:", url_path="models"),
    st.Page("pages/classroom.py", title="Class", icon=":material/groups:", url_path="class"),
    st.Page("pages/present.py", title="Present", icon=":material/co_present:", url_path="present"),  # the projector's
]


@st.cache_resource(show_spinner=False)
def pick_up_runs() -> threading.Thread:
    """Once per app process, in the background (Ray and TensorFlow take seconds to import): training
    runs the last app process left unfinished go on without anyone opening the Train page."""
    thread = threading.Thread(target=lambda: __import__("training.runs").runs.pick_up(), name="pick-up-runs", daemon=True)
    thread.start()
    return thread


check_setup()  # a teacher password set but empty (or a misspelt key) stops here, saying what to fix
pick_up_runs()
# A disabled widget's label is drawn in the text colour at 40% (2.7:1 on white). WCAG exempts an
# inactive control, but axe-core cannot tell (the label is not inside the disabled control): such
# labels get the captions' 60% (5.2:1; .streamlit/config.toml), still lighter than an active one.
# A compact header on a phone (360x640 is common): Streamlit's top padding and a full-size title
# pushed the bottom of the Draw page's canvas below the fold.
st.html("""<style>
[data-testid="stWidgetLabel"][disabled] { color: rgb(11 12 16 / 60%); }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 3.25rem; }
  [data-testid="stHeading"] h1 { font-size: 1.6rem; padding: 0 0 0.25rem 0; }
}
</style>""")
page = st.navigation(pages)
single_sign_on()  # a school account (st.login) matched to its teacher or student
sidebar_class(sidebar())  # the person's name, role and class, on every page
page.run()
