"""Labelled copies of classified images (`zoo predict --output DIR`)."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import from_os_error


class AnnotationNames:
    """One output file per input image, within one `zoo predict`: `x.jpg`, then `x-2.jpg` for
    another `x.jpg` from another folder, in input order. The same input file given twice
    keeps its one name. Suffixes Pillow cannot write become `.png`."""

    def __init__(self, output_dir: str | Path):
        self.output_dir = Path(output_dir)
        self._by_source: dict[Path, Path] = {}
        self._taken: set[str] = set()  # lower case: macOS and Windows ignore case

    def __call__(self, source: str | Path) -> Path:
        key = Path(source).resolve()
        if key in self._by_source:
            return self._by_source[key]
        stem, suffix = Path(source).stem, _writable_suffix(Path(source).suffix)
        name, n = f"{stem}{suffix}", 1
        while name.lower() in self._taken:
            n += 1
            name = f"{stem}-{n}{suffix}"
        self._taken.add(name.lower())
        self._by_source[key] = self.output_dir / name
        return self._by_source[key]


def _writable_suffix(suffix: str) -> str:
    from PIL import Image

    Image.init()
    suffix = suffix.lower()
    return suffix if Image.registered_extensions().get(suffix) in Image.SAVE else ".png"


def annotate(source: str, prediction: dict, target: str | Path) -> Path:
    """Write `target`: a copy of the image with its top label and probability drawn on it,
    as the seed script showed on screen. The image is decoded by `zoo.data.images` (so it
    reads exactly what was classified) and written atomically.

    Raises:
        UnreadableImage: the source is not a readable image.
    """
    import cv2

    from zoo.data.images import read_image

    image = read_image(source, 3)  # RGB: the colours below are RGB
    text = f"{prediction['label']}: {prediction['probability'] * 100:.2f}%"
    scale = max(0.5, image.shape[1] / 640)
    thickness = max(1, round(2 * scale))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(image, (5, 5), (15 + w, 15 + h + base), (0, 0, 0), -1)
    cv2.putText(image, text, (10, 10 + h), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0),
                thickness, cv2.LINE_AA)
    return save_copy(image, target)


def save_copy(image, target: str | Path) -> Path:
    """Write an RGB uint8 array to `target` atomically, in the format its suffix names
    (PNG when Pillow knows none; JPEG at quality 95): the annotated copies of `zoo predict`.

    Raises:
        ZooError: the file cannot be written (`from_os_error`: the disk is full, ...).
    """
    from PIL import Image

    from zoo.io import atomic_path

    target = Path(target)
    Image.init()
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    options = {"quality": 95} if fmt == "JPEG" else {}
    try:
        with atomic_path(target) as tmp:
            Image.fromarray(image).save(tmp, format=fmt, **options)
    except OSError as exc:
        raise from_os_error(exc, "write", target, remedy="choose another --output") from None
    return target
