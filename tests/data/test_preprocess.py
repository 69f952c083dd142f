"""Tests for threefigures.data.preprocess: any image in, an MNIST-style 28×28 image out."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from threefigures.data import preprocess
from threefigures.data.preprocess import (
    Preprocessed,
    load_image,
    preprocess_array,
    preprocess_bytes,
    preprocess_image,
    preprocess_path,
    to_uint8,
)
from threefigures.errors import ImageError, NoInkError

# --------------------------------------------------------------------------- helpers

Fill = int | float | tuple[int, ...]
"""A colour for Image.new / ImageDraw in the image's mode."""


def draw_seven(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], fill: Fill) -> None:
    """A thick "7" inside box = (left, top, right, bottom)."""
    left, top, right, bottom = box
    width = max(2, (right - left) // 6)
    draw.line([(left, top), (right, top)], fill=fill, width=width)
    draw.line([(right, top), (left + (right - left) // 3, bottom)], fill=fill, width=width)


def draw_ring(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], fill: Fill, width: int = 0
) -> None:
    """A ring "0" inside box (stroke width: a sixth of the box's, unless given)."""
    width = width or max(2, (box[2] - box[0]) // 6)
    draw.ellipse(box, outline=fill, width=width)


def digit_image(
    mode: str = "L",
    size: tuple[int, int] = (120, 120),
    *,
    paper: Fill = 255,
    ink: Fill = 0,
    box: tuple[int, int, int, int] = (30, 20, 90, 100),
    shape: str = "seven",
) -> Image.Image:
    """An image of a digit-like shape: a "7" or a ring "0"."""
    image = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(image)
    (draw_seven if shape == "seven" else draw_ring)(draw, box, ink)
    return image


def check_output(result: Preprocessed) -> np.ndarray:
    """The invariants every result satisfies; returns the image."""
    image = result.image
    assert image.shape == (28, 28)
    assert image.dtype == np.float32
    assert float(image.min()) >= 0.0
    assert float(image.max()) <= 1.0
    assert float(image.max()) > 0.5, "some ink must be bright"
    assert float(image.mean()) < 0.5, "the field must be mostly black"
    height, width = ink_box(image)
    assert height <= 20 and width <= 20
    return image


def ink_box(image: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bounding box of the non-zero pixels."""
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def best_shifted_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The highest correlation of a with b shifted by at most one pixel each way."""
    return max(
        float(np.corrcoef(a.ravel(), np.roll(b, (dy, dx), axis=(0, 1)).ravel())[0, 1])
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def save(image: Image.Image, path: Path, **kwargs: Any) -> Path:
    """Save image to path (format from the suffix) and return the path."""
    image.save(path, **kwargs)
    return path


# --------------------------------------------------------------------------- polarity, alpha


def test_dark_ink_on_light_paper_rgb_is_inverted(tmp_path: Path) -> None:
    path = save(digit_image("RGB", paper=(235, 230, 220), ink=(20, 20, 60)), tmp_path / "d.png")
    result = preprocess_path(path)
    check_output(result)
    assert result.inverted is True
    assert result.source_size == (120, 120)


def test_light_ink_on_dark_grayscale_is_not_inverted(tmp_path: Path) -> None:
    path = save(digit_image("L", paper=10, ink=240), tmp_path / "d.png")
    result = preprocess_path(path)
    check_output(result)
    assert result.inverted is False


def test_both_polarities_give_the_same_image() -> None:
    dark = preprocess_image(digit_image("L", paper=255, ink=0))
    light = preprocess_image(digit_image("L", paper=0, ink=255))
    assert dark.inverted and not light.inverted
    np.testing.assert_allclose(dark.image, light.image, atol=1e-5)


def test_rgba_transparent_background_black_strokes(tmp_path: Path) -> None:
    image = digit_image("RGBA", paper=(0, 0, 0, 0), ink=(0, 0, 0, 255))
    result = preprocess_path(save(image, tmp_path / "d.png"))
    check_output(result)
    assert result.inverted is True
    assert any("white" in note for note in result.notes)


def test_rgba_transparent_background_white_strokes(tmp_path: Path) -> None:
    # Transparent pixels hold white colour values: only the alpha says they are background.
    image = digit_image("RGBA", paper=(255, 255, 255, 0), ink=(255, 255, 255, 255))
    result = preprocess_path(save(image, tmp_path / "d.png"))
    check_output(result)
    assert result.inverted is False
    assert any("black" in note for note in result.notes)


def test_rgba_polarities_agree() -> None:
    black = preprocess_image(digit_image("RGBA", paper=(0, 0, 0, 0), ink=(0, 0, 0, 255)))
    white = preprocess_image(
        digit_image("RGBA", paper=(255, 255, 255, 0), ink=(255, 255, 255, 255))
    )
    np.testing.assert_allclose(black.image, white.image, atol=1e-5)


def test_fully_opaque_rgba_drops_alpha(tmp_path: Path) -> None:
    image = digit_image("RGBA", paper=(250, 250, 250, 255), ink=(10, 10, 10, 255))
    result = preprocess_path(save(image, tmp_path / "d.png"))
    check_output(result)
    assert result.inverted is True
    assert not any("transparent" in note for note in result.notes)
    plain = preprocess_image(digit_image("L", paper=250, ink=10))
    np.testing.assert_allclose(result.image, plain.image, atol=1e-5)


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (100, 100), 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * (256 * 3 - 6))
    draw_ring(ImageDraw.Draw(image), (25, 15, 75, 85), 1)
    path = save(image, tmp_path / "p.png", transparency=0)
    loaded = load_image(path)
    assert loaded.mode == "P" and "transparency" in loaded.info
    result = preprocess_path(path)
    check_output(result)
    assert result.inverted is True  # black ink → composited onto white → inverted


def test_grayscale_with_transparency_key(tmp_path: Path) -> None:
    path = save(digit_image("L", paper=128, ink=0), tmp_path / "l.png", transparency=128)
    result = preprocess_path(path)
    check_output(result)
    assert result.inverted is True


# --------------------------------------------------------------------------- geometry


def test_off_centre_digit_is_centred_and_scaled() -> None:
    image = digit_image("L", (300, 200), paper=255, ink=0, box=(200, 110, 260, 190))
    result = preprocess_image(image)
    out = check_output(result)
    centre_y, centre_x = ndimage.center_of_mass(out)
    assert abs(centre_y - 14) <= 1 and abs(centre_x - 14) <= 1
    height, width = ink_box(out)
    assert height <= 20 and width <= 20
    assert 19 <= max(height, width) <= 21


def test_aspect_ratio_is_preserved_for_a_tall_thin_bar() -> None:
    image = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(image).rectangle((95, 40, 104, 159), fill=255)  # 10 wide, 120 tall
    out = check_output(preprocess_image(image))
    height, width = ink_box(out)
    assert height >= 19
    assert width <= 4


def test_small_digit_is_enlarged_to_twenty_pixels() -> None:
    image = Image.new("L", (64, 64), 0)
    draw_ring(ImageDraw.Draw(image), (28, 26, 36, 38), 255)
    out = check_output(preprocess_image(image))
    assert max(ink_box(out)) == 20


def test_specks_in_a_corner_are_removed() -> None:
    clean = digit_image("L", (200, 200), paper=255, ink=0, box=(60, 40, 140, 160))
    specked = clean.copy()
    draw = ImageDraw.Draw(specked)
    for x, y in [(15, 15), (22, 18), (180, 178), (175, 20)]:
        draw.ellipse((x, y, x + 2, y + 2), fill=0)
    clean_out = preprocess_image(clean).image
    specked_out = check_output(preprocess_image(specked))
    np.testing.assert_allclose(specked_out, clean_out, atol=1e-6)


def test_separate_strokes_of_a_digit_are_kept() -> None:
    # A "4"-like shape: two strokes that do not touch, of similar mass; both must stay.
    image = Image.new("L", (120, 120), 0)
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 20, 40, 70), fill=255)
    draw.rectangle((60, 20, 70, 100), fill=255)
    out = check_output(preprocess_image(image))
    height, width = ink_box(out)
    assert height == 20
    assert width >= 8  # both strokes span 41 of 81 pixels → about 10 of 20


def test_large_noisy_photo_with_gradient(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    height, width = 3000, 4000
    gradient = np.linspace(0.72, 0.86, width, dtype=np.float32)[None, :]
    gradient = gradient + np.linspace(0.0, 0.04, height, dtype=np.float32)[:, None]
    noise = rng.normal(0.0, 0.03, size=(height, width)).astype(np.float32)
    paper = np.clip((gradient + noise) * 255, 0, 255).astype(np.uint8)
    photo = Image.fromarray(paper)
    draw_seven(ImageDraw.Draw(photo), (1500, 800, 2400, 2200), 40)
    photo = Image.merge("RGB", (photo, photo, photo.point(lambda v: v * 0.95)))
    path = save(photo, tmp_path / "photo.jpg", quality=85)
    result = preprocess_path(path)
    out = check_output(result)
    assert result.inverted is True
    assert max(ink_box(out)) in (19, 20, 21)
    centre_y, centre_x = ndimage.center_of_mass(out)
    assert abs(centre_y - 14) <= 1.5 and abs(centre_x - 14) <= 1.5
    # The same digit drawn cleanly gives nearly the same picture (up to a 1 px shift:
    # the 7's box touches the frame's bottom edge, so rounding decides its row).
    clean = Image.new("L", (400, 300), 255)
    draw_seven(ImageDraw.Draw(clean), (150, 80, 240, 220), 0)
    assert best_shifted_correlation(out, preprocess_image(clean).image) > 0.9


def test_thin_small_digit_on_a_big_page() -> None:
    # Under 0.5% of the pixels are ink: found by the median-filtered second look.
    page = Image.new("L", (3000, 2000), 235)
    draw_ring(ImageDraw.Draw(page), (1450, 900, 1530, 1020), 30)
    result = preprocess_image(page)
    out = check_output(result)
    assert result.inverted is True
    assert max(ink_box(out)) == 20


# --------------------------------------------------------------------------- flat images


@pytest.mark.parametrize(
    ("mode", "size", "colour"),
    [("L", (1, 1), 0), ("RGB", (1, 1), (255, 255, 255)), ("L", (50, 40), 255), ("L", (50, 40), 0)],
    ids=["1x1-black", "1x1-white", "all-white", "all-black"],
)
def test_flat_images_raise_no_ink(
    tmp_path: Path, mode: str, size: tuple[int, int], colour: Fill
) -> None:
    path = save(Image.new(mode, size, colour), tmp_path / "flat.png")
    with pytest.raises(NoInkError, match="no ink"):
        preprocess_path(path)


def test_fully_transparent_image_raises_no_ink() -> None:
    with pytest.raises(NoInkError):
        preprocess_image(Image.new("RGBA", (30, 30), (0, 0, 0, 0)))


def test_no_ink_error_is_an_image_error() -> None:
    assert issubclass(NoInkError, ImageError)


# --------------------------------------------------------------------------- bad files


def test_text_file_renamed_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(ImageError, match="not an image") as info:
        preprocess_path(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a directory, not an image file"):
        preprocess_path(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        preprocess_path(tmp_path / "nope.png")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = save(digit_image(), tmp_path / "secret.png")
    path.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_truncated_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noisy = Image.fromarray(rng.integers(0, 256, size=(80, 80), dtype=np.uint8))
    data = io.BytesIO()
    noisy.save(data, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        preprocess_path(path)


def test_garbage_bytes_upload() -> None:
    with pytest.raises(ImageError, match="upload: not an image"):
        preprocess_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(ImageError, match="empty file"):
        preprocess_bytes(b"")


def test_decompression_bomb_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(digit_image("L", (200, 200)), tmp_path / "big.png")
    filters_before = list(warnings.filters)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ImageError, match=r"too large \(200×200 pixels\); limit is 10000"):
        preprocess_path(path)
    assert warnings.filters == filters_before


def test_decompression_bomb_warning_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(digit_image("L", (120, 120)), tmp_path / "big.png")  # 14 400: 1× to 2× limit
    filters_before = list(warnings.filters)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ImageError, match=r"too large \(120×120 pixels\)"):
        load_image(path)
    with pytest.raises(ImageError, match="too large"):
        preprocess_bytes(path.read_bytes())
    assert warnings.filters == filters_before


# --------------------------------------------------------------------------- formats


def test_sixteen_bit_png(tmp_path: Path) -> None:
    # 20 000 / 50 000 would both clip to 255 with a plain convert("L").
    values = np.full((100, 100), 20_000, dtype=np.uint16)
    values[20:80, 45:55] = 50_000
    values[20:30, 30:70] = 50_000
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    assert load_image(path).mode == "I;16"
    result = preprocess_path(path)
    out = check_output(result)
    assert result.inverted is False
    assert max(ink_box(out)) == 20


def test_float_image() -> None:
    values = np.full((60, 60), -3.0, dtype=np.float32)
    values[10:50, 25:35] = 7.5
    result = preprocess_image(Image.fromarray(values))
    check_output(result)
    assert result.inverted is False


def test_cmyk_jpeg(tmp_path: Path) -> None:
    image = digit_image("CMYK", paper=(0, 0, 0, 0), ink=(0, 0, 0, 255), shape="ring")
    path = save(image, tmp_path / "cmyk.jpg", quality=95)
    assert load_image(path).mode == "CMYK"
    result = preprocess_path(path)
    check_output(result)
    assert result.inverted is True


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_is_honoured(tmp_path: Path, orientation: int) -> None:
    image = Image.new("RGB", (160, 120), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((20, 50, 139, 69), fill=(0, 0, 0))  # horizontal bar
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(image, tmp_path / "rotated.jpg", exif=exif, quality=95)
    result = preprocess_path(path)
    out = check_output(result)
    height, width = ink_box(out)
    assert height > 2 * width, "the bar must come out vertical"
    assert "EXIF rotation applied" in result.notes
    assert result.source_size == (160, 120)


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    vertical = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(vertical).rectangle((45, 10, 54, 89), fill=255)
    horizontal = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(horizontal).rectangle((10, 45, 89, 54), fill=255)
    path = save(
        vertical, tmp_path / "anim.gif", save_all=True, append_images=[horizontal], duration=100
    )
    result = preprocess_path(path)
    out = check_output(result)
    height, width = ink_box(out)
    assert height > 2 * width
    assert any("animated" in note and "first frame" in note for note in result.notes)


def test_bytes_equal_path(tmp_path: Path) -> None:
    path = save(digit_image("RGB", paper=(240, 240, 240), ink=(0, 0, 0)), tmp_path / "d.png")
    from_path = preprocess_path(path)
    from_bytes = preprocess_bytes(path.read_bytes(), name="d.png")
    np.testing.assert_array_equal(from_bytes.image, from_path.image)
    assert from_bytes.inverted == from_path.inverted
    assert from_bytes.source_size == from_path.source_size


def test_large_png_is_downscaled_and_works() -> None:
    image = digit_image("L", (2400, 1800), paper=255, ink=0, box=(900, 500, 1500, 1300))
    result = preprocess_image(image)
    check_output(result)
    assert result.source_size == (2400, 1800)


def test_caller_image_is_not_modified() -> None:
    image = digit_image("RGBA", (1500, 1500), paper=(0, 0, 0, 0), ink=(0, 0, 0, 255))
    before = image.tobytes()
    preprocess_image(image)
    assert image.size == (1500, 1500) and image.mode == "RGBA"
    assert image.tobytes() == before


# --------------------------------------------------------------------------- arrays


def mnist_like_ring() -> np.ndarray:
    """A ring "0" made the MNIST way: drawn at 4× and box-filtered into a 20-row box.

    Its centre of mass is already at (14.5, 14), so re-centring does not move it.
    """
    canvas = Image.new("L", (112, 112), 0)
    draw_ring(ImageDraw.Draw(canvas), (32, 20, 83, 99), 255, width=12)
    return np.asarray(canvas.resize((28, 28), Image.Resampling.BOX), dtype=np.uint8)


def test_array_already_mnist_style_stays_similar() -> None:
    original = mnist_like_ring()
    result = preprocess_array(original)
    out = check_output(result)
    assert result.inverted is False
    assert result.source_size == (28, 28)
    assert np.corrcoef(out.ravel(), original.astype(np.float64).ravel())[0, 1] > 0.9
    # The same drawing as floats in [0, 1] gives the same result.
    again = preprocess_array(original.astype(np.float32) / 255.0)
    np.testing.assert_allclose(again.image, out, atol=1e-5)


def test_array_dark_on_light_is_inverted() -> None:
    result = preprocess_array(255 - mnist_like_ring())
    check_output(result)
    assert result.inverted is True


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[0.0, np.nan], [1.0, 0.0]]),
        np.array([[0.0, np.inf], [1.0, 0.0]]),
        np.zeros((3, 4, 4)),
        np.zeros(10),
        np.zeros((0, 5)),
        np.array([["a", "b"], ["c", "d"]]),
    ],
    ids=["nan", "inf", "3-d", "1-d", "empty", "strings"],
)
def test_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ImageError, match="drawing"):
        preprocess_array(bad, name="drawing")


def test_flat_array_raises_no_ink() -> None:
    with pytest.raises(NoInkError):
        preprocess_array(np.full((28, 28), 0.3))


def test_to_uint8_rounds_and_clips() -> None:
    values = np.array([[0.0, 0.5, 1.0, 1.2], [-0.1, 0.002, 0.998, 0.25]], dtype=np.float32)
    out = to_uint8(values)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 128, 255, 255], [0, 1, 254, 64]])


