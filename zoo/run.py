"""The run directory: its layout, and typed reading and writing of every file in it.

No other module spells a run file's name. A run directory holds:

    config.yaml              the resolved configuration (reproduces the run)
    labels.json              the model card (`zoo.card`): class names, input shape,
                             preprocessing, mean, dataset, task
    model.keras              the best model so far
    checkpoint/state.json    the commit point of the last completed epoch (what --resume reads)
    checkpoint/epoch-NNNN.keras, epoch-NNNN-seeds.npz, periodic-NNNN.keras
    history.json, history.csv, monitor.png
    metrics.json, classification_report.txt, confusion_matrix.png
    skipped_files.txt        every input file that was skipped, with the reason
    failed.json              why the last training stopped on an error (`zoo runs` shows it)
    model.png, tensorboard/
    export/                  what `zoo export` wrote (model.onnx, model.tflite, model_savedmodel/)
    features.json, classifier.joblib, extractor.keras, features.h5   (features runs)

Every file is written atomically (`zoo.io`), so a run killed at any moment stays readable.
"""

from __future__ import annotations

import csv
import errno
import io
import json
from pathlib import Path

from zoo.card import ModelCard
from zoo.config import dump, load_yaml
from zoo.errors import ZooError, file_in_the_way, from_os_error
from zoo.io import (
    make_dirs,
    read_skipped_list,
    remove_empty,
    remove_stale_temps,
    write_json,
    write_skipped_list,
    write_text,
)

CONFIG = "config.yaml"
LABELS = "labels.json"
BEST_MODEL = "model.keras"
CHECKPOINT = "checkpoint"
STATE = "state.json"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
MONITOR = "monitor.png"
METRICS = "metrics.json"
REPORT = "classification_report.txt"
CONFUSION = "confusion_matrix.png"
SKIPPED = "skipped_files.txt"
FAILED = "failed.json"
GRAPH = "model.png"
TENSORBOARD = "tensorboard"
EXPORT = "export"
# a features run (`zoo fit-features`, `zoo baseline`); features.json marks one
FEATURES_RUN = "features.json"
CLASSIFIER = "classifier.joblib"
EXTRACTOR = "extractor.keras"
FEATURES_FILE = "features.h5"
NEW_RUN_REMEDY = "choose another --output or --name"


