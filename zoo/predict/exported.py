"""What every exported model shares: the base class its runtime's wrapper extends, the one
JSON entry (`METADATA_KEY`) that holds its model card, and the check that its runtime is
installed. Each format's module (`onnx.py`, `tflite.py`, `savedmodel.py`) writes and reads
the card in its own container; `formats.py` lists them.

Importing this module loads numpy only: a runtime is imported when a file is opened, and the
ONNX and TFLite paths never import TensorFlow or Keras.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.card import REQUIRED, ModelCard
from zoo.errors import ZooError

METADATA_KEY = "zoo"
INSTALL_EXTRA = "pip install 'zoo[export]' (in a checkout: pip install -e '.[export]')"


def require(packages, what: str) -> None:
    """Raise a one-line `ZooError` (exit 2) naming the missing packages and the extra that
    brings them, unless every `(import name, pip name)` of `packages` is installed."""
    missing = [pip for module, pip in packages if importlib.util.find_spec(module) is None]
    if missing:
        raise ZooError(f"{what} needs {', '.join(missing)}, not installed here: "
                       f"{INSTALL_EXTRA}")


@dataclass(frozen=True)
class Format:
    """What zoo knows of an exported format, declared once in its module.

    Attributes:
        key: its `zoo export --format` name (`onnx`).
        name: its name for people (`ONNX`).
        suffix: how its files (or SavedModel folders) are named by `zoo export`.
        runtime_packages: `(import name, pip name)` of what runs it.
        recognise: whether a path is one of its files; None: by `suffix` (any case).
    """

    key: str
    name: str
    suffix: str
    runtime_packages: tuple[tuple[str, str], ...]
    recognise: Callable[[Path], bool] | None = None

    def matches(self, path: str | Path) -> bool:
        path = Path(path)
        return self.recognise(path) if self.recognise else path.suffix.lower() == self.suffix


def threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def read_card(text: str | bytes | None, path: Path) -> ModelCard | None:
    """The card stored in an exported file (`text`, its JSON), or None when it has none."""
    if text is None:
        return None
    # an exported file always said how to prepare its pixels: no default for it here
    return ModelCard.loads(text, f"{path}: its zoo metadata", (*REQUIRED, "preprocessing"))


class ExportedModel:
    """One exported model, opened by its runtime.

    Attributes:
        path: the file (or SavedModel directory).
        format: `onnx`, `tflite` or `savedmodel`.
        runtime: the runtime's name and version, e.g. `"onnxruntime 1.32.0"`.
        device: where it runs, `cpu` or `gpu`.
        card: the `ModelCard` `zoo export` stored, or None for a file exported by another
            tool (`checked_card` refuses that).
        input_shape: `(height, width, channels)` the model takes.
        classes: the length of its output.
    """

    path: Path
    format: str
    runtime: str
    device: str = "cpu"
    card: ModelCard | None
    input_shape: tuple[int, ...]
    classes: int

    def _one_input_and_output(self, inputs, outputs) -> None:
        """Refuse a graph with more than one input or output: a classifier has one of each."""
        if len(inputs) != 1 or len(outputs) != 1:
            raise ZooError(f"{self.path}: expected one input and one output, found "
                           f"{len(inputs)} and {len(outputs)}")

    def checked_card(self) -> ModelCard:
        """The stored card, checked against the model itself; a file without one, or whose
        card does not describe it (another model's, edited), is a `ZooError`."""
        if self.card is None:
            raise ZooError(f"{self.path} has no zoo metadata (class names, preprocessing); "
                           "export the model with 'zoo export'")
        return self.card.check_against(self.classes, self.input_shape, str(self.path))

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose=0) -> np.ndarray:
        """Outputs for the preprocessed float32 batch `x`, `batch_size` rows at a time (all
        at once when None), as Keras' `model.predict` gives them."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        size = batch_size or len(x)
        parts = [self._run(x[start : start + size]) for start in range(0, len(x), size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError
