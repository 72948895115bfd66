"""`zoo predict`: load a model, preprocess images the way it was trained, decode, annotate.

Images are decoded by `zoo.data.images`, the decoder training uses, then resized as
`keras.utils.load_img(path, target_size=...)` does (PIL nearest neighbour), so ImageNet
models follow the reference pipeline exactly: `load_img`, `img_to_array`, then the model's
own `keras.applications.*.preprocess_input`. A run directory, or a model file inside one
(`RUN/model.keras`, `RUN/checkpoint/periodic-0010.keras`), brings the run's class names,
input shape, preprocessing and mean (`zoo.run.Labels`).
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from zoo.data.sources import IMAGE_SUFFIXES
from zoo.errors import ZooError, first_line, from_os_error


def imagenet_classes() -> list[tuple[str, str]]:
    """The 1000 ImageNet classes as (wnid, label), in index order, from the bundled file."""
    text = resources.files("zoo.resources").joinpath("imagenet_class_index.json").read_text()
    index = json.loads(text)
    return [tuple(index[str(i)]) for i in range(len(index))]


@dataclass
class Predictor:
    model: object
    name: str
    input_shape: tuple[int, int, int]
    labels: list[str]
    wnids: list[str] | None
    preprocess: object  # float32 batch (N, H, W, C) in 0-255 -> model input
    warnings: list[str] = field(default_factory=list)  # for the CLI to show, one line each
    # what `preprocess` does, as `zoo.data.preprocessing.scale_pixels` names it (zoo export
    # writes it into the exported file); None where it is not one of those modes
    preprocessing: str | None = None
    mean: tuple[float, ...] | None = None

    def predict(self, batch: np.ndarray, batch_size: int) -> np.ndarray:
        return np.asarray(self.model.predict(self.preprocess(batch), batch_size=batch_size,
                                             verbose=0), dtype=np.float64)


def expand_images(patterns: list[str]) -> list[str]:
    """Files, directories (their images, sorted) and globs, in the order given."""
    paths: list[str] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            paths += sorted(str(p) for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif any(c in pattern for c in "*?["):
            paths += sorted(p for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        else:
            paths.append(str(path))
    if not paths:
        raise ZooError(f"no images found in {' '.join(patterns)}")
    return paths


def load_predictor(model_arg: str, weights: str | None = None, device: str = "auto"
                   ) -> Predictor:
    """Build or load the model named by `model_arg`: a registered name, a run dir, a .keras,
    or a file of `zoo export` (.onnx, .tflite, a SavedModel directory), which its own runtime
    runs without Keras (`device` is for those; Keras models run under `keras.device`)."""
    from zoo.runtime import exported_format

    if exported_format(model_arg):
        if weights:
            raise ZooError(f"{model_arg} is an exported model, which holds its weights; "
                           "--weights applies to Keras models only")
        from zoo.runtime import load_exported_predictor

        return load_exported_predictor(model_arg, device)
    from zoo.backend import load_keras

    load_keras()  # quietly, before the builders import Keras
    from zoo.models.registry import get_spec

    path = Path(model_arg).expanduser()
    from zoo.features.classifiers import is_features_run

    if is_features_run(path):  # zoo fit-features / zoo baseline: extractor + classifier
        if weights:
            raise ZooError(f"{path} is a features run (an extractor and a classifier); "
                           "--weights applies to Keras models only")
        from zoo.features.classifiers import load_features_predictor

        return load_features_predictor(path)
    if path.is_dir() or path.suffix == ".keras":
        return _load_trained(path, weights)
    spec = get_spec(model_arg)
    if not spec.pretrained:
        raise ZooError(f"{spec.name} has no ImageNet weights; pass a run directory or a "
                       ".keras file trained by 'zoo train'")
    from zoo.models.applications import build_with_imagenet_weights, preprocess_module

    model = build_with_imagenet_weights(spec.name, weights)
    classes = imagenet_classes()
    module = preprocess_module(spec.name)
    return Predictor(model, spec.name, spec.input_shape, [c[1] for c in classes],
                     [c[0] for c in classes],
                     lambda x: module.preprocess_input(x.copy()),
                     preprocessing=spec.preprocessing)


def _load_trained(path: Path, weights: str | None) -> Predictor:
    from zoo.data.preprocessing import scale_pixels
    from zoo.run import RunDir, load_model

    if path.is_dir():
        run = RunDir(path)
        model_file = run.best_model
        if not model_file.is_file():
            raise ZooError(f"{path}: no {model_file.name} (not a run directory of 'zoo train'?)")
    else:
        if not path.is_file():
            raise ZooError(f"model file not found: {path}")
        run, model_file = RunDir.containing(path), path
    labels = run.read_card() if run else None
    model = load_model(model_file, compile=False)  # predictions only: no optimizer
    if weights:
        if not Path(weights).is_file():
            raise ZooError(f"weights file not found: {weights}")
        try:
            model.load_weights(weights)
        except Exception as exc:
            raise ZooError(f"{weights} does not fit {model_file}: "
                           f"{first_line(exc)}") from None
    if labels is None:
        count = model.output_shape[-1]
        return Predictor(model, path.stem, tuple(model.input_shape[1:]),
                         [str(i) for i in range(count)], None,
                         lambda x: scale_pixels(x, "scale"),
                         [f"{path} is not inside a run directory: classes are numbered and "
                          "pixels scaled to [0, 1]"], preprocessing="scale")
    if path.is_dir() or model_file.resolve() == run.best_model.resolve():
        name = run.name
    else:
        name = f"{run.name}/{model_file.resolve().relative_to(run.path.resolve())}"
    mode, mean = labels.preprocessing, labels.mean
    return Predictor(model, name, tuple(labels.input_shape), list(labels.names), None,
                     lambda x: scale_pixels(x, mode, mean), preprocessing=mode,
                     mean=tuple(mean) if mean else None)


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
    image = to_channels(open_image(path), 1 if channels == 1 else 3)
    if crop:
        from zoo.data.preprocessing import resize_and_crop

        array = np.asarray(image, dtype=np.uint8)
        array = array[..., None] if array.ndim == 2 else array
        return resize_and_crop(array, (height, width)).astype("float32")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.NEAREST)
    array = np.asarray(image, dtype="float32")
    return array[..., None] if array.ndim == 2 else array


def top_k(probs: np.ndarray, predictor: Predictor, k: int) -> list[dict]:
    order = np.argsort(-probs)[:k]
    rows = []
    for rank, index in enumerate(order, start=1):
        row = {"rank": rank, "index": int(index), "label": predictor.labels[index]}
        if predictor.wnids:
            row["wnid"] = predictor.wnids[index]
        row["probability"] = float(probs[index])
        rows.append(row)
    return rows


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
    from PIL import Image

    from zoo.data.images import read_image
    from zoo.io import atomic_path

    image = read_image(source, 3)  # RGB: the colours below are RGB
    text = f"{prediction['label']}: {prediction['probability'] * 100:.2f}%"
    scale = max(0.5, image.shape[1] / 640)
    thickness = max(1, round(2 * scale))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(image, (5, 5), (15 + w, 15 + h + base), (0, 0, 0), -1)
    cv2.putText(image, text, (10, 10 + h), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0),
                thickness, cv2.LINE_AA)
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
