"""`zoo export`: a model to SavedModel, ONNX or TFLite through Keras' own `model.export`,
with what a user needs to run it stored in the file, and verified before it is kept.

The stored metadata is the model's card (`zoo.card.ModelCard`: the JSON of a run's
labels.json, plus where the file came from), written by the format's module in
`zoo.predict`: class names (and ImageNet wnids), the input shape, the preprocessing mode and
mean, so `zoo predict --model FILE` (or any program that reads the metadata) preprocesses
exactly as training did. Verification loads the exported file as `zoo predict` does (its own
runtime: onnxruntime, the LiteRT interpreter, `tf.saved_model.load`; the card read back from
the file), runs the predict loop over real photos, and compares its probabilities with the
Keras model's; only then is the file renamed to its place. A failed check leaves
nothing at the output path (and a file the user had there untouched).

A mixed-precision model is exported in float32: a copy with every dtype policy float32 and
the same weights, which is also the Keras model the export is compared with.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo import __version__
from zoo.card import ModelCard
from zoo.choices import EXPORT_FORMATS as FORMATS
from zoo.errors import ZooError, ZooRuntimeError, first_line, from_os_error, os_error_in
from zoo.io import atomic_dir, atomic_path
from zoo.predict.exported import require
from zoo.predict.formats import FORMAT_NAMES, RUNTIME_PACKAGES, SUFFIXES, write_card

KERAS_FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
# What converts each format (the runtime that verifies it is in zoo.predict.formats).
CONVERTER_PACKAGES = {
    "savedmodel": (),
    "onnx": (("onnx", "onnx"), ("tf2onnx", "tf2onnx")),
    "tflite": (),  # TensorFlow's own converter
}
# An ONNX file is one protobuf message and a TFLite file one flatbuffer, both capped at 2 GiB;
# larger weights need external data files, which Keras' exporters do not write.
MAX_WEIGHT_BYTES = {"onnx": 2**31 - 1, "tflite": 2**31 - 1}
# The largest |p_export - p_keras| accepted. All three run the float32 graph; only the
# kernels differ. A SavedModel runs TensorFlow's own kernels (0 difference measured; 1e-4
# leaves room for the graphs other backends convert to TensorFlow). onnxruntime and LiteRT's
# XNNPACK fold batch norms into convolutions and use other convolution algorithms, which
# move probabilities by float32 rounding: up to 3e-5 (ONNX) and 1.4e-4 (TFLite, efficientnetb0)
# on ImageNet models with calibrated weights, whose top classes are far apart (BENCHMARKS.md).
# 1e-3 is seven times that, and far below what a real fault (wrong preprocessing, weights or
# layout) does to probabilities: 1e-1 and more.
TOLERANCE = {"savedmodel": 1e-4, "onnx": 1e-3, "tflite": 1e-3}
VERIFY_BATCH = 8


@dataclass
class ImageCheck:
    image: str
    max_diff: float
    top5_agree: bool


@dataclass
class ExportResult:
    path: Path
    format: str
    runtime: str  # what verified it, e.g. "onnxruntime 1.32.0"
    card: ModelCard  # as read back from the file
    checks: list[ImageCheck]
    tolerance: float
    size_bytes: int = 0
    float32_copy: bool = False  # a mixed-precision model exported in float32
    warnings: list[str] = field(default_factory=list)

    @property
    def max_diff(self) -> float:
        return max(c.max_diff for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.max_diff <= self.tolerance and all(c.top5_agree for c in self.checks)


class VerificationFailed(ZooRuntimeError):
    """The exported model's outputs differ from Keras' (exit 1); `result` has the checks."""

    def __init__(self, message: str, result: ExportResult):
        super().__init__(message)
        self.result = result


def parse_formats(text: str, allowed=FORMATS, flag: str = "--format") -> tuple[str, ...]:
    """`"onnx,tflite"` -> `("onnx", "tflite")`, in the order given, each once."""
    formats = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part not in allowed:
            raise ZooError(f"bad {flag} '{text}': choose from {', '.join(allowed)}")
        if part not in formats:
            formats.append(part)
    if not formats:
        raise ZooError(f"bad {flag} '{text}': choose from {', '.join(allowed)}")
    return tuple(formats)


def check_can_export(fmt: str) -> None:
    """Raise a one-line `ZooError` (exit 2) when this install or this Keras backend cannot
    write `fmt`: a missing package (named, with the extra that brings it), or a backend
    Keras' exporter for the format does not support."""
    from zoo.backend import load_keras

    what = f"{FORMAT_NAMES[fmt]} export"
    require(CONVERTER_PACKAGES[fmt] + RUNTIME_PACKAGES[fmt], what)
    backend = load_keras().backend.backend()
    if fmt == "tflite" and backend not in ("tensorflow", "torch"):
        raise ZooError(f"TFLite export needs the tensorflow or torch Keras backend (Keras "
                       f"converts through TensorFlow's or litert-torch's converter), not "
                       f"{backend}: run it with KERAS_BACKEND=tensorflow")
    if fmt == "tflite" and backend == "torch":
        require((("litert_torch", "litert-torch"),), "TFLite export on the torch backend")
    if fmt == "onnx" and backend == "jax":
        require((("jax2onnx", "jax2onnx"),), "ONNX export on the jax backend")


