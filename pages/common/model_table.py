"""The Models page's table of every model the class may use, and how a model's maker is named."""

import pandas as pd
import streamlit as st

from model_store import StoredModel


def overview(models: list[StoredModel], default: str | None) -> None:
    """A row a model: who made it, whether it is the class's default or shared with every class, its figures."""
    rows = [
        {
            "name": m.name,
            "owner": owner_of(m),
            "default": m.name == default,
            "every class's": m.bundled or bool(m.record.get("shared")),
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
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"test accuracy": st.column_config.NumberColumn(format="percent")},
    )


def owner_of(entry: StoredModel) -> str:
    if entry.bundled:
        return "bundled"
    return (entry.record.get("owner") or {}).get("name") or "teacher (command line or older)"
