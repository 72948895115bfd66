"""`zoo predict`: load a model, preprocess images the way it was trained, decode, annotate.

ImageNet models follow the reference pipeline exactly: `keras.utils.load_img(path,
target_size=native size)` (grayscale and RGBA become RGB), `img_to_array`, then the model's
own `keras.applications.*.preprocess_input`. Runs trained by `zoo train` use their
`labels.json` (class names, input shape, preprocessing, mean).
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from zoo.backend import keras_home, load_saved_model
from zoo.data.sources import IMAGE_SUFFIXES
from zoo.errors import ZooError, ZooRuntimeError

KERAS_MODELS_CACHE = keras_home() / "models"


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


def _weights_failure(name: str, exc: Exception) -> ZooRuntimeError:
    url = re.search(r"https?://\S+?\.h5", str(exc))
    file = url.group(0).rsplit("/", 1)[-1] if url else f"the {name} ImageNet weights file"
    return ZooRuntimeError(
        f"cannot download the ImageNet weights of {name} ({type(exc).__name__}); put {file} in "
        f"{KERAS_MODELS_CACHE}/ or pass --weights FILE"
    )


def load_predictor(model_arg: str, weights: str | None = None) -> Predictor:
    """Build or load the model named by `model_arg`: a registered name, a run dir or a .keras."""
    from zoo.backend import load_keras

    load_keras()  # quietly, before the builders import Keras
    from zoo.models.registry import get_spec

    path = Path(model_arg).expanduser()
    if path.is_dir() or path.suffix == ".keras":
        return _load_trained(path, weights)
    spec = get_spec(model_arg)
    if not spec.pretrained:
        raise ZooError(f"{spec.name} has no ImageNet weights; pass a run directory or a "
                       ".keras file trained by 'zoo train'")
    from zoo.models.applications import preprocess_module
    from zoo.models.registry import build_model

    if weights:
        if not Path(weights).is_file():
            raise ZooError(f"weights file not found: {weights}")
        model = build_model(spec.name)
        try:
            model.load_weights(weights)
        except Exception as exc:
            raise ZooError(f"{weights} does not fit {spec.name}: "
                           f"{str(exc).splitlines()[0][:200]}") from None
    else:
        try:
            model = build_model(spec.name, weights="imagenet")
        except Exception as exc:
            raise _weights_failure(spec.name, exc) from None
    classes = imagenet_classes()
    module = preprocess_module(spec.name)
    return Predictor(model, spec.name, spec.input_shape, [c[1] for c in classes],
                     [c[0] for c in classes],
                     lambda x: module.preprocess_input(x.copy()))


def _load_trained(path: Path, weights: str | None) -> Predictor:
    from zoo.data.preprocessing import scale_pixels

    run_dir = path if path.is_dir() else path.parent
    model_file = path / "model.keras" if path.is_dir() else path
    if not model_file.is_file():
        raise ZooError(f"{path}: no model.keras (not a run directory of 'zoo train'?)")
    model = load_saved_model(model_file, compile=False)  # no optimizer needed
    if weights:
        model.load_weights(weights)
    info_file = run_dir / "labels.json"
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    shape = tuple(info.get("input_shape") or model.input_shape[1:])
    count = model.output_shape[-1]
    labels = info.get("labels") or [str(i) for i in range(count)]
    mode, mean = info.get("preprocessing", "scale"), info.get("mean")
    return Predictor(model, run_dir.name if path.is_dir() else path.stem, shape, labels, None,
                     lambda x: scale_pixels(x, mode, mean))


def load_image(path: str, shape: tuple[int, int, int], crop: bool = False) -> np.ndarray:
    """The seed pipeline: `load_img` at the model's size (RGB, or grayscale for 1-channel
    models), `img_to_array`. With `crop`, resize the shorter side and centre-crop instead."""
    import keras

    height, width, channels = shape
    color_mode = "grayscale" if channels == 1 else "rgb"
    if crop:
        from zoo.data.preprocessing import resize_and_crop

        image = keras.utils.img_to_array(keras.utils.load_img(path, color_mode=color_mode))
        return resize_and_crop(image.astype(np.uint8), (height, width)).astype("float32")
    image = keras.utils.load_img(path, color_mode=color_mode, target_size=(height, width))
    return keras.utils.img_to_array(image)


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


def annotate(source: str, prediction: dict, output_dir: Path) -> Path:
    """A copy of the image with its top label and probability drawn on it, as the seed
    script showed on screen."""
    import cv2

    from zoo.io import atomic_path

    image = cv2.imread(source)
    if image is None:
        from PIL import Image

        image = cv2.cvtColor(np.asarray(Image.open(source).convert("RGB")), cv2.COLOR_RGB2BGR)
    text = f"{prediction['label']}: {prediction['probability'] * 100:.2f}%"
    scale = max(0.5, image.shape[1] / 640)
    thickness = max(1, round(2 * scale))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(image, (5, 5), (15 + w, 15 + h + base), (0, 0, 0), -1)
    cv2.putText(image, text, (10, 10 + h), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0),
                thickness, cv2.LINE_AA)
    target = output_dir / f"{Path(source).stem}{Path(source).suffix.lower() or '.png'}"
    with atomic_path(target) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise ZooRuntimeError(f"cannot write {target}")
    return target
