"""The runs on disk, side by side: what `zoo runs` lists and `zoo compare` compares.

`scan(folder)` finds every run directory under a folder (those of `zoo train`, `zoo
fit-features`, `zoo baseline` and `zoo evaluate --ensemble`) and `summarise(path)` reads one
into a `RunSummary`: its model, dataset, classes, epochs done and planned, best validation
metric, test metrics, time and status. Only the small JSON and YAML files of a run are read
(config.yaml, labels.json, checkpoint/state.json, history.json, metrics.json, features.json,
failed.json), never a model: a thousand runs read in well under a second, without numpy or
Keras.

A run's status:

- `finished`: metrics.json holds the evaluation of its last epoch (and the plan is done, or
  training stopped early or on a NaN loss);
- `failed`: failed.json says why its training stopped on an exception that is neither a
  `ZooError` nor an `OSError` (a bug, a library's error): `error`, the type and first line;
- `interrupted`: checkpoint/state.json saved an epoch and nothing evaluated the run since
  (killed, Ctrl-C, the machine lost, a full disk, input refused in one line): `resume` is the
  command that continues it;
- `empty`: nothing was saved yet (or it is still starting).

A run that is training right now reads as interrupted: nothing on disk tells the two apart.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo import run as run_files
from zoo.errors import ZooError
from zoo.run import RunDir

FINISHED, INTERRUPTED, FAILED, EMPTY = "finished", "interrupted", "failed", "empty"
TRAIN, FEATURES, ENSEMBLE = "train", "features", "ensemble"

# --sort keys: the ones where more is better sort best first, the others smallest first;
# a run without the value always comes last.
SORT_KEYS: dict[str, bool] = {  # key: descending
    "name": False, "model": False, "dataset": False, "classes": False, "epochs": False,
    "val_accuracy": True, "val_loss": False, "accuracy": True, "top5_accuracy": True,
    "loss": False, "ece": False, "time": False, "status": False,
    "mean_iou": True, "iou50": True,  # runs of --task boxes
}
DEFAULT_SORT = "name"
MAX_DEPTH = 3  # how deep `scan` looks for runs inside folders that are not runs


@dataclass(frozen=True)
class RunSummary:
    """One run, as `zoo runs` lists it (`None`: not known, or not there yet)."""

    name: str  # its path relative to the folder scanned
    path: str
    kind: str  # "train", "features" or "ensemble"
    status: str  # "finished", "interrupted", "failed" or "empty"
    model: str | None = None
    dataset: str | None = None
    classes: int | None = None
    epochs: int | None = None  # done
    planned: int | None = None  # the plan's `epochs`
    monitor: str | None = None  # the metric that picked the best model
    best: float | None = None  # its best value
    val_accuracy: float | None = None  # the best of the run
    val_loss: float | None = None  # the best (lowest) of the run
    accuracy: float | None = None  # of the evaluation in metrics.json
    top5_accuracy: float | None = None
    loss: float | None = None
    ece: float | None = None
    mean_iou: float | None = None  # of a box run's evaluation (--task boxes)
    iou50: float | None = None  # its fraction of boxes with IoU >= 0.5
    split: str | None = None  # the split evaluated ("test", or "val" when there is none)
    time: float | None = None  # seconds of training (fitting, for a features run)
    resume: str | None = None  # the command that continues an interrupted run
    error: str | None = None  # a failed run's error line

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# reading


# the files whose presence makes a folder a run (checkpoint/state.json is looked into apart)
MARKERS = frozenset({run_files.CONFIG, run_files.METRICS, run_files.FEATURES_RUN,
                     run_files.FAILED, run_files.LABELS})
# the settings `zoo runs` shows: config.yaml is read for these alone (`read_config` reads all)
LISTED_SETTINGS = ("model", "dataset", "epochs", "monitor")


def is_run(path: str | Path) -> bool:
    """Whether `path` is a run directory of some zoo command (it holds one of the files a
    run starts with)."""
    path = os.fspath(path)
    return _is_run(path, _listing(path))


def _listing(path: str) -> frozenset[str]:
    """The names in folder `path` (none when it cannot be read)."""
    try:
        return frozenset(os.listdir(path))
    except OSError:
        return frozenset()


def _is_run(path: str, names: frozenset[str]) -> bool:
    return not names.isdisjoint(MARKERS) or (
        run_files.CHECKPOINT in names
        and os.path.isfile(os.path.join(path, run_files.CHECKPOINT, run_files.STATE)))


def scan(folder: str | Path = "output", sort: str = DEFAULT_SORT) -> list[RunSummary]:
    """Every run under `folder` (itself, when it is one), summarised and sorted by `sort`.

    Folders that are not runs are searched too, `MAX_DEPTH` levels deep (`output/sweep/a`).
    Each run costs one listing of its folder and a read of its small files that are there.

    Args:
        folder: the folder that holds the runs, or one run. Defaults to `"output"`.
        sort: one of `SORT_KEYS`. Defaults to `DEFAULT_SORT`.
    Returns:
        The runs' summaries, named by their paths relative to `folder`.
    Raises:
        ZooError: `folder` does not exist or is a file, or `sort` is no key of `SORT_KEYS`.
    """
    check_sort(sort)
    root = Path(folder)
    if not root.exists():
        raise ZooError(f"{root}: no such folder (train a run first, or give the folder "
                       "that holds the runs)")
    if not root.is_dir():
        raise ZooError(f"{root} is a file, not a folder of runs")
    names = _listing(str(root))
    if _is_run(str(root), names):
        return [summarise(root, root.resolve().name, names)]
    found = [summarise(path, relative, names)
             for path, relative, names in _runs_in(str(root), "", 1)]
    return sort_runs(found, sort)


def _runs_in(folder: str, prefix: str, depth: int) -> list[tuple[str, str, frozenset[str]]]:
    """`(path, path relative to the scanned folder, names in it)` of each run in `folder`,
    in name order, looking into the folders that are no runs `MAX_DEPTH` levels deep."""
    try:
        entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".")),
                         key=lambda e: e.name)
    except OSError:  # a folder the user may not read: not a run of theirs
        return []
    found = []
    for entry in entries:
        try:
            if not entry.is_dir():
                continue
        except OSError:
            continue
        names = _listing(entry.path)
        relative = prefix + entry.name
        if _is_run(entry.path, names):
            found.append((entry.path, relative, names))
        elif depth < MAX_DEPTH:
            found += _runs_in(entry.path, relative + "/", depth + 1)
    return found


def summarise(path: str | Path, name: str | None = None,
              names: frozenset[str] | None = None) -> RunSummary:
    """Read the run directory `path` into a `RunSummary`.

    Files that are missing or do not read count as not there; no model is loaded.

    Args:
        path: the run directory.
        name: how to call it. Defaults to the folder's name.
        names: the names in the folder, when the caller listed it already.
    Returns:
        The run's summary.
    """
    path = os.fspath(path)
    names = _listing(path) if names is None else names

    def read(file: str) -> Any:
        return _read_json(os.path.join(path, file)) if file in names else None

    config = _read_config_text(os.path.join(path, run_files.CONFIG), LISTED_SETTINGS) \
        if run_files.CONFIG in names else {}
    metrics = _as_dict(read(run_files.METRICS))
    state = _as_dict(_read_json(os.path.join(path, run_files.CHECKPOINT, run_files.STATE))
                     if run_files.CHECKPOINT in names else None)
    history = read(run_files.HISTORY_JSON)
    history = [row for row in history if isinstance(row, dict)] \
        if isinstance(history, list) else []
    failed = _read_failed(os.path.join(path, run_files.FAILED)) \
        if run_files.FAILED in names else None
    if not names.isdisjoint({run_files.FEATURES_RUN, run_files.FEATURES_FILE,
                             run_files.CLASSIFIER}):
        kind = FEATURES
    elif not config and "members" in metrics:
        kind = ENSEMBLE
    else:
        kind = TRAIN
    facts: dict[str, Any] = {
        "model": config.get("model") or metrics.get("model"),
        "dataset": metrics.get("dataset") or config.get("dataset"),
        "classes": _classes(read(run_files.LABELS), metrics),
        "accuracy": _number(metrics.get("accuracy")),
        "top5_accuracy": _number(metrics.get("top5_accuracy")),
        "loss": _number(metrics.get("loss")),
        "ece": _number(metrics.get("ece")),
        "mean_iou": _number(metrics.get("mean_iou")),
        "iou50": _number(metrics.get("iou50")),
        "split": metrics.get("split") if _evaluated(metrics) else None,
    }
    if kind == ENSEMBLE:
        members = metrics.get("members")
        facts["model"] = f"ensemble of {len(members) if isinstance(members, list) else 0}"
    if kind == FEATURES:
        facts.update(monitor="val_accuracy", best=_number(metrics.get("val_accuracy")),
                     val_accuracy=_number(metrics.get("val_accuracy")),
                     time=_number(metrics.get("fit_seconds")))
    if kind == TRAIN:
        facts.update(_training_facts(config, state, history, metrics))
    status, resume, error = _status(path, names, kind, config, state, metrics, failed)
    for key in ("model", "dataset", "split"):  # a hand-edited file may hold anything
        if facts.get(key) is not None:
            facts[key] = str(facts[key])
    return RunSummary(name=name or os.path.basename(os.path.abspath(path)), path=path,
                      kind=kind, status=status, resume=resume, error=error, **facts)


def _evaluated(metrics: dict) -> bool:
    """Whether metrics.json holds an evaluation: a classifier's accuracy, or a box run's
    mean IoU."""
    return "accuracy" in metrics or "mean_iou" in metrics


def _training_facts(config: dict, state: dict, history: list[dict], metrics: dict) -> dict:
    done = state.get("epoch") if _is_int(state.get("epoch")) else None
    if _evaluated(metrics) and _is_int(metrics.get("epochs")):
        done = max(done or 0, metrics["epochs"])
    saved = history[:done] if done is not None else []  # rows past the commit are not saved
    best_model = _as_dict(state.get("best_model"))
    monitor = best_model.get("monitor") or config.get("monitor")
    monitor = monitor if isinstance(monitor, str) else None
    best = _number(best_model.get("best"))
    if best is None and monitor:
        best = _best(saved, monitor)
    seconds = _number(metrics.get("train_seconds")) if _evaluated(metrics) else None
    if seconds is None and saved:
        seconds = round(sum(_number(row.get("seconds")) or 0.0 for row in saved), 3)
    planned = config.get("epochs") if _is_int(config.get("epochs")) else None
    return {"epochs": done, "planned": planned, "monitor": monitor, "best": best,
            "val_accuracy": _best(saved, "val_accuracy"), "val_loss": _best(saved, "val_loss"),
            "time": seconds}


def _status(path: str, names: frozenset[str], kind: str, config: dict, state: dict,
            metrics: dict, failed: dict | None) -> tuple[str, str | None, str | None]:
    """`(status, resume command, error line)` of a run; see the module's docstring."""
    done = state.get("epoch") if _is_int(state.get("epoch")) else None
    planned = config.get("epochs") if _is_int(config.get("epochs")) else None
    if _evaluated(metrics):
        evaluated = metrics.get("epochs")
        # metrics.json of an earlier end, before a resume that went on (`--epochs N`)?
        current = kind != TRAIN or done is None or not _is_int(evaluated) or \
            evaluated >= done
        complete = kind != TRAIN or done is None or planned is None or done >= planned or \
            bool(metrics.get("stopped"))
        if current and complete:
            return FINISHED, None, None
    if failed is not None:
        error = str(failed.get("error") or "").strip()
        error = error.splitlines()[-1] if error else "unknown error"
        if failed.get("type"):  # as a traceback's last line reads
            error = f"{failed['type']}: {error}"
        return FAILED, None, error
    if done is not None and kind == TRAIN:
        if planned is not None and done >= planned:  # killed while evaluating
            return INTERRUPTED, f"zoo evaluate {_quote(path)}", None
        return INTERRUPTED, f"zoo train --resume {_quote(path)}", None
    if kind == TRAIN and run_files.HISTORY_JSON not in names and \
            run_files.BEST_MODEL not in names:
        return EMPTY, None, None
    return INTERRUPTED, None, None


