"""The predict loop: image files (or arrays) in batches through a `Predictor`, unreadable
files skipped and reported, top-k rows per image, annotated copies on request.

Images are decoded by `zoo.data.images`, the decoder training uses, then resized as
`keras.utils.load_img(path, target_size=...)` does (PIL nearest neighbour), so ImageNet
models follow the reference pipeline exactly; the card prepares the pixels (`scale_pixels`).
`zoo predict` prints what `predict_images` yields; `zoo export` verifies with it.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.card import ModelCard
from zoo.data.sources import is_image_name
from zoo.errors import ZooError
from zoo.predict.predictor import Predictor


@dataclass(frozen=True)
class Prediction:
    """One image's result: its full probabilities and its top-k rows."""

    image: str
    model: str
    probabilities: np.ndarray
    predictions: list[dict]  # rank, index, label, (wnid), probability
    tta: str | None = None  # the test-time augmentation its probabilities are the mean of

    def to_json(self) -> dict:
        result = {"image": self.image, "model": self.model, "predictions": self.predictions}
        if self.tta:
            result["tta"] = self.tta
        return result


@dataclass(frozen=True)
class Skipped:
    """An image that could not be read, and why."""

    image: str
    reason: str


def expand_images(patterns: list[str]) -> list[str]:
    """Files, directories (their images, sorted) and globs, in the order given."""
    paths: list[str] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            paths += sorted(str(p) for p in path.rglob("*")
                            if p.is_file() and is_image_name(p))
        elif any(c in pattern for c in "*?["):
            paths += sorted(p for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        else:
            paths.append(str(path))
    if not paths:
        raise ZooError(f"no images found in {' '.join(patterns)}")
    return paths


def load_image(path: str, shape: tuple[int, int, int], crop: bool = False) -> np.ndarray:
    """An image as the model's float32 input before preprocessing, values in 0-255.

    Decoded by `zoo.data.images` (RGB, or grayscale for 1-channel models), then resized to the
    model's size with PIL nearest neighbour, as `keras.utils.load_img(path, target_size=...)`
    and `img_to_array` do. With `crop`, the shorter side is resized and the centre cropped.

    Raises:
        UnreadableImage: the file is not a readable image; `str(exc)` says why.
    """
    from PIL import Image

    from zoo.data.images import open_image, to_channels

    height, width, channels = shape
    image = to_channels(open_image(path, (height, width) if crop else None),
                        1 if channels == 1 else 3)
    if crop:
        from zoo.data.preprocessing import resize_and_crop

        array = np.asarray(image, dtype=np.uint8)
        array = array[..., None] if array.ndim == 2 else array
        return resize_and_crop(array, (height, width)).astype("float32")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.NEAREST)
    array = np.asarray(image, dtype="float32")
    return array[..., None] if array.ndim == 2 else array


def read_images(paths: Sequence[str], shape, crop: bool = False
                ) -> Iterator[tuple[str, np.ndarray] | Skipped]:
    """`(path, image)` for each readable file of `paths` (`load_image`), `Skipped` for the
    others, in order."""
    from zoo.data.images import UnreadableImage

    for path in paths:
        try:
            yield str(path), load_image(str(path), shape, crop)
        except UnreadableImage as exc:
            yield Skipped(str(path), str(exc))


def top_k(probs: np.ndarray, card: ModelCard, k: int) -> list[dict]:
    """The `k` most probable classes: rank, index, label, wnid (ImageNet), probability."""
    order = np.argsort(-probs)[:k]
    rows = []
    for rank, index in enumerate(order, start=1):
        row = {"rank": rank, "index": int(index), "label": card.names[index]}
        if card.wnids:
            row["wnid"] = card.wnids[index]
        row["probability"] = float(probs[index])
        rows.append(row)
    return rows


def predict_images(predictor: Predictor, images: Sequence, batch_size: int = 32,
                   top: int = 5, crop: bool = False, output: str | Path | None = None,
                   tta: str | None = None) -> Iterator[Prediction | Skipped]:
    """Classify `images`, `batch_size` at a time, yielding a `Prediction` per readable image
    and a `Skipped` per unreadable one, in input order within each batch (the skipped of a
    batch first).

    Args:
        predictor: the model and its card.
        images: file paths (decoded here at the model's size), or `(name, image)` pairs of
            0-255 arrays already at it.
        batch_size: images per call of the model, at least 1. Defaults to `32`.
        top: how many classes each `Prediction` lists. Defaults to `5`.
        crop: resize the shorter side and centre-crop instead of a plain resize.
        output: a directory to write a labelled copy of each image into
            (`zoo.predict.annotate`). Defaults to `None` (none written).
        tta: test-time augmentation (`zoo.tta`): `"flip"`, the mean of the probabilities of
            each image and its mirror; `"crops"`, of its ten crops, the image decoded at
            1/0.875 of the model's size (arrays given at the model's size are resized up to
            it). A call then holds `batch_size` / views images, so their views fill about
            `batch_size`. Defaults to `None` (none).
    """
    from zoo import tta as views

    views.check_mode(tta)
    height, width, channels = predictor.input_shape
    load_shape = (*views.load_size((height, width), tta), channels)
    step = views.images_per_batch(batch_size, tta)
    names = None
    if output is not None:
        from zoo.predict.annotate import AnnotationNames, annotate

        names = AnnotationNames(Path(output))
    for start in range(0, len(images), step):
        chunk = images[start : start + step]
        files = [item for item in chunk if not isinstance(item, tuple)]
        decoded = iter(read_images(files, load_shape, crop))
        ready = []
        for item in chunk:
            item = item if isinstance(item, tuple) else next(decoded)
            if isinstance(item, Skipped):
                yield item
            else:
                ready.append(item)
        if not ready:
            continue
        batch = np.stack([_at_size(image, load_shape) for _, image in ready])
        probs = predictor.predict(views.make_views(batch, (height, width), tta), batch_size)
        probs = views.mean_over_views(probs, tta)
        for (name, _), p in zip(ready, probs, strict=True):
            result = Prediction(name, predictor.name, p, top_k(p, predictor.card, top), tta)
            yield result
            if names is not None:  # after the caller has shown the result
                annotate(name, result.predictions[0], names(name))


def _at_size(image: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """An image given as an array at the model's size, brought to `shape` (ten-crop TTA loads
    larger images); unchanged when it is there already."""
    if image.shape[:2] == tuple(shape[:2]):
        return image
    from zoo.data.preprocessing import resize_and_crop

    return resize_and_crop(np.asarray(image, dtype=np.float32), shape[:2])
