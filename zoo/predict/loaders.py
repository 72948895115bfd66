"""One loader per kind of model, chosen from one ordered table: `load_predictor(arg)` walks
`KINDS` and loads `arg` with the first kind that matches it.

    exported   a file of `zoo export` (.onnx, .tflite, a SavedModel directory), run by its
               own runtime without Keras; its card is the file's metadata
    features   a features run (`zoo fit-features`, `zoo baseline`): extractor + classifier
    keras      a run directory of `zoo train`, or a .keras file (inside a run or bare)
    imagenet   a registered name with ImageNet weights (`zoo models --pretrained`)

Every loader returns a `Predictor`: the model and its `ModelCard`. Keras models are loaded,
and run, under `keras.device` for `device`; exported models take `device` to their runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zoo.card import ModelCard
from zoo.errors import ZooError, first_line
from zoo.predict.predictor import Predictor


@dataclass(frozen=True)
class Kind:
    """One kind of model: whether `arg` names one, and how to load it."""

    name: str
    matches: Callable[[str], bool]
    load: Callable[[str, str | None, str], Predictor]  # (arg, weights, device)


def _no_weights(arg: str, weights: str | None, what: str) -> None:
    if weights:
        raise ZooError(f"{arg} is {what}; --weights applies to Keras models only")


# -- exported files -------------------------------------------------------------------------


def _is_exported(arg: str) -> bool:
    from zoo.predict.formats import exported_format

    return exported_format(arg) is not None


def load_exported(arg: str, weights: str | None = None, device: str = "auto") -> Predictor:
    """An exported model: its runtime, its card checked against it, numpy preprocessing."""
    from zoo.predict.formats import open_exported

    _no_weights(arg, weights, "an exported model, which holds its weights")
    model = open_exported(arg, device)
    card = model.checked_card()
    return Predictor(model, card, f"{card.name or model.path.stem}.{model.format}")


# -- Keras models ---------------------------------------------------------------------------

# Images a Keras model is called on directly before `model.predict` takes over: predict first
# traces a function (8 s for DenseNet121 on a CPU, against 1.6 s for a direct call of two
# images), which pays for itself only over many batches.
CALL_DIRECTLY = 256


class KerasRunner:
    """A Keras model run as `zoo predict` wants it: the first `CALL_DIRECTLY` images by
    calling the model (no tracing, so a few images answer at once), the rest by
    `model.predict`. `model` is the Keras model itself."""

    def __init__(self, model):
        self.model = model
        self._seen = 0

    def seen_all(self) -> None:
        """From now on every image goes through `model.predict` (a warm benchmark's rate)."""
        self._seen = CALL_DIRECTLY

    def predict(self, x, batch_size: int = 32, verbose=0):
        import numpy as np

        self._seen += len(x)
        if self._seen > CALL_DIRECTLY:
            return self.model.predict(x, batch_size=batch_size, verbose=verbose)
        from zoo.backend import load_keras

        ops = load_keras().ops
        return np.concatenate([ops.convert_to_numpy(self.model(x[i : i + batch_size],
                                                               training=False))
                               for i in range(0, len(x), batch_size)])



def _keras_device(device: str):
    """`keras.device` of `device` (`auto`, `cpu`, `gpu`), as a context manager factory."""
    from zoo.backend import device_name, load_keras

    keras = load_keras()  # quietly, before the builders import Keras
    name = device_name(device)
    return lambda: keras.device(name)


def _is_features_run(arg: str) -> bool:
    from zoo.features.classifiers import is_features_run

    return is_features_run(Path(arg).expanduser())


def load_features_predictor(arg: str, weights: str | None = None,
                            device: str = "auto") -> Predictor:
    """A features run: its extractor (which prepares the pixels it takes), then its
    classifier; the card of the whole takes 0-255 pixels."""
    from zoo.features.classifiers import open_features_run
    from zoo.run import RunDir

    path = Path(arg).expanduser()
    _no_weights(str(path), weights, "a features run (an extractor and a classifier)")
    placement = _keras_device(device)
    run = RunDir(path)
    card = run.read_card()
    with placement():
        model = open_features_run(run, len(card.names))
    card = card.replace(input_shape=model.extractor.input_shape, preprocessing="raw", mean=None)
    return Predictor(model, card, run.name, placement=placement)


def _is_keras(arg: str) -> bool:
    path = Path(arg).expanduser()
    return path.is_dir() or path.suffix == ".keras"


def load_keras_model(arg: str, weights: str | None = None, device: str = "auto") -> Predictor:
    """A run directory (its best model) or a .keras file; a file inside a run
    (`RUN/checkpoint/periodic-0010.keras`) brings the run's card, a bare one is numbered."""
    from zoo.run import LABELS, RunDir, load_model

    placement = _keras_device(device)
    path = Path(arg).expanduser()
    if path.is_dir():
        run = RunDir(path)
        model_file = run.best_model
        if not model_file.is_file():
            raise ZooError(f"{path}: no {model_file.name} (not a run directory of 'zoo train'?)")
    else:
        if not path.is_file():
            raise ZooError(f"model file not found: {path}")
        run, model_file = RunDir.containing(path), path
    card = run.read_card() if run else None
    with placement():
        model = load_model(model_file, compile=False)  # predictions only: no optimizer
        if weights:
            if not Path(weights).is_file():
                raise ZooError(f"weights file not found: {weights}")
            try:
                model.load_weights(weights)
            except Exception as exc:
                raise ZooError(f"{weights} does not fit {model_file}: "
                               f"{first_line(exc)}") from None
    if card is None:
        card = ModelCard.numbered(model.output_shape[-1], model.input_shape[1:])
        return Predictor(KerasRunner(model), card, path.stem,
                         [f"{path} is not inside a run directory: classes are numbered and "
                          "pixels scaled to [0, 1]"], placement=placement)
    card.check_against(model.output_shape[-1], model.input_shape[1:], str(model_file), LABELS)
    if path.is_dir() or model_file.resolve() == run.best_model.resolve():
        name = run.name
    else:
        name = f"{run.name}/{model_file.resolve().relative_to(run.path.resolve())}"
    return Predictor(KerasRunner(model), card, name, placement=placement)


# -- ImageNet models ------------------------------------------------------------------------


def load_imagenet(arg: str, weights: str | None = None, device: str = "auto") -> Predictor:
    """A registered model with ImageNet weights (Keras' cache, a download, or `weights`)."""
    placement = _keras_device(device)
    from zoo.models.registry import get_spec

    spec = get_spec(arg)
    if not spec.pretrained:
        raise ZooError(f"{spec.name} has no ImageNet weights; pass a run directory or a "
                       ".keras file trained by 'zoo train'")
    from zoo.models.applications import build_with_imagenet_weights

    with placement():
        model = build_with_imagenet_weights(spec.name, weights)
    card = ModelCard.imagenet(spec.name, spec.input_shape, spec.preprocessing)
    return Predictor(KerasRunner(model), card, spec.name, placement=placement)


# -- the table ------------------------------------------------------------------------------

KINDS = (
    Kind("exported", _is_exported, load_exported),
    Kind("features", _is_features_run, load_features_predictor),
    Kind("keras", _is_keras, load_keras_model),
    Kind("imagenet", lambda arg: True, load_imagenet),  # get_spec refuses unknown names
)


def kind_of(arg: str | Path) -> Kind:
    """The first kind of `KINDS` that `arg` names."""
    return next(kind for kind in KINDS if kind.matches(str(arg)))


def load_predictor(arg: str | Path, weights: str | None = None,
                   device: str = "auto") -> Predictor:
    """The `Predictor` of `arg`: an exported file, a features run, a run directory or .keras
    file, or an ImageNet model name (see `KINDS`).

    Args:
        arg: what `zoo predict --model` takes.
        weights: a local weights file for a Keras model. Defaults to `None`.
        device: `auto`, `cpu` or `gpu`. Defaults to `"auto"`.
    """
    return kind_of(arg).load(str(arg), weights, device)
