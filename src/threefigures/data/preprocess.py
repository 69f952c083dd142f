"""Turn any user image into the 28×28 image an MNIST-trained network sees.

MNIST digits are bright ink on a black field, scaled so the longest side of the
digit's bounding box is 20 pixels (antialiased), and placed in a 28×28 frame so
that the centre of mass sits in the middle. This module repeats those steps for
an arbitrary photo, scan, drawing or upload:

1. load and fully decode the file, with one-line errors for bad input;
2. honour the EXIF orientation;
3. downscale very large images early (longest side at most 1024 pixels);
4. composite a transparent image onto a background that contrasts with the ink;
5. convert to grayscale floats in [0, 1] (16-bit and float images by their range);
6. find the background from the border and invert dark-on-light images;
7. normalise contrast so paper texture and shadows become 0 and ink 1;
8. remove specks much smaller than the digit's strokes;
9. crop to the ink;
10. scale it to fit a 20×20 box, keeping the aspect ratio;
11. place it in a 28×28 black frame with its centre of mass at (14, 14).

Only numpy, Pillow and scipy.ndimage are used.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from threefigures.errors import ImageError, NoInkError

__all__ = [
    "BOX_SIZE",
    "MNIST_SIZE",
    "Preprocessed",
    "load_image",
    "preprocess_array",
    "preprocess_bytes",
    "preprocess_image",
    "preprocess_path",
    "to_uint8",
]

FloatArray = npt.NDArray[np.float32]

MNIST_SIZE = 28
"""Side of the frame the network sees."""
BOX_SIZE = 20
"""Side of the box the digit is scaled to fit, as in MNIST."""
MAX_WORKING_SIDE = 1024
"""Images with a longer side are downscaled to this before any other work."""
BORDER_FRACTION = 0.04
"""Fraction of rows/columns on each edge used to estimate the background."""
PEAK_PERCENTILE = 99.5
"""Percentile of the (ink-bright) image taken as the ink level."""
FALLBACK_PEAK_PERCENTILE = 99.99
"""Percentile of a 3×3 median-filtered copy, tried when the first one finds no contrast."""
MIN_CONTRAST = 0.15
"""Below this ink-minus-background difference the image is one flat tone."""
THRESHOLD_FRACTION = 0.25
"""Tones below background + this fraction of the contrast become 0."""
MIN_COMPONENT_FRACTION = 0.10
"""Components with less ink than this fraction of the largest one are specks."""

_ORIENTATION_TAG = 0x0112
_WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_RESIZABLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"})
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Preprocessed:
    """The result of preprocessing one image.

    Attributes:
        image: ``(28, 28)`` float32 array in ``[0, 1]``; ink bright (1) on black (0), like MNIST.
        inverted: True when the input was dark ink on light paper and was inverted.
        source_size: ``(width, height)`` of the decoded image (for a large JPEG, the size
            after Pillow's fast reduced-size decoding).
        notes: Short human-readable notes about what was done, e.g.
            ``"EXIF rotation applied"``.
    """

    image: FloatArray
    inverted: bool
    source_size: tuple[int, int]
    notes: tuple[str, ...]


# --------------------------------------------------------------------------- loading


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and fully decode the image file at ``path``.

    Large JPEGs are decoded at a reduced size (longest side still at least 1024 pixels)
    so that a big photo decodes fast; animated images are left on their first frame.

    Raises:
        ImageError: the path is missing, a directory, unreadable, empty, not an image,
            truncated or corrupt, or larger than Pillow's decompression-bomb limit.
    """
    name = str(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{name}: no such file") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot access the file ({_os_detail(exc)})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{name}: is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{name}: not a regular file")
    if info.st_size == 0:
        raise ImageError(f"{name}: empty file")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except PermissionError:
        raise ImageError(f"{name}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read the file ({_os_detail(exc)})") from exc
    if not data:
        raise ImageError(f"{name}: empty file")
    return _decode(data, name)


def _os_detail(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _decode(data: bytes, name: str) -> Image.Image:
    """Decode ``data`` with Pillow, turning every failure into an :class:`ImageError`."""
    with warnings.catch_warnings():
        # Local only: the filter list is restored when the block exits.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            # Counting frames parses the whole file, so corrupt later frames surface here.
            getattr(image, "n_frames", 1)
            if image.tell() != 0:
                image.seek(0)
            if image.format == "JPEG" and max(image.size) > MAX_WORKING_SIDE:
                image.draft(
                    "L" if image.mode == "L" else "RGB", (MAX_WORKING_SIDE, MAX_WORKING_SIDE)
                )
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_large(data, name, exc) from exc
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image Pillow can read") from None
        except Exception as exc:  # decoders of untrusted bytes raise many kinds of errors
            raise ImageError(f"{name}: truncated or corrupt image ({_detail(exc)})") from exc
    return image


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _too_large(data: bytes, name: str, exc: BaseException) -> ImageError:
    """The one-line error for an image over Pillow's decompression-bomb limit."""
    size = _probe_size(data)
    if size is not None:
        what = f"{size[0]}×{size[1]} pixels"
    else:
        match = re.search(r"\((\d+) pixels\)", str(exc))
        what = f"{match.group(1)} pixels" if match else "too many pixels"
    return ImageError(f"{name}: image too large ({what}); limit is {Image.MAX_IMAGE_PIXELS} pixels")


def _probe_size(data: bytes) -> tuple[int, int] | None:
    """Read the size from the header, as ``Image.open`` does, without the bomb check."""
    prefix = data[:16]
    for format_id in list(Image.ID):
        try:
            factory, accept = Image.OPEN[format_id]
            accepted = accept(prefix) if accept is not None else True
            if not accepted or isinstance(accepted, str):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                probe = factory(io.BytesIO(data), "")
            return int(probe.size[0]), int(probe.size[1])
        except Exception:  # not this format: try the next one
            continue
    return None


# --------------------------------------------------------------------------- public entry points


def preprocess_path(path: str | os.PathLike[str]) -> Preprocessed:
    """Load the image file at ``path`` and preprocess it (see :func:`preprocess_image`)."""
    return preprocess_image(load_image(path), name=str(path))


def preprocess_bytes(data: bytes, *, name: str = "upload") -> Preprocessed:
    """Decode an encoded image (e.g. a web upload) and preprocess it.

    Raises:
        ImageError: the bytes are empty, not an image, corrupt or too large.
        NoInkError: the image is one flat tone.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageError(f"{name}: expected the bytes of an image file, got {type(data).__name__}")
    raw = bytes(data)
    if not raw:
        raise ImageError(f"{name}: empty file")
    return preprocess_image(_decode(raw, name), name=name)


def preprocess_image(image: Image.Image, *, name: str = "image") -> Preprocessed:
    """Turn a Pillow image into the 28×28 MNIST-style image.

    Args:
        image: Any Pillow image (any mode, possibly animated, possibly not yet loaded).
        name: How to refer to the image in error messages and notes.

    Raises:
        ImageError: the image cannot be decoded or has an unsupported mode.
        NoInkError: the image is one flat tone (no digit to classify).
    """
    notes: list[str] = []
    try:
        image.load()
        n_frames = int(getattr(image, "n_frames", 1))
    except Exception as exc:  # lazily decoded images fail here
        raise ImageError(f"{name}: truncated or corrupt image ({_detail(exc)})") from exc
    if n_frames > 1:
        frame = image.tell()
        which = "the first frame" if frame == 0 else f"frame {frame + 1}"
        notes.append(f"animated image ({n_frames} frames): used {which}")
    width, height = int(image.size[0]), int(image.size[1])
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image has no pixels ({width}×{height})")

    image = _apply_exif_orientation(image, notes)  # step 2
    try:
        image = _simplify_mode(image)
        if (
            max(image.size) > MAX_WORKING_SIDE
            and image.mode in _RESIZABLE_MODES
            and image.info.get("transparency") is None
        ):  # step 3 (other modes are downscaled after compositing, below)
            image = image.resize(
                _fit_within(image.size, MAX_WORKING_SIDE), Image.Resampling.BOX, reducing_gap=3.0
            )
    except Exception as exc:
        raise ImageError(
            f"{name}: cannot convert image mode {image.mode!r} ({_detail(exc)})"
        ) from exc

    gray, alpha = _gray_and_alpha(image, name)  # step 5 (and the alpha for step 4)
    if alpha is not None:  # step 4
        gray = _composite(gray, alpha, notes)
    if max(gray.shape) > MAX_WORKING_SIDE:
        new_size = _fit_within((gray.shape[1], gray.shape[0]), MAX_WORKING_SIDE)
        gray = _resize(gray, new_size, Image.Resampling.BOX)
    return _finish(gray, name=name, notes=notes, source_size=(width, height))


def preprocess_array(gray: np.ndarray, *, name: str = "array") -> Preprocessed:
    """Preprocess a 2-D grayscale array (e.g. a dataset image or a 28×28 drawing).

    Values may be in any range: an array with negative values is shifted to start at 0,
    and one whose maximum exceeds 1 (e.g. 0..255) is divided by its own maximum. Then
    the same steps as for images run from background detection on.

    Raises:
        ImageError: the array is not 2-D, empty, not numeric, or holds NaN/inf.
        NoInkError: the array is one flat tone.
    """
    try:
        arr = np.asarray(gray)
    except Exception as exc:
        raise ImageError(f"{name}: not an array ({_detail(exc)})") from exc
    if arr.ndim != 2:
        raise ImageError(f"{name}: expected a 2-D grayscale array, got shape {arr.shape}")
    if arr.size == 0:
        raise ImageError(f"{name}: empty array (shape {arr.shape})")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ImageError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    values = arr.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError(f"{name}: array contains NaN or infinite values")
    low = float(values.min())
    if low < 0:
        values = values - low
    high = float(values.max())
    if high > 1:
        values = values / high
    height, width = values.shape
    return _finish(
        values.astype(np.float32), name=name, notes=[], source_size=(int(width), int(height))
    )


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a float image in ``[0, 1]`` to uint8 ``0..255`` (rounded, clipped)."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- steps 2-5


def _apply_exif_orientation(image: Image.Image, notes: list[str]) -> Image.Image:
    """Step 2: rotate/flip as the EXIF orientation tag says."""
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        notes.append("EXIF data unreadable: orientation ignored")
        return image
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return image
    try:
        transposed = ImageOps.exif_transpose(image)
    except Exception:
        notes.append("EXIF orientation could not be applied: ignored")
        return image
    if transposed is None:
        return image
    notes.append("EXIF rotation applied")
    return transposed


def _simplify_mode(image: Image.Image) -> Image.Image:
    """Reduce the many Pillow modes to the few the later steps handle."""
    mode = image.mode
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or image.info.get("transparency") is not None
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "RGBa":
        return image.convert("RGBA")
    if mode == "La":
        return image.convert("LA")
    return image


def _fit_within(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The (width, height) of ``size`` scaled so its longest side is ``side``."""
    width, height = size
    scale = side / max(width, height)
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def _gray_and_alpha(image: Image.Image, name: str) -> tuple[FloatArray, FloatArray | None]:
    """Step 5: grayscale in [0, 1], plus the alpha in [0, 1] when the image has one."""
    mode = image.mode
    transparency = image.info.get("transparency")
    try:
        if mode in ("RGBA", "LA"):
            alpha = _unit8(image.getchannel("A"))
            return _unit8(image.convert("L")), alpha
        if mode in _WIDE_MODES:
            raw = np.asarray(image).astype(np.float64)
            wide_alpha = None
            if isinstance(transparency, int) and mode != "F":
                wide_alpha = (raw != transparency).astype(np.float32)
            return _wide_to_unit(raw, mode, name), wide_alpha
        key_alpha = None
        if mode == "L" and isinstance(transparency, int):
            key_alpha = (np.asarray(image) != transparency).astype(np.float32)
        elif mode == "RGB" and isinstance(transparency, tuple) and len(transparency) == 3:
            key = np.asarray(transparency).reshape(1, 1, 3)
            key_alpha = np.any(np.asarray(image) != key, axis=-1).astype(np.float32)
        try:
            luminance = image.convert("L")
        except ValueError:  # modes without a direct conversion, e.g. LAB or HSV
            luminance = image.convert("RGB").convert("L")
        return _unit8(luminance), key_alpha
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"{name}: unsupported image mode {mode!r} ({_detail(exc)})") from exc


def _unit8(image: Image.Image) -> FloatArray:
    """An 8-bit single-band image as floats in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


def _wide_to_unit(raw: npt.NDArray[np.float64], mode: str, name: str) -> FloatArray:
    """16-bit, 32-bit integer and float images, scaled by their real range (not clipped)."""
    if not np.isfinite(raw).all():
        raise ImageError(f"{name}: image contains NaN or infinite values")
    low, high = float(raw.min()), float(raw.max())
    if mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = raw
    elif low >= 0.0 and high <= 255.0:
        scaled = raw / 255.0
    elif high > low:
        scaled = (raw - low) / (high - low)
    else:
        scaled = np.zeros_like(raw)
    return scaled.astype(np.float32)


def _composite(gray: FloatArray, alpha: FloatArray, notes: list[str]) -> FloatArray:
    """Step 4: drop an opaque alpha; otherwise composite onto a contrasting background."""
    if float(alpha.min()) >= 1.0:
        return gray
    opaque = alpha > 0.5
    ink_level = float(gray[opaque].mean()) if opaque.any() else 0.0
    background = 1.0 if ink_level < 0.5 else 0.0
    notes.append(f"transparent background: composited onto {'white' if background else 'black'}")
    return (gray * alpha + np.float32(background) * (1.0 - alpha)).astype(np.float32)


def _resize(values: FloatArray, size: tuple[int, int], resample: Image.Resampling) -> FloatArray:
    """Resize a float array to ``size`` = (width, height) with Pillow's mode "F"."""
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    return np.array(image.resize(size, resample), dtype=np.float32)


# --------------------------------------------------------------------------- steps 6-11


def _finish(
    gray: FloatArray, *, name: str, notes: list[str], source_size: tuple[int, int]
) -> Preprocessed:
    """Steps 6-11 on a grayscale float image in [0, 1]."""
    gray = np.asarray(gray, dtype=np.float32)
    background = _median(_border_pixels(gray))  # step 6
    inverted = background > 0.5
    if inverted:
        gray = np.float32(1.0) - gray
        background = _median(_border_pixels(gray))
    ink = _normalise_contrast(gray, background, name)  # step 7
    ink = _remove_specks(ink)  # step 8
    crop = _crop_to_ink(ink, name)  # step 9
    box = _fit_box(crop)  # step 10
    image = _place_by_centre_of_mass(box, name)  # step 11
    return Preprocessed(image=image, inverted=inverted, source_size=source_size, notes=tuple(notes))


# The web page preprocesses a drawing per request, so steps 6-11 avoid NumPy's slower
# general helpers (np.percentile, np.median, ndimage.center_of_mass cost 25-90 µs each on a
# 56×56 drawing); the replacements below are tested against them.


def _median(values: FloatArray) -> float:
    """``float(np.median(values))``, by partitioning (the same two middle values, averaged
    in the array's own dtype as np.median does)."""
    flat = values.reshape(-1)
    middle = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, middle)[middle])
    part = np.partition(flat, (middle - 1, middle))
    return float((part[middle - 1] + part[middle]) / 2)