# --- the fast statistics used per web request, against NumPy and SciPy ---------------------


def _random_images(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        height, width = (int(v) for v in rng.integers(1, 70, 2))
        image = rng.random((height, width)).astype(np.float32)
        if i % 3 == 0:  # mostly background, as drawings are
            image = image * (rng.random((height, width)) > 0.8).astype(np.float32)
        if i % 4 == 0:  # few distinct values: ties at the order statistics
            image = np.round(image, 1).astype(np.float32)
        images.append(image)
    return images


def test_median_equals_numpy() -> None:
    for image in _random_images(0, 2000):
        assert preprocess._median(image) == float(np.median(image))


def test_percentile_equals_numpy_within_one_float32_ulp() -> None:
    for image in _random_images(1, 2000):
        for q in (preprocess.PEAK_PERCENTILE, preprocess.FALLBACK_PEAK_PERCENTILE, 0.0, 50.0):
            ours, ref = preprocess._percentile(image, q), float(np.percentile(image, q))
            assert abs(ours - ref) <= np.spacing(np.float32(max(abs(ref), 1e-30))), (q, ours, ref)


def test_centre_of_mass_equals_scipy() -> None:
    for image in _random_images(2, 2000):
        if image.sum() > 0:
            assert preprocess._centre_of_mass(image) == ndimage.center_of_mass(image)


def test_border_pixels_are_the_masked_strips() -> None:
    for image in _random_images(3, 500):
        height, width = image.shape
        rows = max(1, int(preprocess.BORDER_FRACTION * height + 0.5))
        cols = max(1, int(preprocess.BORDER_FRACTION * width + 0.5))
        mask = np.zeros(image.shape, dtype=bool)
        mask[:rows], mask[-rows:], mask[:, :cols], mask[:, -cols:] = True, True, True, True
        assert np.array_equal(np.sort(preprocess._border_pixels(image)), np.sort(image[mask]))