def default_output(source: str, fmt: str, name: str) -> Path:
    """Where an export goes without -o: `RUN/export/model.onnx` for a run (or a model file in
    one), beside a bare `.keras` file, and `./NAME.onnx` for a registered name."""
    from zoo.run import RunDir

    suffix = SUFFIXES[fmt]
    path = Path(source).expanduser()
    if path.is_dir():
        run = RunDir(path)
        return run.export_dir / f"{run.best_model.stem}{suffix}"
    if path.suffix == ".keras":
        run = RunDir.containing(path)
        folder = run.export_dir if run else path.parent
        return folder / f"{path.stem}{suffix}"
    return Path(f"{name}{suffix}")


def check_output(path: Path, fmt: str) -> None:
    """Refuse an output path the format cannot be written to, before any work is done."""
    if fmt == "savedmodel":
        if path.is_file():
            raise ZooError(f"-o {path}: a SavedModel is a directory, and {path} is a file")
        if path.is_dir() and any(path.iterdir()) and not (path / "saved_model.pb").is_file():
            raise ZooError(f"-o {path}: a directory that holds files but no SavedModel; "
                           "give a new or empty directory")
        return
    if path.suffix.lower() != SUFFIXES[fmt]:
        article = "an" if fmt == "onnx" else "a"
        raise ZooError(f"-o {path}: {article} {FORMAT_NAMES[fmt]} file must end in "
                       f"{SUFFIXES[fmt]}")
    if path.is_dir():
        raise ZooError(f"-o {path} is a directory; give the file to write")


# -- the Keras side -----------------------------------------------------------------------


def float32_copy(model):
    """`(model, False)` for a float32 model; for a mixed-precision one, `(copy, True)`: the
    same architecture with every dtype policy float32 (nested models too) and the same
    weights (mixed policies keep float32 variables, so they carry over unchanged)."""
    from zoo.backend import load_keras

    keras = load_keras()
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # predictions only
    if not _to_float32(config):
        return model, False
    import zoo.models.layers  # noqa: F401  (registers zoo's layers for deserialisation)

    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy, True


def _to_float32(node) -> int:
    """Rewrite half-precision dtype policies and dtypes in a serialised model to float32;
    return how many there were."""
    count = 0
    if isinstance(node, dict):
        inner = node.get("config")
        if (str(node.get("class_name", "")).endswith("DTypePolicy") and isinstance(inner, dict)
                and str(inner.get("name", "")).startswith("mixed_")):
            inner["name"] = "float32"
            count += 1
        for key, value in node.items():
            if key == "dtype" and value in ("float16", "bfloat16"):
                node[key] = "float32"
                count += 1
            else:
                count += _to_float32(value)
    elif isinstance(node, list):
        count += sum(_to_float32(item) for item in node)
    return count


def card_of(predictor, source: str) -> ModelCard:
    """The card the exported file carries besides the graph: the model's own, named, with
    where it came from (`zoo.card`)."""
    from zoo.backend import load_keras

    keras = load_keras()
    return predictor.card.replace(
        name=predictor.name.split("/")[0], source=str(source), precision="float32",
        exported_by=f"zoo {__version__}, keras {keras.__version__} "
                    f"({keras.backend.backend()} backend)")


# -- writing ------------------------------------------------------------------------------


