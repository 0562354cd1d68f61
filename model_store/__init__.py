"""The shared model module: MNIST data, image preparation, the model zoo, the store, prediction.

Never imports Streamlit: the pages, the training engine and the command line all use it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, not errors

from model_store.data import MnistNotFound, data_fingerprint, load_mnist  # noqa: E402
from model_store.predict import Prediction, Predictor  # noqa: E402
from model_store.preprocess import ImageError, Prepared, decode_image, normalize, prepare  # noqa: E402
from model_store.store import ModelStore, StoredModel, StoreError, validate_name  # noqa: E402
from model_store.zoo import ARCHITECTURES, Architecture, get_architecture  # noqa: E402

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
