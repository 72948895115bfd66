"""SavedModel directories: run by `tf.saved_model.load`; the model card is the file
`assets.extra/zoo.json` (the folder TensorFlow leaves to other tools)."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.card import ModelCard
from zoo.errors import ZooError, first_line
from zoo.predict.exported import ExportedModel, Format, read_card, require

CARD_FILE = Path("assets.extra") / "zoo.json"


def is_savedmodel(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


FORMAT = Format("savedmodel", "SavedModel", "_savedmodel", (("tensorflow", "tensorflow"),),
                recognise=is_savedmodel)


class SavedModel(ExportedModel):
    format = FORMAT.key

    def __init__(self, path: Path, device: str = "auto"):
        from zoo.backend import quiet_native_logs

        require(FORMAT.runtime_packages, "running a SavedModel")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_native_logs():
            import tensorflow as tf

            if device == "gpu" and not tf.config.list_physical_devices("GPU"):
                raise ZooError("--device gpu: TensorFlow sees no GPU on this machine; use "
                               "--device cpu or auto")
            try:
                self.loaded = tf.saved_model.load(str(path))
                self.serve = self.loaded.signatures["serving_default"]
            except Exception as exc:
                raise ZooError(f"{path} is not a readable SavedModel: "
                               f"{first_line(exc)}") from None
        self.tf, self.path, self.runtime = tf, path, f"tensorflow {tf.__version__}"
        gpu = device != "cpu" and bool(tf.config.list_physical_devices("GPU"))
        self.device = "gpu" if gpu else "cpu"
        (self._input, spec), = self.serve.structured_input_signature[1].items()
        (self._output, out), = self.serve.structured_outputs.items()
        self.input_shape = tuple(spec.shape[1:])
        self.classes = int(out.shape[-1])
        card = path / CARD_FILE
        self.card = read_card(card.read_text() if card.is_file() else None, path)

    def _run(self, x):
        with self.tf.device("/GPU:0" if self.device == "gpu" else "/CPU:0"):
            return self.serve(**{self._input: self.tf.constant(x)})[self._output].numpy()


Model = SavedModel


def write_card(path: Path, card: ModelCard) -> None:
    (path / CARD_FILE).parent.mkdir(exist_ok=True)
    (path / CARD_FILE).write_text(card.dumps() + "\n")