def _quote(path: str) -> str:
    """`path` as a shell word (quoted only where it must be, so the usual path reads plain)."""
    import shlex

    return shlex.quote(path)


def read_config(run: RunDir) -> dict:
    """config.yaml as saved, or `{}` when there is none or it does not read (no
    validation: an old or hand-edited file still lists)."""
    return _read_config_text(str(run.config_file))


def _read_config_text(path: str, keys: tuple[str, ...] | None = None) -> dict:
    """The mapping in the YAML file `path` (`{}` when it does not read); with `keys`, only
    the top-level entries of those keys are parsed: a line at column 0 starts an entry, and
    the indented or `- ` lines below it continue it, as PyYAML writes a config."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, ValueError):
        return {}
    if keys is not None:
        picked, keep = [], False
        for line in text.splitlines():
            if line[:1] not in (" ", "\t", "-", ""):
                keep = line.split(":", 1)[0] in keys
            if keep:
                picked.append(line)
        text = "\n".join(picked)
    try:  # libyaml's parser when PyYAML has it: ten times the pure-Python one's speed
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _read_failed(path: str) -> dict:
    """failed.json as `RunDir.read_failed` reads it."""
    failed = _read_json(path)
    if failed is None:
        return {"error": f"{run_files.FAILED} is unreadable"}
    return failed if isinstance(failed, dict) else {"error": str(failed)}


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _best(history: list[dict], key: str) -> float | None:
    values = [v for v in (_number(row.get(key)) for row in history) if v is not None]
    if not values:
        return None
    return min(values) if _lower_is_better(key) else max(values)


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric or metric.endswith("error")


def _classes(labels, metrics: dict) -> int | None:
    """The number of classes: labels.json's, else metrics.json's per-class entries."""
    if isinstance(labels, dict) and isinstance(labels.get("labels"), list):
        return len(labels["labels"])
    if isinstance(metrics.get("per_class"), dict):
        return len(metrics["per_class"])
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# sorting


def check_sort(key: str) -> None:
    if key not in SORT_KEYS:
        import difflib

        close = difflib.get_close_matches(key, SORT_KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ZooError(f"unknown --sort metric '{key}'{hint}; choose one of "
                       f"{', '.join(SORT_KEYS)}")


def sort_runs(runs: list[RunSummary], key: str = DEFAULT_SORT) -> list[RunSummary]:
    """`runs` sorted by `key` (one of `SORT_KEYS`): best first for the metrics where more is
    better, smallest first otherwise; runs without the value last, ties by name."""
    check_sort(key)
    descending = SORT_KEYS[key]
    by_name = sorted(runs, key=lambda r: r.name)
    present = [r for r in by_name if getattr(r, key) is not None]
    missing = [r for r in by_name if getattr(r, key) is None]
    present.sort(key=lambda r: getattr(r, key), reverse=descending)  # stable: ties by name
    return present + missing


# ---------------------------------------------------------------------------------------------
# comparing


@dataclass(frozen=True)
class Compared:
    """Runs to compare: their summaries, settings and histories, in the order given."""

    runs: list[RunSummary]
    settings: list[dict]  # config.yaml of each (what stands for it, for other runs)
    histories: list[list[dict]]

    def differing(self) -> list[str]:
        """The settings whose values are not the same in every run."""
        return differing_settings(self.settings)


def open_runs(paths: list[str | Path]) -> Compared:
    """The runs `paths` name, for `zoo compare`.

    Raises:
        ZooError: fewer than two paths, or a path that is no run directory.
    """
    if len(paths) < 2:
        raise ZooError(f"compare needs two or more run directories; got {len(paths)}")
    runs, settings, histories = [], [], []
    names = _names(paths)
    for path, name in zip(paths, names, strict=True):
        path = Path(path)
        if not path.is_dir():
            raise ZooError(f"{path}: no such run directory")
        if not is_run(path):
            raise ZooError(f"{path} is not a run directory (no config.yaml, metrics.json or "
                           "checkpoint/state.json in it)")
        summary = summarise(path, name)
        runs.append(summary)
        settings.append(run_settings(RunDir(path), summary))
        histories.append(_saved_history(RunDir(path), summary))
    return Compared(runs, settings, histories)


def _names(paths: list[str | Path]) -> list[str]:
    """Each run's folder name, or its path where two runs share a name."""
    names = [Path(p).name for p in paths]
    names = [name if names.count(name) == 1 else str(p) for name, p in zip(names, paths,
                                                                           strict=True)]
    # the same run given twice still gets two names (two curves, two columns)
    return [name if names[:i].count(name) == 0 else f"{name} ({names[:i].count(name) + 1})"
            for i, name in enumerate(names)]


