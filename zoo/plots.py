"""Every figure the project draws. matplotlib runs headless (Agg); every file is written
to a temporary name and renamed, so a reader never sees half an image."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from zoo.errors import ZooError
from zoo.io import atomic_path


def check_graphviz() -> None:
    """Raise a one-line `ZooError` when pydot or Graphviz's `dot` is missing."""
    if importlib.util.find_spec("pydot") is None:
        raise ZooError("model graphs need pydot: pip install pydot")
    if shutil.which("dot") is None:
        raise ZooError(
            "model graphs need Graphviz's 'dot': "
            "apt-get install graphviz (or brew install graphviz)"
        )


def plot_model_graph(model, path: str | Path, dpi: int = 96) -> Path:
    """Draw `model`'s layer graph, with shapes, to `path` (.png, .svg or .pdf)."""
    import keras

    path = Path(path)
    with atomic_path(path) as tmp:
        keras.utils.plot_model(
            model, to_file=str(tmp), show_shapes=True, show_layer_names=True, dpi=dpi
        )
    return path
