"""The stored models."""

import pandas as pd
import streamlit as st

from model_store import ModelStore

st.title("Models")
store = ModelStore()
models = store.list()
if not models:
    st.info(f"No models yet in `{store.root}`. Train one with `python -m training --preset seed-c`.")
    st.stop()
default = store.default().name if any(not m.broken for m in models) else None
rows = [
    {
        "name": m.name,
        "default": m.name == default,
        "architecture": m.record.get("architecture"),
        "test accuracy": m.record.get("metrics", {}).get("test_accuracy"),
        "parameters": m.record.get("parameters"),
        "training s": m.record.get("training_seconds"),
        "created": m.record.get("created"),
        "status": f"broken: {m.error}" if m.broken else ("bundled" if m.bundled else "ok"),
    }
    for m in models
]
st.dataframe(
    pd.DataFrame(rows), hide_index=True, column_config={"test accuracy": st.column_config.NumberColumn(format="percent")}
)