def saved_history(run: RunDir) -> list[dict]:
    """history.json's rows up to the last epoch the run saved: checkpoint/state.json's epoch
    (or metrics.json's, once evaluated). history.json is written first, so a run killed
    between the two has a row past the commit point, which is not part of the run."""
    history = _read_json(run.history_json)
    if not isinstance(history, list):
        return []
    rows = [row for row in history if isinstance(row, dict)]
    done = _as_dict(_read_json(run.state_file)).get("epoch")
    metrics = _as_dict(_read_json(run.metrics_file))
    if _evaluated(metrics) and _is_int(metrics.get("epochs")):
        done = max(done if _is_int(done) else 0, metrics["epochs"])
    return rows[:done] if _is_int(done) else rows


def _saved_history(run: RunDir, summary: RunSummary) -> list[dict]:
    history = _read_json(run.history_json)
    if not isinstance(history, list):
        return []
    rows = [row for row in history if isinstance(row, dict)]
    return rows[:summary.epochs] if summary.epochs is not None else rows


def run_settings(run: RunDir, summary: RunSummary | None = None) -> dict:
    """The settings of a run: config.yaml; for a features run its extractor, classifier and
    parameters; for an ensemble its members."""
    config = read_config(run)
    if config:
        return config
    metrics = _as_dict(_read_json(run.metrics_file))
    if "members" in metrics:
        members = [m.get("run") for m in metrics["members"] if isinstance(m, dict)]
        return {"model": "ensemble", "dataset": metrics.get("dataset"),
                "members": ", ".join(str(m) for m in members)}
    keys = ("model", "dataset", "extractor", "layer", "pooling", "classifier", "params", "grid")
    settings = {k: metrics.get(k) for k in keys if k in metrics}
    if isinstance(settings.get("params"), dict):
        settings["params"] = json.dumps(settings["params"], sort_keys=True)
    return settings


