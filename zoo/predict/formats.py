"""The exported formats zoo runs, one module each, and the question "is this an exported
model, and of which format?" asked in one place."""

from __future__ import annotations

from pathlib import Path

from zoo.choices import EXPORT_FORMATS
from zoo.errors import ZooError
from zoo.predict import onnx, savedmodel, tflite
from zoo.predict.exported import ExportedModel

# in `zoo export --format`'s order
FORMATS = {m.FORMAT.key: m for m in sorted((savedmodel, onnx, tflite),
                                           key=lambda m: EXPORT_FORMATS.index(m.FORMAT.key))}
FORMAT_NAMES = {fmt: module.FORMAT.name for fmt, module in FORMATS.items()}
SUFFIXES = {fmt: module.FORMAT.suffix for fmt, module in FORMATS.items()}
# the import and pip names of what runs each format
RUNTIME_PACKAGES = {fmt: module.FORMAT.runtime_packages for fmt, module in FORMATS.items()}


def exported_format(path: str | Path) -> str | None:
    """`onnx`, `tflite` or `savedmodel` when `path` names an exported model, else None."""
    path = Path(path).expanduser()
    # the suffixes first: they need no look at the disk
    return next((m.FORMAT.key for m in (onnx, tflite, savedmodel) if m.FORMAT.matches(path)),
                None)


def open_exported(path: str | Path, device: str = "auto") -> ExportedModel:
    """Open an exported model with its runtime; an unreadable file is a one-line `ZooError`.

    Args:
        path: a `.onnx` or `.tflite` file, or a SavedModel directory.
        device: `auto`, `cpu` or `gpu` (ONNX with onnxruntime-gpu; TFLite runs on the CPU).
    """
    path = Path(path).expanduser()
    fmt = exported_format(path)
    if fmt is None:
        raise ZooError(f"{path}: not an exported model (.onnx, .tflite or a SavedModel "
                       "directory)")
    if fmt != "savedmodel" and not path.is_file():
        raise ZooError(f"model file not found: {path}")
    return FORMATS[fmt].Model(path, device)


def write_card(path: str | Path, fmt: str, card) -> None:
    """Store the `zoo.card.ModelCard` `card` in the exported model at `path`."""
    FORMATS[fmt].write_card(Path(path), card)
