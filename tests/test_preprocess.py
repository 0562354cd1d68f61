"""The one preparation pipeline: any image into MNIST form."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from model_store.preprocess import ImageError, decode_image, naive_prepare, normalize, prepare
from tests.conftest import animated_gif, cmyk_jpeg, digit_on_canvas, image_file, sixteen_bit_png, transparent_png


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    m = cv2.moments(img.astype(np.float32))
    return m["m01"] / m["m00"], m["m10"] / m["m00"]


def box_of(img: np.ndarray, level=0.1) -> tuple[int, int]:
    ys, xs = np.nonzero(img > level)
    return ys.ptp() + 1, xs.ptp() + 1


def test_an_mnist_digit_comes_back_almost_unchanged(mnist_test):
    x, _ = mnist_test
    for image in x[:20]:
        out = prepare(image).image
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert np.corrcoef(out.ravel(), image.ravel() / 255)[0, 1] > 0.9


def test_a_small_off_centre_digit_is_fitted_into_20_pixels_and_centred(mnist_test):
    x, _ = mnist_test
    canvas = digit_on_canvas(x[0], box=(10, 190, 70))  # small, in the top right corner
    out = prepare(canvas).image
    assert max(box_of(out)) in (20, 21)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1


def test_polarity_and_transparency_do_not_change_the_result(mnist_test):
    x, _ = mnist_test
    light_on_dark = digit_on_canvas(x[1])
    dark_on_light = digit_on_canvas(x[1], dark_on_light=True)
    rgba = np.zeros((280, 280, 4), np.uint8)  # black strokes on a transparent canvas
    rgba[..., 3] = light_on_dark
    reference = prepare(light_on_dark).image
    for other in (dark_on_light, rgba, np.dstack([dark_on_light] * 3)):
        assert np.abs(prepare(other).image - reference).max() < 0.05


def test_sixteen_bit_and_float_images_are_understood(mnist_test):
    x, _ = mnist_test
    canvas = digit_on_canvas(x[2])
    reference = prepare(canvas).image
    assert np.abs(prepare(canvas.astype(np.uint16) * 257).image - reference).max() < 0.01
    assert np.abs(prepare(canvas / 255.0).image - reference).max() < 0.01


def test_specks_are_ignored_when_cropping(mnist_test):
    x, _ = mnist_test
    canvas = digit_on_canvas(x[3], box=(80, 80, 120))
    speckled = canvas.copy()
    speckled[5:8, 5:8] = 255
    speckled[270:272, 100:102] = 200
    assert np.abs(prepare(speckled).image - prepare(canvas).image).max() < 1e-6


def test_a_shadowed_photo_of_paper_loses_its_shadow(mnist_test):
    x, _ = mnist_test
    clean = prepare(digit_on_canvas(x[4])).image
    paper = np.linspace(120, 250, 280)[None, :].repeat(280, 0)  # a shadow across the page
    ink = digit_on_canvas(x[4]) / 255.0
    photo = (paper * (1 - 0.8 * ink)).astype(np.uint8)
    assert np.corrcoef(prepare(photo).image.ravel(), clean.ravel())[0, 1] > 0.9


@pytest.mark.parametrize(
    "image, reason",
    [
        (np.zeros((280, 280), np.uint8), "no ink found"),
        (np.full((280, 280, 4), 255, np.uint8), "no ink found"),  # a white, opaque canvas
        (cv2.circle(np.zeros((280, 280), np.uint8), (100, 100), 9, 255, -1), "dot"),
        (cv2.line(np.zeros((280, 280), np.uint8), (100, 100), (110, 105), 255, 20), "dot"),  # a dab of a thick brush
        (cv2.circle(np.zeros((280, 280), np.uint8), (100, 100), 1, 255, -1), "too small"),
    ],
)
def test_blank_or_dot_images_are_not_guessed(image, reason):
    result = prepare(image)
    assert result.image is None and reason in result.blank_reason


def _small_nine() -> np.ndarray:
    nine = cv2.ellipse(np.zeros((280, 280), np.uint8), (140, 128), (7, 7), 0, 0, 360, 255, 12)
    return cv2.polylines(nine, [np.array([(147, 128), (146, 146), (136, 150)], np.int32)], False, 255, 9)


@pytest.mark.parametrize(
    "drawing",
    [
        # A 0 about 36 px tall with a 12 px brush: inked over 90% of its outline, but the pen went round a hole.
        cv2.ellipse(np.zeros((280, 280), np.uint8), (140, 140), (9, 12), 0, 0, 360, 255, 12),
        # A 9 41 px tall whose loop the brush filled: its hooked tail dents the outline (94% of its hull).
        _small_nine(),
    ],
    ids=["zero", "nine"],
)
def test_a_small_digit_drawn_with_a_thick_brush_is_read_not_called_a_dot(drawing):
    result = prepare(drawing)
    assert result.blank_reason is None and result.image is not None


def test_a_thin_stroke_still_reaches_full_ink():
    canvas = np.zeros((280, 280), np.uint8)
    cv2.line(canvas, (140, 20), (140, 260), 255, 2)  # a "1" with a hair-thin brush
    out = prepare(canvas).image
    assert out.max() == pytest.approx(1.0) and max(box_of(out)) == 20


def test_steps_are_kept_when_asked(mnist_test):
    x, _ = mnist_test
    steps = prepare(digit_on_canvas(x[5]), keep_steps=True).steps
    assert list(steps) == ["ink", "crop", "fit", "centred"]
    assert max(steps["fit"].shape) == 20 and steps["centred"].shape == (28, 28)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "GIF"])
def test_common_formats_decode_to_the_same_digit(mnist_test, fmt):
    x, _ = mnist_test
    canvas = digit_on_canvas(x[6], dark_on_light=True)
    decoded = decode_image(image_file(canvas, fmt))
    assert np.corrcoef(prepare(decoded).image.ravel(), prepare(canvas).image.ravel())[0, 1] > 0.95


def test_an_animated_gif_gives_its_first_frame(mnist_test):
    x, _ = mnist_test
    first = prepare(decode_image(animated_gif(digit_on_canvas(x[0]), digit_on_canvas(x[1])))).image
    assert np.corrcoef(first.ravel(), prepare(digit_on_canvas(x[0])).image.ravel())[0, 1] > 0.95


def test_a_60_megapixel_photo_is_shrunk_on_decoding():
    big = np.full((6700, 9000), 230, np.uint8)
    cv2.putText(big, "7", (2500, 5500), cv2.FONT_HERSHEY_SIMPLEX, 140, 20, 350)
    decoded = decode_image(image_file(big, "JPEG", quality=90))
    assert max(decoded.shape[:2]) <= 560
    assert prepare(decoded).image is not None


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, I am a text file named digit.png", "not an image"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj", "not an image"),
    ],
)
def test_files_that_are_not_images_get_a_clear_message(data, message):
    with pytest.raises(ImageError, match=message):
        decode_image(data)


@pytest.mark.parametrize("height, width", [(1, 10_000), (10_000, 1), (20, 10_000), (7, 7)])
def test_a_strip_too_thin_for_a_digit_is_refused(height, width):
    strip = np.zeros((height, width), np.uint8)
    strip[:, : width // 2] = 255
    with pytest.raises(ImageError, match=f"{width}x{height} pixels, too small or thin to hold a digit"):
        decode_image(image_file(strip))


@pytest.mark.parametrize("encode", [sixteen_bit_png, cmyk_jpeg, transparent_png])
def test_unusual_image_files_read_as_the_same_digit(mnist_test, encode):
    x, _ = mnist_test
    canvas = digit_on_canvas(x[7])
    decoded = decode_image(encode(canvas))
    assert Image.open(io.BytesIO(encode(canvas))).mode in ("I;16", "I", "CMYK", "RGBA")
    assert np.corrcoef(prepare(decoded).image.ravel(), prepare(canvas).image.ravel())[0, 1] > 0.95


def test_a_truncated_png_is_reported_as_damaged(mnist_test):
    x, _ = mnist_test
    data = image_file(digit_on_canvas(x[0]))
    with pytest.raises(ImageError, match="damaged|not an image"):
        decode_image(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = image_file(np.zeros((10_000, 10_000), bool))  # 100 megapixels in a few kB
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="megapixels"):
        decode_image(bomb)


def test_l2_normalisation_is_notebook_a_s(mnist_test):
    import keras

    x, _ = mnist_test
    ours = normalize(x[:5] / 255.0, "l2")
    theirs = keras.utils.normalize(x[:5].astype(np.float64), axis=1)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_array_equal(normalize(x[:5] / 255.0, "scale"), (x[:5] / 255.0).astype(np.float32))


def test_the_naive_pipeline_only_resizes(mnist_test):
    x, _ = mnist_test
    out = naive_prepare(digit_on_canvas(x[0], dark_on_light=True))
    assert out.shape == (28, 28) and out.max() <= 1.0


def test_strokes_over_a_picture_add_ink_and_the_eraser_takes_it_away():
    from model_store.preprocess import over_background

    picture = np.zeros((280, 280), np.uint8)
    picture[100:180, 130:150] = 255  # a 1
    strokes = np.zeros((280, 280, 4), np.uint8)  # transparent: the picture shows through
    strokes[60:80, 60:220] = (255, 255, 255, 255)  # ink: a bar on top
    strokes[160:180, 120:160] = (0, 0, 0, 255)  # the eraser: the foot of the 1
    seen = over_background(picture, strokes)
    assert seen[70, 100] == 255 and seen[120, 140] == 255 and seen[170, 140] == 0 and seen[10, 10] == 0
    assert np.array_equal(over_background(picture, np.zeros_like(strokes)), picture)


GRID_DIGITS = {  # digits as a person inks them on the Draw page's 14x14 grid, cell by cell
    1: ["......#......."] * 10,
    0: ["......##......", ".....#..#.....", "....#....#....", "....#....#....", "...#......#...", "...#......#...",
        "...#......#...", "...#......#...", "....#....#....", "....#....#....", ".....#..#.....", "......##......"],
    7: ["...########...", "..........#...", ".........#....", ".........#....", "........#.....", "........#.....",
        ".......#......", ".......#......", "......#.......", "......#......."],
}  # fmt: skip


@pytest.mark.parametrize("digit", GRID_DIGITS)
def test_a_digit_inked_cell_by_cell_on_the_grid_is_read_as_the_canvas_is(tmp_path, digit):
    from model_store import ModelStore, Predictor
    from model_store.preprocess import cells_picture

    cells = np.zeros((14, 14), np.uint8)
    for r, line in enumerate(GRID_DIGITS[digit], start=1):
        cells[r] = [ch == "#" for ch in line]
    picture = cells_picture(cells, 280)
    # White ink on black, as the canvas gives it, its edges soft as a brush's (not 0 and 255 alone).
    assert picture.shape == (280, 280) and picture.dtype == np.uint8
    assert picture[0, 0] == 0 and picture.max() > 200 and len(np.unique(picture)) > 100
    store = ModelStore(tmp_path / "models")
    model, entry = store.load(store.default().name)
    assert Predictor(model, entry.normalization, entry.temperature).predict(picture).digit == digit