def _percentile(values: FloatArray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation between the two order statistics
    around the q-th percentile), computed in float32; equal to NumPy's within one float32
    unit in the last place."""
    flat = values.reshape(-1)
    index = q / 100 * (flat.size - 1)
    low = int(index)
    high = min(low + 1, flat.size - 1)
    gamma = np.float32(index - low)
    part = np.partition(flat, (low, high)) if high != low else np.partition(flat, low)
    a, b = part[low], part[high]
    diff = b - a
    # NumPy's _lerp: from the nearer end, so that gamma = 1 gives exactly b.
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _centre_of_mass(box: FloatArray) -> tuple[float, float]:
    """``ndimage.center_of_mass(box)``: the same sums in the same dtypes (equal bit for bit)."""
    total = box.sum()
    height, width = box.shape
    rows = np.arange(height, dtype=np.float64)[:, None]  # (H, 1)
    cols = np.arange(width, dtype=np.float64)[None, :]  # (1, W)
    return float((box * rows).sum() / total), float((box * cols).sum() / total)


def _border_pixels(gray: FloatArray) -> FloatArray:
    """The outermost ~4% of rows and columns (at least one pixel each side)."""
    height, width = gray.shape
    rows = max(1, int(BORDER_FRACTION * height + 0.5))
    cols = max(1, int(BORDER_FRACTION * width + 0.5))
    if 2 * rows < height and 2 * cols < width:  # the four strips do not overlap
        middle = gray[rows:-rows]
        return np.concatenate(
            [
                gray[:rows].reshape(-1),
                gray[-rows:].reshape(-1),
                middle[:, :cols].reshape(-1),
                middle[:, -cols:].reshape(-1),
            ]
        )
    mask = np.zeros(gray.shape, dtype=bool)
    mask[:rows, :] = True
    mask[-rows:, :] = True
    mask[:, :cols] = True
    mask[:, -cols:] = True
    return gray[mask]


def _normalise_contrast(gray: FloatArray, background: float, name: str) -> FloatArray:
    """Step 7: background and paper texture to 0, ink to 1."""
    peak = _percentile(gray, PEAK_PERCENTILE)
    if peak - background < MIN_CONTRAST and min(gray.shape) >= 3:
        # A thin, small digit on a big page can cover under 0.5% of the pixels: look again
        # at a 3×3 median-filtered copy, where isolated noise pixels vanish but strokes stay.
        smoothed = ndimage.median_filter(gray, size=3)
        peak = max(peak, _percentile(smoothed, FALLBACK_PEAK_PERCENTILE))
    if peak - background < MIN_CONTRAST:
        raise NoInkError(f"{name}: no ink found — the image is a single flat tone")
    threshold = background + THRESHOLD_FRACTION * (peak - background)
    scaled = (gray - np.float32(threshold)) / np.float32(peak - threshold)
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def _remove_specks(ink: FloatArray) -> FloatArray:
    """Step 8: zero 8-connected components with under 10% of the largest one's ink."""
    labels, count = ndimage.label(ink > 0, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return ink
    masses = np.bincount(labels.reshape(-1), weights=ink.reshape(-1), minlength=count + 1)[1:]
    keep = np.concatenate([[False], masses >= MIN_COMPONENT_FRACTION * masses.max()])
    return np.where(keep[labels], ink, np.float32(0.0)).astype(np.float32)


def _crop_to_ink(ink: FloatArray, name: str) -> FloatArray:
    """Step 9: the bounding box of the remaining ink."""
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        raise NoInkError(f"{name}: no ink found — the image is a single flat tone")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _fit_box(crop: FloatArray) -> FloatArray:
    """Step 10: scale so the longest side is 20 pixels, keeping the aspect ratio."""
    height, width = crop.shape
    scale = BOX_SIZE / max(height, width)
    new_width = min(BOX_SIZE, max(1, int(width * scale + 0.5)))
    new_height = min(BOX_SIZE, max(1, int(height * scale + 0.5)))
    if (new_width, new_height) == (width, height):
        box = crop
    else:
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
        box = _resize(crop, (new_width, new_height), resample)
    return np.clip(box, 0.0, 1.0).astype(np.float32)


def _place_by_centre_of_mass(box: FloatArray, name: str) -> FloatArray:
    """Step 11: put the box in a black 28×28 frame, centre of mass at (14, 14)."""
    height, width = box.shape
    if float(box.sum()) <= 0.0:
        raise NoInkError(f"{name}: no ink found — the image is a single flat tone")
    centre_y, centre_x = _centre_of_mass(box)
    target = MNIST_SIZE / 2
    top = min(max(math.floor(target - centre_y + 0.5), 0), MNIST_SIZE - height)
    left = min(max(math.floor(target - centre_x + 0.5), 0), MNIST_SIZE - width)
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    frame[top : top + height, left : left + width] = box
    return frame