def differing_settings(settings: list[dict]) -> list[str]:
    """The keys whose values are not the same in every mapping of `settings` (a key one of
    them lacks counts as None there), in the order they first appear."""
    keys: list[str] = []
    for one in settings:
        keys += [k for k in one if k not in keys]
    return [k for k in keys if len({json.dumps(s.get(k), sort_keys=True, default=str)
                                     for s in settings}) > 1]


# the metrics `zoo compare` tabulates: (key, heading)
METRIC_COLUMNS = (("status", "status"), ("epochs", "epochs"), ("best", "best (monitor)"),
                  ("val_accuracy", "best val acc"), ("val_loss", "best val loss"),
                  ("accuracy", "accuracy"), ("top5_accuracy", "top-5"), ("loss", "loss"),
                  ("ece", "ECE"), ("time", "time"))
BOX_COLUMNS = (("mean_iou", "mean IoU"), ("iou50", "IoU>=0.5"))  # shown when a run has them
OUTPUT_SUFFIXES = (".png", ".html")


def metric_columns(runs: list[RunSummary]) -> tuple[tuple[str, str], ...]:
    """`METRIC_COLUMNS`, and the IoU columns when a box run is among `runs`."""
    boxes = any(r.mean_iou is not None for r in runs)
    return METRIC_COLUMNS + BOX_COLUMNS if boxes else METRIC_COLUMNS