def write_export(model, fmt: str, path: str | Path, card: ModelCard) -> Path:
    """`model.export(path)` in `fmt`, then `card` stored in it; no verification.

    A model that the format cannot hold (an operation its converter cannot express, weights
    past its size limit) is a one-line `ZooError` (exit 2) naming the cause.
    """
    from zoo.backend import load_keras, quiet_native_logs

    keras = load_keras()
    path = Path(path)
    name = card.name or "the model"
    if fmt in MAX_WEIGHT_BYTES:
        size = sum(int(np.prod(w.shape)) for w in model.weights) * 4
        if size > MAX_WEIGHT_BYTES[fmt]:
            raise ZooError(f"{FORMAT_NAMES[fmt]} cannot hold {name}: its weights take "
                           f"{size / 2**30:.1f} GiB in float32, and a {FORMAT_NAMES[fmt]} "
                           "file at most 2 GiB; export it as savedmodel")
    if not getattr(model, "_called", True) or not model.built:
        model(np.zeros((1, *card.input_shape), "float32"))  # ONNX export needs a call
    kwargs = {}
    if fmt == "tflite" and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Built-in operators only: the LiteRT interpreter has no TensorFlow (Flex) kernels, so
        # a model needing them is refused here, by name, rather than failing when it runs.
        kwargs["target_spec"] = {"supported_ops": {tf.lite.OpsSet.TFLITE_BUILTINS}}
    unsupported = _UnsupportedOps()
    tf2onnx_logger = logging.getLogger("tf2onnx")
    saved = tf2onnx_logger.handlers[:], tf2onnx_logger.propagate
    tf2onnx_logger.handlers, tf2onnx_logger.propagate = [unsupported], False
    try:
        with (quiet_native_logs(), contextlib.redirect_stdout(io.StringIO()),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            model.export(str(path), format=KERAS_FORMATS[fmt], verbose=False, **kwargs)
    except OSError:  # a full disk, a lost directory: a failure while running, not the model
        raise
    except Exception as exc:
        os_error = os_error_in(exc)  # TensorFlow's words for a full disk, say
        if os_error is not None:
            raise os_error from None
        ops = re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", str(exc))
        if ops:
            raise ZooError(f"TFLite's built-in operators cannot express {name}: it uses "
                           f"TensorFlow's {', '.join(sorted(set(ops)))} (the LiteRT "
                           "interpreter has no TensorFlow kernels)") from None
        raise ZooError(f"Keras' {FORMAT_NAMES[fmt]} exporter cannot convert {name}: "
                       f"{type(exc).__name__}: {first_line(exc)}") from None
    finally:
        tf2onnx_logger.handlers, tf2onnx_logger.propagate = saved
    if unsupported.ops:
        raise ZooError(f"ONNX (through tf2onnx) cannot express {name}: tf2onnx has no "
                       f"conversion for TensorFlow's {', '.join(sorted(unsupported.ops))}")
    _store_card(path, fmt, card)
    return path


class _UnsupportedOps(logging.Handler):
    """Collects the operations tf2onnx reports it cannot convert (it logs them, then writes
    a file that no runtime can load)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.ops: set[str] = set()

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Unsupported ops:"):
            self.ops |= set(re.findall(r"'(\w+)'", message))


def _store_card(path: Path, fmt: str, card: ModelCard) -> None:
    if fmt == "onnx":
        from zoo.predict.onnx import check_graph

        check_graph(path, card.name or "the model")
    write_card(path, fmt, card)


# -- verification -------------------------------------------------------------------------


def _photos() -> list[Path]:
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "images"
    return [folder / "china.jpg", folder / "flower.jpg"]


def verification_images(shape, paths: list[str] | None = None) -> list[tuple[str, np.ndarray]]:
    """`(name, image)` pairs, 0-255 float32 at the model's `shape`, decoded and resized as
    `zoo predict` does. Without `paths`: scikit-learn's two sample photos (always installed
    with zoo), each whole and as two crops, six different real images."""
    from PIL import Image

    from zoo.data.images import open_image, to_channels
    from zoo.predict.loop import expand_images, read_images

    if paths:  # the unreadable ones left out
        images = [item for item in read_images(expand_images(paths), shape)
                  if isinstance(item, tuple)]
        if not images:
            raise ZooError(f"no readable image in {' '.join(paths)} to verify the export with")
        return images
    height, width, channels = shape
    images = []
    for photo in _photos():
        image = to_channels(open_image(str(photo)), 1 if channels == 1 else 3)
        w, h = image.size
        for label, box in (("", None), (" (top-left crop)", (0, 0, w // 2, h // 2)),
                           (" (centre crop)", (w // 4, h // 4, 3 * w // 4, 3 * h // 4))):
            part = image.crop(box) if box else image
            part = part.resize((width, height), Image.Resampling.NEAREST)
            array = np.asarray(part, dtype="float32")
            images.append((photo.name + label, array[..., None] if array.ndim == 2 else array))
    return images


def compare(expected: np.ndarray, got: np.ndarray, names: list[str],
            tolerance: float) -> list[ImageCheck]:
    """One `ImageCheck` per image: the largest |difference| of its probabilities, and
    whether its top-5 classes agree (the same class at each rank, or two classes whose Keras
    probabilities are within `tolerance`, a tie that float32 rounding may order either
    way)."""
    checks = []
    for name, p, q in zip(names, expected, got, strict=True):
        top_p, top_q = np.argsort(-p)[:5], np.argsort(-q)[:5]
        agree = all(a == b or abs(p[a] - p[b]) <= tolerance
                    for a, b in zip(top_p, top_q, strict=True))
        checks.append(ImageCheck(name, float(np.abs(p - q).max()), bool(agree)))
    return checks


# -- the command ----------------------------------------------------------------------------


def export(source: str, fmt: str, output: str | Path | None = None, weights: str | None = None,
           images: list[str] | None = None) -> ExportResult:
    """Export `source` (a registered ImageNet name, a run directory or a `.keras` file) in
    `fmt` (`savedmodel`, `onnx` or `tflite`) to `output`, verified.

    Args:
        source: what `zoo predict --model` accepts, exported files and features runs aside.
        fmt: one of `FORMATS`.
        output: the file (a directory for SavedModel). Defaults to `default_output`.
        weights: a local weights file, as `zoo predict --weights`.
        images: images to verify with. Defaults to `verification_images`' photos.

    Returns:
        An `ExportResult`. It is written only when the check passed.

    Raises:
        ZooError: bad input, a missing package, a format that cannot hold the model (exit 2).
        VerificationFailed: the exported outputs differ from Keras' (exit 1; nothing written).
    """
    if fmt not in FORMATS:
        raise ZooError(f"unknown format '{fmt}': choose from {', '.join(FORMATS)}")
    from zoo.predict.loaders import KerasRunner, kind_of, load_predictor

    kind = kind_of(source).name
    if kind == "exported":
        raise ZooError(f"{source} is already an exported model; export the run or .keras "
                       "file it came from")
    if kind == "features":
        raise ZooError(f"{source} is a features run (a Keras extractor and a scikit-learn "
                       "classifier), which SavedModel, ONNX and TFLite cannot hold as one model")
    if output:
        check_output(Path(output).expanduser(), fmt)  # before anything is loaded
    check_can_export(fmt)
    from zoo.backend import load_keras
    from zoo.predict.loop import predict_images

    def probabilities(predictor) -> np.ndarray:
        if predictor.card.task == "boxes":  # issue 19: the raw outputs, box then classes
            return predictor.predict(np.stack([image for _, image in pairs]), VERIFY_BATCH)
        return np.stack([r.probabilities for r in predict_images(predictor, pairs,
                                                                 VERIFY_BATCH)])

    # The reference runs on the CPU: a GPU's TensorFloat-32 convolutions are no float32
    # reference, and the exported file is checked on the CPU too.
    with load_keras().device("cpu"):
        predictor = load_predictor(source, weights, "cpu")
        target = Path(output).expanduser() if output else default_output(
            source, fmt, predictor.name)
        check_output(target, fmt)
        model, converted = float32_copy(predictor.model.model)  # the Keras model itself
        predictor = predictor.replace(model=KerasRunner(model))
        card = card_of(predictor, source)
        pairs = verification_images(predictor.input_shape, images)
        names = [name for name, _ in pairs]
        expected = probabilities(predictor)

    def write_and_verify(tmp: Path) -> ExportResult:
        write_export(model, fmt, tmp, card)
        runner = load_predictor(tmp, None, "cpu")  # as a user of the file loads it
        got = probabilities(runner)
        tolerance = TOLERANCE[fmt]
        result = ExportResult(target, fmt, runner.model.runtime, runner.card,
                              compare(expected, got, names, tolerance), tolerance,
                              float32_copy=converted)
        result.warnings += predictor.warnings
        spread = float(np.abs(expected - expected[:1]).max())
        if spread < 1e-3:
            result.warnings.append(
                "the model gives nearly the same probabilities to every verification image "
                f"(they differ by {spread:.1e} at most; random weights?), so the check shows "
                "little; pass --images with images it tells apart")
        if not result.passed:
            bad = sum(not c.top5_agree for c in result.checks)
            raise VerificationFailed(
                f"the exported {FORMAT_NAMES[fmt]} model differs from Keras: largest "
                f"probability difference {result.max_diff:.1e} (limit {tolerance:.0e}), "
                f"top-5 differ on {bad} of {len(result.checks)} images; nothing was written "
                f"to {target}", result)
        return result

    try:
        with load_keras().device("cpu"):
            # renamed over target only if no exception
            with (atomic_dir if fmt == "savedmodel" else atomic_path)(target) as tmp:
                result = write_and_verify(tmp)
    except OSError as exc:  # atomic_path names target for a write, whatever the writer named
        writing = exc.filename is None or str(exc.filename).startswith(str(target))
        raise from_os_error(exc, "write" if writing else "read", target if writing else None,
                            remedy="choose another -o" if writing else None) from None
    result.size_bytes = _size(target)
    return result


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
