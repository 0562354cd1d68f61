"""The Keras layers of every architecture in the zoo (`model_store.zoo` names them), and the
custom stacks of the notebooks' "how many layers?" experiments. Importing this loads TensorFlow."""

from __future__ import annotations

from collections.abc import Sequence

from model_store.backend import keras

layers = keras.layers
NUM_CLASSES = 10  # the digits; a model trained with non-digits has an 11th output, "not a digit"


def dense_128(classes: int = NUM_CLASSES) -> keras.Model:
    """Notebook D: the smallest network."""
    return keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        name="dense_128",
    )


def dense_128_128(classes: int = NUM_CLASSES) -> keras.Model:
    """Notebook A: Flatten, two hidden layers of 128."""
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        name="dense_128_128",
    )


def dense_512_512_dropout(classes: int = NUM_CLASSES) -> keras.Model:
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
            layers.Dense(classes),
            layers.Activation("softmax"),
        ],
        name="dense_512_512_dropout",
    )


def cnn_small(classes: int = NUM_CLASSES) -> keras.Model:
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
            layers.Dense(classes, activation="softmax"),
        ],
        name="cnn_small",
    )


def cnn_fast(classes: int = NUM_CLASSES) -> keras.Model:
    """The class's quick recipe: two 5x5 conv layers, each pooled before its activation (the same
    result on a quarter of the values), a dense layer; 80,202 parameters, no batch norm or dropout.
    Measured here: 99.18-99.33% in two epochs of ~2.7 s (six seeds, `benchmarks/speed.py`)."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 5),
            layers.MaxPooling2D(),
            layers.Activation("relu"),
            layers.Conv2D(32, 5),
            layers.MaxPooling2D(),
            layers.Activation("relu"),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        name="cnn_fast",
    )


def _batch_norm() -> layers.Layer:
    # Momentum 0.9, not Keras' 0.99: after a one-epoch run the moving statistics must already
    # be right, or the trained model predicts at chance (measured: 11% test accuracy).
    return layers.BatchNormalization(momentum=0.9)


def _conv_bn(filters: int, **kwargs) -> list[layers.Layer]:
    # Batch normalisation before the activation; the conv needs no bias then.
    return [layers.Conv2D(filters, 3, use_bias=False, **kwargs), _batch_norm(), layers.Activation("relu")]


def cnn_lab(classes: int = NUM_CLASSES) -> keras.Model:
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
            layers.Dense(classes, activation="softmax"),
        ],
        name="cnn_lab",
    )


def _dense_head(units: Sequence[int], dropout: float, classes: int) -> list[layers.Layer]:
    """Dense(relu) layers of the given widths, each followed by dropout, then the softmax."""
    head: list[layers.Layer] = []
    for width in units:
        head.append(layers.Dense(width, activation="relu"))
        if dropout:
            head.append(layers.Dropout(dropout))
    return [*head, layers.Dense(classes, activation="softmax")]


def custom_dense(units: Sequence[int], dropout: float = 0.0, classes: int = NUM_CLASSES) -> keras.Model:
    """A dense stack of any widths, for the notebooks' 'how many layers?' experiments."""
    return keras.Sequential([keras.Input((784,)), *_dense_head(units, dropout, classes)], name="custom_dense")


def custom_cnn(
    filters: Sequence[int], units: Sequence[int] = (), dropout: float = 0.0, classes: int = NUM_CLASSES
) -> keras.Model:
    """Conv(3x3, relu) + MaxPool blocks of the given widths, then dropout and a dense head."""
    stack: list[layers.Layer] = [keras.Input((28, 28, 1))]
    for width in filters:
        stack += [layers.Conv2D(width, 3, activation="relu", padding="same"), layers.MaxPooling2D()]
    stack.append(layers.Flatten())
    if dropout:
        stack.append(layers.Dropout(dropout))
    return keras.Sequential([*stack, *_dense_head(units, dropout, classes)], name="custom_cnn")


def summary_rows(model: keras.Model) -> list[list]:
    """The model summary as notebook C prints it: layer, type, output shape, parameters."""
    return [
        [layer.name, type(layer).__name__, str(tuple(layer.output.shape)), int(layer.count_params())] for layer in model.layers
    ]