def best_of(runs: list[RunSummary], key: str) -> float | None:
    """The best value of metric `key` among `runs`: None when fewer than two have it, or
    when "best" is not one thing (the runs monitor different metrics)."""
    values = [getattr(r, key) for r in runs if isinstance(getattr(r, key), float)]
    if len(values) < 2 or key in ("time", "epochs", "status"):
        return None
    if key == "best":
        monitors = {r.monitor for r in runs if r.best is not None}
        if len(monitors) != 1:
            return None
        key = monitors.pop() or ""
    return min(values) if _lower_is_better(key) or key == "ece" else max(values)


def format_metric(run: RunSummary, key: str) -> str:
    """How the tables show `run`'s `key` (one of `METRIC_COLUMNS`, or classes)."""
    value = getattr(run, key)
    if key == "epochs":
        if value is None and run.planned is None:
            return ""
        return f"{value or 0}/{run.planned}" if run.planned is not None else str(value)
    if key == "best":
        return "" if value is None else f"{run.monitor} {value:.4f}"
    if key == "time":
        return "" if value is None else format_seconds(value)
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_setting(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def check_output(path: str | Path) -> Path:
    """`zoo compare`'s -o: a .png figure or an .html page."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ZooError(f"-o {path}: write a .png figure or an .html page "
                       f"(got '{path.suffix or 'no suffix'}')")
    if path.is_dir():
        raise ZooError(f"-o {path} is a folder; give a file name ending in .png or .html")
    return path


def write_comparison(compared: Compared, path: str | Path) -> Path:
    """The runs' curves overlaid in one figure (`path` ending in .png), or a page of the
    figure and the tables of settings that differ and metrics (.html, self-contained: the
    figure is embedded)."""
    from zoo.plots import plot_compared_runs

    path = check_output(path)
    histories = {run.name: history for run, history in zip(compared.runs, compared.histories,
                                                            strict=True)}
    title = " vs ".join(run.name for run in compared.runs)
    if len(title) > 90:
        title = f"{len(compared.runs)} runs"
    if path.suffix.lower() == ".png":
        return plot_compared_runs(histories, path, title=title)
    figure = None
    if any(compared.histories):
        import base64
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            png = plot_compared_runs(histories, Path(tmp) / "curves.png", title=title)
            figure = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    from zoo.io import write_text

    write_text(path, render_page(compared, figure))
    return path


def render_page(compared: Compared, figure: str | None) -> str:
    """The comparison page: `zoo/resources/templates/compare.html.j2`."""
    import time

    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("zoo", "resources/templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    runs = compared.runs
    settings = [{"key": key, "cells": [format_setting(s.get(key)) for s in compared.settings]}
                for key in compared.differing()]
    shown = metric_columns(runs)
    columns = [{"key": key, "label": label, "numeric": key != "status"}
               for key, label in shown]
    best = {key: best_of(runs, key) for key, _ in shown}
    rows = []
    for run in runs:
        cells = []
        for key, _ in shown:
            value = getattr(run, key)
            css = "num" if key != "status" else STATUS_CLASS[run.status]
            if best[key] is not None and value == best[key]:
                css += " good"
            cells.append({"text": format_metric(run, key), "css": css,
                          "value": value if isinstance(value, float) else None})
        rows.append({"name": run.name, "cells": cells})
    return env.get_template("compare.html.j2").render(
        runs=runs, settings=settings, metrics=rows, metric_columns=columns, figure=figure,
        status_class=STATUS_CLASS, generated=time.strftime("%Y-%m-%d %H:%M"))


STATUS_CLASS = {FINISHED: "good", INTERRUPTED: "warn", FAILED: "bad", EMPTY: "warn"}
