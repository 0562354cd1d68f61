"""The model zoo: every architecture of the source notebooks, by a short stable name.

Each architecture keeps the notebook's exact layers and input shape, and says how its input
is prepared (`normalization`) and which label form its notebook trained with (`labels`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
from keras import layers

NUM_CLASSES = 10


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    normalization: str  # "scale": pixels / 255; "l2": L2-normalised along axis 1 (notebook A)
    labels: str  # "sparse" (integer labels) or "categorical" (one-hot), as its notebook trained
    build: Callable[[], keras.Model]


def dense_128() -> keras.Model:
    """Notebook D: the smallest network."""
    return keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="dense_128",
    )


def dense_128_128() -> keras.Model:
    """Notebook A: Flatten, two hidden layers of 128."""
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="dense_128_128",
    )


def dense_512_512_dropout() -> keras.Model:
    """Notebook B: two wide layers, activations and dropout as separate layers."""
    return keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(512),
            layers.Activation("relu"),
            layers.Dropout(0.2),
            layers.Dense(512),
            layers.Activation("relu"),
            layers.Dropout(0.2),
            layers.Dense(NUM_CLASSES),
            layers.Activation("softmax"),
        ],
        name="dense_512_512_dropout",
    )


def cnn_small() -> keras.Model:
    """Notebook C: two conv blocks, 34,826 parameters."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="cnn_small",
    )


def _batch_norm() -> layers.Layer:
    # Momentum 0.9, not Keras' 0.99: after a one-epoch run the moving statistics must already
    # be right, or the trained model predicts at chance (measured: 11% test accuracy).
    return layers.BatchNormalization(momentum=0.9)


def _conv_bn(filters: int, **kwargs) -> list[layers.Layer]:
    # Batch normalisation before the activation; the conv needs no bias then.
    return [layers.Conv2D(filters, 3, use_bias=False, **kwargs), _batch_norm(), layers.Activation("relu")]


def cnn_lab() -> keras.Model:
    """The project's own CNN: two double-conv blocks with batch norm, a dense head."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            *_conv_bn(32),
            *_conv_bn(32),
            layers.MaxPooling2D(),
            layers.Dropout(0.1),
            *_conv_bn(64),
            *_conv_bn(64),
            layers.MaxPooling2D(),
            layers.Dropout(0.1),
            layers.Flatten(),
            layers.Dense(128, use_bias=False),
            _batch_norm(),
            layers.Activation("relu"),
            layers.Dropout(0.3),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="cnn_lab",
    )


def _dense_head(units: Sequence[int], dropout: float) -> list[layers.Layer]:
    """Dense(relu) layers of the given widths, each followed by dropout, then the softmax."""
    head: list[layers.Layer] = []
    for width in units:
        head.append(layers.Dense(width, activation="relu"))
        if dropout:
            head.append(layers.Dropout(dropout))
    return [*head, layers.Dense(NUM_CLASSES, activation="softmax")]


def custom_dense(units: Sequence[int], dropout: float = 0.0) -> keras.Model:
    """A dense stack of any widths, for the notebooks' 'how many layers?' experiments."""
    return keras.Sequential([keras.Input((784,)), *_dense_head(units, dropout)], name="custom_dense")


def custom_cnn(filters: Sequence[int], units: Sequence[int] = (), dropout: float = 0.0) -> keras.Model:
    """Conv(3x3, relu) + MaxPool blocks of the given widths, then dropout and a dense head."""
    stack: list[layers.Layer] = [keras.Input((28, 28, 1))]
    for width in filters:
        stack += [layers.Conv2D(width, 3, activation="relu", padding="same"), layers.MaxPooling2D()]
    stack.append(layers.Flatten())
    if dropout:
        stack.append(layers.Dropout(dropout))
    return keras.Sequential([*stack, *_dense_head(units, dropout)], name="custom_cnn")


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("dense-128", "Notebook D: Dense(128) -> Dense(10)", "scale", "categorical", dense_128),
        Architecture(
            "dense-128-128",
            "Notebook A: Flatten -> Dense(128) -> Dense(128) -> Dense(10), L2-normalised input",
            "l2",
            "sparse",
            dense_128_128,
        ),
        Architecture(
            "dense-512-512-dropout",
            "Notebook B: Dense(512) -> Dropout(0.2) -> Dense(512) -> Dropout(0.2) -> Dense(10)",
            "scale",
            "categorical",
            dense_512_512_dropout,
        ),
        Architecture(
            "cnn-small",
            "Notebook C: Conv(32) -> Pool -> Conv(64) -> Pool -> Dropout(0.25) -> Dense(10)",
            "scale",
            "categorical",
            cnn_small,
        ),
        Architecture(
            "cnn-lab",
            "The default: 4 conv layers with batch norm, Dense(128), dropout",
            "scale",
            "categorical",
            cnn_lab,
        ),
    ]
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def summary_rows(model: keras.Model) -> list[list]:
    """The model summary as notebook C prints it: layer, type, output shape, parameters."""
    return [
        [layer.name, type(layer).__name__, str(tuple(layer.output.shape)), int(layer.count_params())] for layer in model.layers
    ]
