"""The model zoo: every architecture of the source notebooks, by a short stable name.

Each architecture keeps the notebook's exact layers and input shape (built in
`model_store.networks`), and says how its input is prepared (`normalization`) and which label
form its notebook trained with (`labels`). Reading this catalogue does not load TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    normalization: str  # "scale": pixels / 255; "l2": L2-normalised along axis 1 (notebook A)
    labels: str  # "sparse" (integer labels) or "categorical" (one-hot), as its notebook trained
    parameters: int  # trainable and other weights of the built model (a test checks it)
    builder: str  # the function in model_store.networks that builds it

    def build(self, classes: int = 10) -> keras.Model:
        """The network with `classes` outputs: the ten digits, or 11 with "not a digit"."""
        from model_store import networks  # TensorFlow is loaded only once a model is built

        return getattr(networks, self.builder)(classes)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("dense-128", "Notebook D: Dense(128) -> Dense(10)", "scale", "categorical", 101_770, "dense_128"),
        Architecture(
            "dense-128-128",
            "Notebook A: Flatten -> Dense(128) -> Dense(128) -> Dense(10), L2-normalised input",
            "l2",
            "sparse",
            118_282,
            "dense_128_128",
        ),
        Architecture(
            "dense-512-512-dropout",
            "Notebook B: Dense(512) -> Dropout(0.2) -> Dense(512) -> Dropout(0.2) -> Dense(10)",
            "scale",
            "categorical",
            669_706,
            "dense_512_512_dropout",
        ),
        Architecture(
            "cnn-small",
            "Notebook C: Conv(32) -> Pool -> Conv(64) -> Pool -> Dropout(0.25) -> Dense(10)",
            "scale",
            "categorical",
            34_826,
            "cnn_small",
        ),
        Architecture(
            "cnn-lab",
            "The default: 4 conv layers with batch norm, Dense(128), dropout",
            "scale",
            "categorical",
            198_442,
            "cnn_lab",
        ),
        Architecture(
            "cnn-fast",
            "The quick recipe's: Conv(16, 5x5) -> Pool -> Conv(32, 5x5) -> Pool -> Dense(128)",
            "scale",
            "categorical",
            80_202,
            "cnn_fast",
        ),
    ]
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None
