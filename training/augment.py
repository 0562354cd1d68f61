"""Random distortions of 28x28 digits, so the model reads people's digits and not only MNIST's.

The preparation pipeline already fixes each digit's size and position; what is left to vary is
what people vary: slant, a slightly different size or aspect, an off-centre stroke, and the
stroke's thickness (a thick marker or a thin pen).
"""

from __future__ import annotations

from model_store.backend import keras, tf

layers = keras.layers


def make_augmenter(seed: int):
    """A function of a batch (n, 28, 28, 1) in [0, 1] to a randomly distorted batch."""
    geometry = keras.Sequential(
        [
            layers.RandomRotation(12 / 360, fill_mode="constant", seed=seed),  # +-12 degrees
            layers.RandomZoom((-0.15, 0.15), (-0.15, 0.15), fill_mode="constant", seed=seed + 1),
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed + 2),  # +-2 px
        ]
    )

    def augment(x: tf.Tensor) -> tf.Tensor:
        x = geometry(x, training=True)
        much_thicker = tf.nn.max_pool2d(x, 3, 1, "SAME")  # grey dilation: a marker
        thicker = tf.nn.max_pool2d(x, 2, 1, "SAME")  # one pixel more ink
        thinner = -tf.nn.max_pool2d(-x, 2, 1, "SAME")  # grey erosion: a fine pen
        pick = tf.random.uniform((tf.shape(x)[0], 1, 1, 1))  # seeded by keras.utils.set_random_seed
        x = tf.where(pick < 0.15, much_thicker, tf.where(pick < 0.35, thicker, x))
        return tf.where(pick > 0.75, thinner, x)

    return augment