class RunDir:
    """One run directory. `RunDir.create` makes a new one; `RunDir.open` checks an existing
    one; `RunDir.containing(file)` finds the run that a model file belongs to."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.made: list[Path] = []  # the folders `create` made

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # -- creating and finding -------------------------------------------------------------

    @classmethod
    def create(cls, parent: str | Path, name: str) -> RunDir:
        """A new, empty run directory `parent/name`; never one that holds anything."""
        run = cls.check_new(parent, name)
        try:
            run.made = make_dirs(run.path)
        except OSError as exc:
            raise from_os_error(exc, "write", run.path, remedy=NEW_RUN_REMEDY) from None
        return run

    def discard_if_empty(self) -> None:
        """Remove this run directory, and the folders made for it, if `create` made it and
        nothing was written into it: a command that failed first leaves no trace."""
        remove_empty(self.made)

    @classmethod
    def check_new(cls, parent: str | Path, name: str) -> RunDir:
        """The run directory `create` would make, checked but not made (the other processes
        of a distributed run, while process 0 creates it)."""
        path = Path(parent) / name
        if file_in_the_way(path) is not None:
            raise from_os_error(NotADirectoryError(errno.ENOTDIR, "", str(path)), "write",
                                remedy=NEW_RUN_REMEDY)
        if path.exists() and any(path.iterdir()):
            raise ZooError(f"run directory {path} already exists; continue it with "
                           f"'zoo train --resume {path}' or choose another --name")
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory (one with a config.yaml), or a one-line error."""
        run = cls(path)
        if not run.path.is_dir():
            raise ZooError(f"{run.path}: no such run directory")
        if not run.config_file.is_file():
            raise ZooError(f"{run.path} is not a run directory of 'zoo train' (no {CONFIG})")
        return run

    @classmethod
    def containing(cls, model_file: str | Path) -> RunDir | None:
        """The run that `model_file` belongs to (`RUN/model.keras`,
        `RUN/checkpoint/periodic-0010.keras`, ...), or None for a file outside any run."""
        model_file = Path(model_file).resolve()
        for folder in (model_file.parent, model_file.parent.parent):
            if (folder / CONFIG).is_file() and (folder / LABELS).is_file():
                return cls(folder)
        return None

    # -- paths ----------------------------------------------------------------------------

    config_file = property(lambda self: self.path / CONFIG)
    labels_file = property(lambda self: self.path / LABELS)
    best_model = property(lambda self: self.path / BEST_MODEL)
    checkpoint_dir = property(lambda self: self.path / CHECKPOINT)
    state_file = property(lambda self: self.path / CHECKPOINT / STATE)
    history_json = property(lambda self: self.path / HISTORY_JSON)
    history_csv = property(lambda self: self.path / HISTORY_CSV)
    monitor_png = property(lambda self: self.path / MONITOR)
    metrics_file = property(lambda self: self.path / METRICS)
    report_file = property(lambda self: self.path / REPORT)
    confusion_png = property(lambda self: self.path / CONFUSION)
    skipped_file = property(lambda self: self.path / SKIPPED)
    failed_file = property(lambda self: self.path / FAILED)
    graph_png = property(lambda self: self.path / GRAPH)
    tensorboard_dir = property(lambda self: self.path / TENSORBOARD)
    export_dir = property(lambda self: self.path / EXPORT)
    features_json = property(lambda self: self.path / FEATURES_RUN)
    classifier_file = property(lambda self: self.path / CLASSIFIER)
    extractor_model = property(lambda self: self.path / EXTRACTOR)
    features_file = property(lambda self: self.path / FEATURES_FILE)

    def epoch_model(self, epoch: int) -> Path:
        return self.checkpoint_dir / f"epoch-{epoch:04d}.keras"

    def epoch_seeds(self, epoch: int) -> Path:
        return self.checkpoint_dir / f"epoch-{epoch:04d}-seeds.npz"

    def periodic_model(self, epoch: int) -> Path:
        return self.checkpoint_dir / f"periodic-{epoch:04d}.keras"

    def remove_older_epochs(self, epoch: int) -> None:
        """Delete the resumable files of epochs before `epoch` (state.json names `epoch`)."""
        keep = f"epoch-{epoch:04d}"
        for old in self.checkpoint_dir.glob("epoch-*"):
            if not old.name.startswith(keep):
                old.unlink(missing_ok=True)

    def remove_stale_temps(self) -> None:
        """Delete the temporary files a killed write left (never anything else)."""
        for folder in (self.path, self.checkpoint_dir):
            if folder.is_dir():
                remove_stale_temps(folder)

    # -- typed files ----------------------------------------------------------------------

    def read_config(self) -> dict:
        """The saved settings, as written (validated by `zoo.config`)."""
        return load_yaml(self.config_file)

    def write_config(self, config) -> None:
        write_text(self.config_file, dump(config))

    def read_card(self) -> ModelCard:
        """The model card of labels.json (`zoo.card`; older labels.json files read too)."""
        if not self.labels_file.is_file():
            raise ZooError(f"{self.path}: no {LABELS} (not a run directory of 'zoo train'?)")
        return ModelCard.loads(self.labels_file.read_text(), str(self.labels_file))

    def write_card(self, card: ModelCard) -> None:
        write_json(self.labels_file, card.to_json())

    def read_state(self) -> dict | None:
        """The last committed epoch's state, or None when no epoch completed."""
        if not self.state_file.is_file():
            return None
        return json.loads(self.state_file.read_text())

    def write_state(self, state: dict) -> None:
        write_json(self.state_file, state)  # the commit point of an epoch

    def read_history(self) -> list[dict]:
        if not self.history_json.is_file():
            return []
        return json.loads(self.history_json.read_text())

    def write_history(self, history: list[dict]) -> None:
        write_json(self.history_json, history)
        keys: list[str] = []
        for row in history:
            keys += [k for k in row if k not in keys]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        write_text(self.history_csv, buffer.getvalue())

    def read_metrics(self) -> dict:
        if not self.metrics_file.is_file():
            return {}
        return json.loads(self.metrics_file.read_text())

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.metrics_file, metrics)

    def write_report(self, text: str) -> None:
        write_text(self.report_file, text)

    def read_skipped(self) -> dict[str, str]:
        """{path: reason} of every skipped input file, as `write_skipped` wrote them."""
        return read_skipped_list(self.skipped_file)

    def write_skipped(self, skipped: dict[str, str]) -> None:
        """The complete list of skipped files: one `path<TAB>reason` line each."""
        write_skipped_list(self.skipped_file, skipped)

    def read_failed(self) -> dict | None:
        """Why the last training of this run failed (`{"error", "type", "time"}`), or None."""
        if not self.failed_file.is_file():
            return None
        try:
            failed = json.loads(self.failed_file.read_text())
        except (OSError, ValueError):
            return {"error": f"{FAILED} is unreadable"}
        return failed if isinstance(failed, dict) else {"error": str(failed)}

    def write_failed(self, failure: dict) -> None:
        """Record why training failed: `{"error": one line, "type": ..., "time": ...}`."""
        write_json(self.failed_file, failure)

    def remove_failed(self) -> None:
        """Forget an earlier failure: a resume starts an attempt of its own."""
        self.failed_file.unlink(missing_ok=True)


def load_model(path: str | Path, compile: bool = True):
    """`keras.saving.load_model` with zoo's custom layers and schedules registered first.
    `compile=False` when only predictions are needed: the optimizer is then not rebuilt."""
    from zoo.backend import load_keras

    keras = load_keras()
    import zoo.models.layers  # noqa: F401  (registers the custom layers)
    import zoo.training.schedules  # noqa: F401  (registers the schedules)

    return keras.saving.load_model(path, compile=compile)
