"""The model zoo: the notebooks' exact layers and parameter counts."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.networks import custom_cnn, custom_dense, summary_rows
from model_store.zoo import ARCHITECTURES, get_architecture

EXPECTED = {
    # name: (parameters, layer types, input shape, normalization, labels)
    "dense-128": (101_770, ["Dense", "Dense"], (784,), "scale", "categorical"),
    "dense-128-128": (118_282, ["Flatten", "Dense", "Dense", "Dense"], (28, 28), "l2", "sparse"),
    "dense-512-512-dropout": (
        669_706,
        ["Dense", "Activation", "Dropout", "Dense", "Activation", "Dropout", "Dense", "Activation"],
        (784,),
        "scale",
        "categorical",
    ),
    "cnn-small": (
        34_826,
        ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"],
        (28, 28, 1),
        "scale",
        "categorical",
    ),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_architectures_have_their_exact_layers_and_parameter_counts(name):
    params, layer_types, input_shape, normalization, labels = EXPECTED[name]
    arch = ARCHITECTURES[name]
    model = arch.build()
    assert model.count_params() == params == arch.parameters  # --list-archs prints the catalogue's figure
    assert [type(layer).__name__ for layer in model.layers] == layer_types
    assert model.input_shape[1:] == input_shape
    assert model.output_shape[1:] == (10,)
    assert (arch.normalization, arch.labels) == (normalization, labels)


def test_every_catalogued_parameter_count_is_the_built_models():
    assert {name: arch.build().count_params() for name, arch in ARCHITECTURES.items()} == {
        name: arch.parameters for name, arch in ARCHITECTURES.items()
    }


def test_the_small_cnn_has_34826_trainable_parameters():
    model = ARCHITECTURES["cnn-small"].build()
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 34_826


def test_the_lab_cnn_is_there_and_ends_in_ten_probabilities():
    model = ARCHITECTURES["cnn-lab"].build()
    assert model.output_shape == (None, 10)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert any(type(layer).__name__ == "BatchNormalization" for layer in model.layers)


def test_custom_stacks_follow_the_sizes_given():
    dense = custom_dense([256, 64], dropout=0.2)
    assert [layer.units for layer in dense.layers if type(layer).__name__ == "Dense"] == [256, 64, 10]
    cnn = custom_cnn([16, 32], [64])
    assert [layer.filters for layer in cnn.layers if type(layer).__name__ == "Conv2D"] == [16, 32]


def test_summary_rows_give_layer_shape_and_parameters():
    rows = summary_rows(ARCHITECTURES["cnn-small"].build())
    assert rows[0][1:] == ["Conv2D", "(None, 26, 26, 32)", 320]
    assert sum(r[3] for r in rows) == 34_826


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="cnn-small"):
        get_architecture("resnet")
