"""Feature extractors: one registry for the classic descriptors and the layers of CNNs.

An extractor turns a float32 batch `(N, H, W, C)` of 0-255 pixels, at its `input_shape`, into
float32 features `(N, D)`. The classic descriptors (computed by OpenCV and scikit-image):

    pixels      the image at 32x32 RGB, scaled to [0, 1]                         3072
    colorhist   a 3-D HSV histogram, 8 x 8 x 8 bins, normalised to sum 1           512
    hog         HOG of the 64x64 gray image: 9 orientations, 8x8-pixel cells,
                2x2-cell blocks, L2-Hys (Dalal & Triggs 2005)                     1764
    lbp         a histogram of uniform LBP codes, 24 points at radius 3, of the
                64x64 gray image (Ojala et al. 2002), normalised to sum 1           26
    hu          the 7 Hu moments of the 64x64 gray image, log-scaled                7

The bags of visual words (`zoo.features.bovw`) pool local descriptors over a codebook
learned on the training split, and so must be fitted before they describe anything:

    sift-bovw, rootsift-bovw, orb-bovw   word histograms of the 128x128 gray image,
                                         L2-normalised                    K (--words, 256)

A CNN extractor is a registered ImageNet model, or the best model of a `zoo train` run, cut at
a layer (default: the input of its final `Dense`, the features its classifier sees), its 4-D
output pooled (`avg`, `max` or `flatten`). Each extractor `describe()`s itself as a
JSON-ready dict, from which `from_description` rebuilds it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from zoo.choices import POOLINGS
from zoo.errors import ZooError, ZooRuntimeError


class Extractor:
    """The interface: `name`, `input_shape`, `dim`, `__call__` and `describe`."""

    name: str
    input_shape: tuple[int, int, int]
    dim: int

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError


def _gray(images: np.ndarray) -> np.ndarray:
    """float 0-255 (N, H, W, C) -> uint8 gray (N, H, W) by luminance (ITU-R 601)."""
    from zoo.data.preprocessing import adapt_channels

    return adapt_channels(_uint8(images), 1)[..., 0]


def _uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


class Classic(Extractor):
    """A classic descriptor: `fn(images float 0-255 (N, size, size, 3)) -> (N, dim)`."""

    def __init__(self, name: str, size: int, dim: int, fn, summary: str):
        self.name, self.input_shape, self.dim = name, (size, size, 3), dim
        self.fn, self.summary = fn, summary

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(images), dtype=np.float32).reshape(len(images), self.dim)

    def describe(self) -> dict:
        return {"kind": "classic", "name": self.name, "input_shape": list(self.input_shape),
                "dim": self.dim, "layer": None, "pooling": None, "preprocessing": self.summary}


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1) / 255.0


def _colorhist(images: np.ndarray) -> np.ndarray:
    import cv2

    rows = []
    for image in _uint8(images):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 8, 8], [0, 180, 0, 256, 0, 256])
        rows.append(hist.ravel() / max(float(hist.sum()), 1.0))
    return np.stack(rows)


def _hog(images: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    return np.stack([hog(gray, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                         block_norm="L2-Hys", feature_vector=True) for gray in _gray(images)])


def _lbp(images: np.ndarray) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    points, radius = 24, 3
    rows = []
    for gray in _gray(images):
        codes = local_binary_pattern(gray, points, radius, method="uniform")
        hist, _ = np.histogram(codes, bins=points + 2, range=(0, points + 2))
        rows.append(hist / max(hist.sum(), 1))
    return np.stack(rows)


def _hu(images: np.ndarray) -> np.ndarray:
    import cv2

    rows = []
    for gray in _gray(images):
        hu = cv2.HuMoments(cv2.moments(gray)).ravel()
        # the moments span tens of orders of magnitude: compare their logarithms
        rows.append(-np.sign(hu) * np.log10(np.abs(hu) + 1e-30))
    return np.stack(rows)


CLASSIC: dict[str, Classic] = {
    e.name: e
    for e in (
        Classic("pixels", 32, 32 * 32 * 3, _pixels, "32x32 RGB pixels / 255"),
        Classic("colorhist", 64, 8 * 8 * 8, _colorhist, "64x64, HSV histogram 8x8x8, sum 1"),
        Classic("hog", 64, 7 * 7 * 2 * 2 * 9, _hog,
                "64x64 gray, HOG 9 orientations, 8x8 cells, 2x2 blocks, L2-Hys"),
        Classic("lbp", 64, 24 + 2, _lbp, "64x64 gray, uniform LBP P=24 R=3 histogram, sum 1"),
        Classic("hu", 64, 7, _hu, "64x64 gray, 7 Hu moments, -sign*log10|h|"),
    )
}


class CNN(Extractor):
    """A Keras model cut at a layer and pooled; `preprocess` maps 0-255 pixels to its input."""

    def __init__(self, model, preprocess, description: dict):
        self.model, self.preprocess = model, preprocess
        self.name = description["name"]
        self.input_shape = tuple(description["input_shape"])
        self.dim = int(description["dim"])
        self._description = description
        self._batch = 0  # the largest batch seen: every call is padded to it

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from zoo.backend import predict_batch

        self._batch = max(self._batch, len(images))
        out = predict_batch(self.model, self.preprocess(np.asarray(images, np.float32)),
                            self._batch)
        return np.asarray(out, dtype=np.float32).reshape(len(images), -1)

    def describe(self) -> dict:
        return dict(self._description)


def _cut(model, layer: str | None, pooling: str, label: str):
    """`model` from its input to `layer`'s output (default: the input of its last `Dense`),
    a 4-D output pooled; returns the feature model, the layer name and the pooling used."""
    import keras

    if pooling not in POOLINGS:
        raise ZooError(f"unknown pooling '{pooling}'; choose one of {', '.join(POOLINGS)}")
    if layer is None:
        dense = [lay for lay in model.layers if isinstance(lay, keras.layers.Dense)]
        if not dense:
            raise ZooError(f"{label} has no Dense classifier to cut before; name a layer "
                           "with --layer")
        # the layer feeding the classifier: its output is the classifier's input
        inbound = dense[-1]._inbound_nodes[0].input_tensors[0]
        layer = inbound._keras_history[0].name
    try:
        output = model.get_layer(layer).output
    except ValueError:
        names = [lay.name for lay in model.layers]
        close = difflib.get_close_matches(layer, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        where = "'zoo summary --model NAME'" if Path(label).is_dir() else \
            f"'zoo summary --model {label}'"
        raise ZooError(f"{label} has no layer '{layer}'{hint} ({where} lists its layers)") \
            from None
    if len(output.shape) == 4:
        pool = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D,
                "flatten": keras.layers.Flatten}[pooling]
        output = pool(name=f"features_{pooling}")(output)
    elif len(output.shape) == 2:
        pooling = None
    else:
        output = keras.layers.Flatten(name="features_flatten")(output)
        pooling = "flatten"
    features = keras.Model(model.inputs, output, name=f"{model.name}_features")
    return features, layer, pooling


def imagenet_preprocess(name: str):
    """ImageNet model `name`'s preprocessing: `scale_pixels` in its mode (equal to its
    `keras.applications` `preprocess_input` to the bit, tests/test_card.py), on a copy."""
    from zoo.models.registry import get_spec

    return run_preprocess(get_spec(name).preprocessing, None)


def run_preprocess(mode: str, mean):
    from zoo.data.preprocessing import scale_pixels

    return lambda x: scale_pixels(x, mode, list(mean) if mean else None)


def cnn_extractor(source: str, layer: str | None = None, pooling: str = "avg",
                  weights: str | None = None) -> CNN:
    """A CNN extractor from a registered ImageNet model or a `zoo train` run directory.

    Args:
        source: an ImageNet model name (`zoo models --pretrained`) or a run directory.
        layer: the layer whose output is the feature. Defaults to `None` (the input of the
            model's last `Dense` layer).
        pooling: how a 4-D output becomes a vector: `"avg"`, `"max"` or `"flatten"`.
            Defaults to `"avg"`.
        weights: for an ImageNet model, a local weights file. Defaults to `None` (the
            ImageNet weights, downloaded into the Keras cache).

    Returns:
        A `CNN` extractor.
    """
    from zoo.backend import load_keras

    load_keras()
    path = Path(source).expanduser()
    if path.is_dir():
        from zoo.run import RunDir, load_model

        run = RunDir(path)
        labels = run.read_card()
        if not run.best_model.is_file():
            raise ZooError(f"{path}: no {run.best_model.name} (not a run directory of "
                           "'zoo train'?)")
        model = load_model(run.best_model, compile=False)
        description = {"kind": "cnn", "name": run.name, "source": str(path.resolve()),
                       "weights": None, "preprocessing": labels.preprocessing,
                       "mean": list(labels.mean) if labels.mean else None,
                       "imagenet": None, "input_shape": list(labels.input_shape)}
        preprocess = run_preprocess(labels.preprocessing, labels.mean)
    else:
        from zoo.models.registry import get_spec, list_models

        try:
            spec = get_spec(source)
        except ZooError:
            from zoo.features.bovw import NAMES

            known = [*CLASSIC, *NAMES, *list_models(pretrained=True)]
            close = difflib.get_close_matches(source.lower(), known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ZooError(f"unknown extractor '{source}'{hint} (one of "
                           f"{', '.join([*CLASSIC, *NAMES])}, "
                           "an ImageNet model from 'zoo models --pretrained', or a run "
                           "directory)") from None
        if not spec.pretrained:
            raise ZooError(f"{spec.name} has no ImageNet weights; extract with a run "
                           "directory of 'zoo train', an ImageNet model ('zoo models "
                           f"--pretrained') or one of {', '.join(CLASSIC)}")
        from zoo.models.applications import build_with_imagenet_weights

        model = build_with_imagenet_weights(spec.name, weights)
        description = {"kind": "cnn", "name": spec.name, "source": spec.name,
                       "weights": str(Path(weights).resolve()) if weights else "imagenet",
                       "preprocessing": spec.preprocessing, "mean": None,
                       "imagenet": spec.name, "input_shape": list(spec.input_shape)}
        preprocess = imagenet_preprocess(spec.name)
    label = model.name if path.is_dir() else description["name"]
    # the default layer is found again on a rebuild: Keras numbers unnamed layers per session
    description["default_layer"] = layer is None
    features, layer, pooling = _cut(model, layer, pooling, label)
    description.update(layer=layer, pooling=pooling, dim=int(np.prod(features.output_shape[1:])))
    return CNN(features, preprocess, description)


def get_extractor(name: str, layer: str | None = None, pooling: str = "avg",
                  weights: str | None = None, words: int | None = None,
                  tfidf: bool = False, dense: bool = False) -> Extractor:
    """The extractor `name`: a classic descriptor (`pixels`, `colorhist`, `hog`, `lbp`, `hu`),
    a bag of visual words (`sift-bovw`, `rootsift-bovw`, `orb-bovw`; unfitted), a run
    directory of `zoo train` or an ImageNet model name (see `cnn_extractor`).

    Args:
        name: the extractor.
        layer, pooling, weights: a CNN's (see `cnn_extractor`).
        words: a bag of visual words' codebook size. Defaults to `None`
            (`zoo.features.bovw.DEFAULT_WORDS`).
        tfidf: weight a bag of visual words by IDF. Defaults to `False`.
        dense: a bag of visual words on a dense grid. Defaults to `False`.

    Returns:
        The extractor.
    """
    from zoo.features.bovw import DEFAULT_WORDS, NAMES, BoVW

    key = name.lower()
    if key in CLASSIC or key in NAMES:
        if layer:
            raise ZooError(f"--layer applies to CNN extractors, not to {key}")
        if key in NAMES:
            return BoVW(key, DEFAULT_WORDS if words is None else words, tfidf, dense)
        return CLASSIC[key]
    return cnn_extractor(name, layer, pooling, weights)


def from_description(description: dict, model_file: str | Path | None = None,
                     arrays: dict | None = None) -> Extractor:
    """Rebuild the extractor that `describe()` described; a CNN from `model_file` (the saved
    feature model of a features run) when given, else from its source; a bag of visual
    words from `arrays`, its fitted state (the features file's or the run's)."""
    if description["kind"] == "classic":
        return CLASSIC[description["name"]]
    if description["kind"] == "bovw":
        from zoo.features.bovw import BoVW

        return BoVW.from_state(description, arrays or {})
    if model_file is None:
        try:
            layer = None if description.get("default_layer") else description["layer"]
            return cnn_extractor(description["source"], layer,
                                 description["pooling"] or "avg",
                                 None if description["weights"] == "imagenet"
                                 else description["weights"])
        except ZooRuntimeError:
            raise
        except ZooError as exc:
            raise ZooError(f"cannot rebuild the extractor {description['name']} the features "
                           f"came from: {exc}") from None
    from zoo.run import load_model

    model = load_model(model_file, compile=False)
    if description.get("imagenet"):
        preprocess = imagenet_preprocess(description["imagenet"])
    else:
        preprocess = run_preprocess(description["preprocessing"], description.get("mean"))
    return CNN(model, preprocess, description)
