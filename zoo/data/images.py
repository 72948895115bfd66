"""The one image decoder: training, evaluation, predict and annotation all read files here.

Pillow decides what a file is from its bytes, never from its name (a PNG saved as `.jpg`
and a JPEG followed by a phone's motion-photo trailer are both fine), and it refuses a
truncated JPEG or PNG when it loads the pixels, as long as
`PIL.ImageFile.LOAD_TRUNCATED_IMAGES` stays False (zoo never sets it). A file that cannot be
decoded raises `UnreadableImage`, whose message is a short reason for the user:
`"empty file"`, `"truncated image data"`, `"not an image (HTML page)"`, ...

Decoding is kept quiet: Pillow's Python warnings (corrupt EXIF, palette transparency, ...)
are ignored through one warnings filter installed when this module is imported (a filter
scoped to Pillow's modules, so it is safe from the loader threads, unlike
`warnings.catch_warnings`), and libtiff, the one native library behind Pillow that prints to
file descriptor 2 ("Using code not yet in table."), decodes with fd 2 pointed at /dev/null.
Pillow already silences libjpeg; its PNG, GIF, BMP and WebP decoders do not print.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# Pillow attributes its decoding warnings to its own modules (default stacklevel).
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"PIL\.")  # decompression bomb

# Formats whose Pillow decoder is a native library that writes to stderr by itself.
_CHATTY_FORMATS = frozenset({"TIFF"})

# Leading bytes of common formats, to say why a file that starts like an image could not
# even be identified.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


class UnreadableImage(Exception):
    """A file that is not a decodable image. `str(exc)` is a short reason, such as
    `"truncated image data"`, `"empty file"` or `"not an image (HTML page)"`."""


def open_image(path: str | Path, size: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image file completely, judging its format by its bytes.

    Args:
        path: the image file.
        size: `(height, width)` the caller will resize the image to, or None. A JPEG at
            least twice that large in both sides is decoded by libjpeg already scaled down
            by 2, 4 or 8 (Pillow's `draft`: the inverse DCT of fewer coefficients, an area
            average like the resize that follows), never below `max(size)` on either side,
            whatever the EXIF orientation. A 1024x768 photo for a 64x64 model decodes at
            128x96 in about a quarter of the time of the full picture (BENCHMARKS.md).

    Returns:
        A `PIL.Image.Image` whose pixels are loaded, in the file's own mode (`"RGB"`, `"L"`,
        `"I;16"`, `"CMYK"`, `"P"`, `"RGBA"`, ...); the first frame of an animation.

    Raises:
        UnreadableImage: the file is missing, empty, truncated, corrupt or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableImage(f"cannot read the file ({exc.strerror or exc})") from None
    if not data:
        raise UnreadableImage("empty file")
    try:
        image = Image.open(io.BytesIO(data))
        if size and image.format == "JPEG":
            side = max(size)
            image.draft(None, (side, side))
        quiet = image.format in _CHATTY_FORMATS
        with _native_stderr_silenced() if quiet else contextlib.nullcontext():
            image.load()
    except UnidentifiedImageError:
        raise UnreadableImage(_unidentified_reason(data)) from None
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"image too large ({str(exc).split(' exceeds')[0]})") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise UnreadableImage(_decode_failure_reason(exc)) from None
    return image


def to_channels(image: Image.Image, channels: int = 3) -> Image.Image:
    """Convert a decoded image to `"RGB"` (`channels=3`) or `"L"` (`channels=1`).

    Like `keras.utils.load_img`: palette, alpha, grayscale and CMYK images go through Pillow's
    `convert`, except that 16- and 32-bit grayscale are scaled to 8 bits by their high byte
    (Pillow's `convert("L")` clips them, turning most of a 16-bit photo white).

    Args:
        image: a `PIL.Image.Image`, as `open_image` returns it.
        channels: `3` for RGB or `1` for grayscale. Defaults to `3`.

    Returns:
        A `PIL.Image.Image` in mode `"RGB"` or `"L"`.

    Raises:
        UnreadableImage: a colour mode that cannot be converted.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    mode = "L" if channels == 1 else "RGB"
    if image.mode == mode:
        return image
    if image.mode.startswith("I") or image.mode == "F":
        image = Image.fromarray(_high_byte(image))
        if image.mode == mode:
            return image
    try:
        return image.convert(mode)
    except ValueError:
        raise UnreadableImage(f"unsupported colour mode {image.mode}") from None


def read_image(path: str | Path, channels: int = 3,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image file to a uint8 array, RGB or grayscale.

    Args:
        path: the image file.
        channels: `3` for RGB, `1` for grayscale. Defaults to `3`.
        size: `(height, width)` the image will be resized to, or None: a large JPEG is
            then decoded scaled down towards it (`open_image`).

    Returns:
        A writable `uint8` array of shape `(height, width, channels)`.

    Raises:
        UnreadableImage: the file is not a readable image; `str(exc)` says why.
    """
    array = np.array(to_channels(open_image(path, size), channels), dtype=np.uint8)  # writable
    return array[..., None] if array.ndim == 2 else array


def _high_byte(image: Image.Image) -> np.ndarray:
    """A 16-bit ("I;16", "I;16B", or "I" holding 16-bit values) or float image as uint8."""
    array = np.asarray(image)
    if image.mode == "F":
        top = 1.0 if float(np.nanmax(array, initial=0.0)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(array) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    array = array.astype(np.int64)
    if image.mode == "I" and array.max(initial=0) > 0xFFFF:  # a true 32-bit image
        return (np.clip(array, 0, 0xFFFFFFFF) >> 24).astype(np.uint8)
    return (np.clip(array, 0, 0xFFFF) >> 8).astype(np.uint8)


def _unidentified_reason(data: bytes) -> str:
    """Why Pillow could not even tell what the file is."""
    head = data[:1024]
    if b"\x00" not in head and _is_utf8(head):
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]:
            return "not an image (HTML page)"
        if text.startswith((b"<?xml", b"<svg")):
            return "not an image Pillow reads (XML or SVG)"
        return "not an image (text)"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return f"truncated or corrupt {name} data"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1"):
        return "unsupported image format (HEIC)"
    return "not an image (unknown format)"


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 == 1021  # only a character cut at byte 1024
    return True


def _decode_failure_reason(exc: Exception) -> str:
    """Why Pillow recognised the format but could not decode the pixels."""
    from zoo.errors import first_line

    message = first_line(exc, limit=None)
    if "truncated" in message or isinstance(exc, EOFError):
        return "truncated image data"
    return f"corrupt image data ({message[:80]})"


_stderr_lock = threading.Lock()
_stderr_users = 0
_stderr_saved: int | None = None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null while a native decoder runs. Thread-safe: loader threads share
    one redirection (counted), so the last one out restores the terminal. Anything another
    thread writes to stderr in that window is lost, which is why only chatty formats use it."""
    global _stderr_users, _stderr_saved
    if os.environ.get("ZOO_BACKEND_LOGS", "") not in ("", "0"):
        yield
        return
    with _stderr_lock:
        if _stderr_users == 0:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            _stderr_saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _stderr_users += 1
    try:
        yield
    finally:
        with _stderr_lock:
            _stderr_users -= 1
            if _stderr_users == 0 and _stderr_saved is not None:
                os.dup2(_stderr_saved, 2)
                os.close(_stderr_saved)
                _stderr_saved = None
