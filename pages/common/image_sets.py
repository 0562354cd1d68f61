"""The sets of images the Gallery's instruments look at: MNIST test, or the class drawings
(everyone's or one person's), each with its labels, captions and tiles, cached."""

from dataclasses import dataclass

import cv2
import numpy as np
import streamlit as st

from model_store import StoredModel, load_mnist
from model_store.drawings import Drawings
from pages.common import MNIST_TEST, plain, probabilities_on


@dataclass
class ImageSet:
    """The images the instruments look at, with their true labels."""

    key: str  # MNIST_TEST, or the drawings' writer and version: a cache key
    title: str  # "MNIST test", "class drawings", "ada's drawings"
    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,)
    names: list[str]  # each image's caption prefix, as Markdown: "#123", or "ada \\#17" (a writer's name escaped)
    item: str  # what one image is called: "MNIST test image", "Drawing"
    ids: np.ndarray | None = None  # each drawing's id in the class database; None for MNIST


# Resources, not data: an ImageSet is never changed (and need not be pickled).
@st.cache_resource(max_entries=1)
def mnist_test() -> ImageSet:
    _, (x, y) = load_mnist()
    return ImageSet(MNIST_TEST, "MNIST test", x, y, [f"#{i}" for i in range(len(y))], "MNIST test image")


@st.cache_resource(max_entries=20)
def class_drawings(writer: str | None, class_id: str, version: tuple[int, int]) -> ImageSet:
    """The class's drawings as they are at `version` (a new drawing or a deletion makes another key)."""
    ids, x, y, writers = Drawings(class_id=class_id).rows(writer)
    title = f"{writer}'s drawings" if writer else "class drawings"
    names = [plain(f"{w} #{i}") for w, i in zip(writers, ids)]  # shown in captions, which read Markdown
    return ImageSet(f"class:{class_id}:{writer}:{version}", title, x, y, names, "Drawing", ids)


@st.cache_data(max_entries=20)
def set_tiles(set_key: str, _images: np.ndarray) -> list[bytes]:
    """Every image of the set as a small PNG, built once: a page of tiles only picks from this list."""
    return [cv2.imencode(".png", cv2.resize(img, (84, 84), interpolation=cv2.INTER_NEAREST))[1].tobytes() for img in _images]


def probabilities_of(entry: StoredModel, images: ImageSet) -> np.ndarray:
    return probabilities_on(entry, images.key, images.images)


def tiles(images: ImageSet) -> list[bytes]:
    return set_tiles(images.key, images.images)
