"""The shared model module: MNIST data, image preparation, the model zoo, the store, prediction.

Never imports Streamlit: the pages, the training engine and the command line all use it.
"""

import importlib

from model_store.data import MnistNotFound, data_fingerprint, load_mnist
from model_store.preprocess import ImageError, Prepared, decode_image, normalize, prepare
from model_store.store import ModelStore, StoredModel, StoreError, validate_name
from model_store.zoo import ARCHITECTURES, Architecture, get_architecture

# Prediction needs TensorFlow (~5 s to load): imported on first use, so that listing models or
# asking for --help answers at once.
_LAZY = {"Prediction": "model_store.predict", "Predictor": "model_store.predict"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'model_store' has no attribute {name!r}")


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "ImageError",
    "MnistNotFound",
    "ModelStore",
    "Prediction",
    "Predictor",
    "Prepared",
    "StoreError",
    "StoredModel",
    "data_fingerprint",
    "decode_image",
    "get_architecture",
    "load_mnist",
    "normalize",
    "prepare",
    "validate_name",
]
