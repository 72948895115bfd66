"""The report page of a run: `RUN/report.html`, one self-contained file (every image is
embedded as a data URI: it opens from disk, anywhere, with no server and no network).

`zoo train` and `zoo evaluate` write it after the evaluation, from the predictions they have
just made; `zoo report RUN` predicts again and rebuilds it. Its sections answer "why does the
model err?":

- the run at a glance: model, dataset, classes, epochs done of planned, best epoch, accuracy,
  top-5, loss, ECE, time, images/s, skipped files (linked to their list), the config;
- the curves, and the bias/variance reading of the train, validation and test errors;
- per-class precision, recall, F1 and support (sortable, worst first), the confusion matrix as
  counts and row-normalised, and the most confused pairs;
- the top-loss gallery (the images the model was most confidently wrong about, with where it
  looked: Grad-CAM of the predicted class) and a grid of correct examples per class;
- calibration: the expected calibration error, the reliability diagram and the confidence
  histogram.

A features run (`zoo fit-features`, `zoo baseline`) gets the same page without Grad-CAM; an
ensemble (`zoo evaluate --ensemble`) gets its members side by side.

Memory does not grow with the split: the predictions are `N x classes` numbers, and only the
images the page shows are read back, by index, after the predictions are made.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.choices import MONITOR_MODE
from zoo.errors import ZooError
from zoo.run import RunDir

log = logging.getLogger("zoo")

REPORT_HTML = "report.html"
DEFAULT_TOP = 24  # images in the top-loss gallery
PER_CLASS = 4  # correct examples shown per class
MAX_GRID_CLASSES = 20  # classes in the grid of correct examples (the worst by F1 first)
MOST_CONFUSED = 10
THUMBNAIL = 112  # images smaller than this are enlarged (nearest neighbour) to about it


@dataclass
class Evaluated:
    """What the page needs of an evaluation.

    Attributes:
        probs: `N x classes` predicted probabilities.
        labels: the `N` true classes.
        names: the class names, in index order.
        split: the split evaluated ("test" or "val").
        read: reads images back by position (`0..N-1`): returns `(display, inputs, ok)`,
            uint8 images as the model saw them (before scaling), the model's inputs (or
            None), and which could still be read. None: no images to show.
        describe: positions -> a short name of each image (its file name), or None.
        model: the Keras model, for Grad-CAM; None for features runs and ensembles.
        cam_note: why there is no Grad-CAM, when `model` is None.
    """

    probs: np.ndarray
    labels: np.ndarray
    names: list[str]
    split: str
    read: Callable | None = None
    describe: Callable | None = None
    model: object | None = None
    cam_note: str | None = None
    members: list[dict] = field(default_factory=list)  # an ensemble's, each with its metrics
    dataset: str | None = None
    drawn: dict = field(default_factory=dict)  # figures of this evaluation already drawn


def split_reader(split, index: np.ndarray, transform) -> tuple[Callable, Callable]:
    """`(read, describe)` for `Evaluated` over the images `index` (source indices, in the
    order of the predictions) of `split`, prepared by `transform` (the eval transform)."""
    from zoo.data.preprocessing import adapt_channels, resize_and_crop

    source = split.source
    index = np.asarray(index, dtype=np.int64)

    def read(positions: np.ndarray):
        raw, ok = source.load(index[np.asarray(positions, dtype=np.int64)])
        if raw.shape[1:3] != tuple(transform.size):
            raw = np.stack([resize_and_crop(im, transform.size) for im in raw])
        display = adapt_channels(raw, transform.channels)
        return display, transform(raw), ok

    def describe(positions: np.ndarray) -> list[str]:
        paths = getattr(source, "paths", None)
        if paths is None:
            base = getattr(source, "source", None)  # a class subset wraps the source
            paths = getattr(base, "paths", None)
        return [Path(paths[index[p]]).name if paths is not None else f"#{int(index[p])}"
                for p in positions]

    return read, describe


# ---------------------------------------------------------------------------------------------
# writing


def write_report(run: RunDir, evaluated: Evaluated, output: str | Path | None = None,
                 top: int = DEFAULT_TOP, cam_layer: str | None = None) -> Path:
    """Write the report page of `run` (default `RUN/report.html`) from `evaluated`.

    Args:
        run: the run directory (train, features or ensemble).
        evaluated: the predictions and how to read the images back.
        output: the page to write. Defaults to `RUN/report.html`.
        top: images in the top-loss gallery. Defaults to `24`.
        cam_layer: the layer Grad-CAM explains. Defaults to the last convolutional one.

    Returns:
        The page's path (written atomically).
    """
    from zoo.io import write_text

    started = time.perf_counter()
    path = Path(output) if output is not None else run.path / REPORT_HTML
    context = build_context(run, evaluated, top=top, cam_layer=cam_layer, page=path)
    write_text(path, render("report.html.j2", **context))
    log.debug("report written in %.2f s", time.perf_counter() - started)
    return path


def build_context(run: RunDir, evaluated: Evaluated, top: int = DEFAULT_TOP,
                  cam_layer: str | None = None, page: Path | None = None) -> dict:
    """Everything the template shows, as plain values and data URIs."""
    from zoo.evaluation import (
        diagnose,
        evaluate_predictions,
        most_confused,
        reliability,
    )

    probs, labels, names = evaluated.probs, evaluated.labels, list(evaluated.names)
    result = evaluate_predictions(probs, labels, names)
    metrics = _read_json_dict(run.metrics_file)
    config = _read_config(run)
    history = _saved_history(run)
    kind = _kind(run, metrics)
    rel = reliability(probs, labels)
    figures = _figures(run, history, result["confusion"], names, rel, probs, labels,
                       evaluated.drawn)
    best = _best_epoch(history, config, run)
    diagnosis = _diagnosis(best, result, evaluated.split, diagnose)
    per_class = sorted(
        ({"name": name, **{k: float(v) for k, v in result["per_class"][name].items()}}
         for name in names),
        key=lambda row: (row["f1"], row["recall"], row["name"]))
    gallery, grid, cam = _galleries(evaluated, top, cam_layer, per_class)
    skipped = _skipped(run, page)
    return {
        "run": {"name": run.name, "path": str(run.path.resolve()), "kind": kind},
        "glance": _glance(run, metrics, config, history, result, best, kind, evaluated),
        "metrics": {"accuracy": result["accuracy"], "top5_accuracy": result["top5_accuracy"],
                    "loss": result["loss"], "ece": rel["ece"], "images": result["images"],
                    "split": evaluated.split},
        "figures": figures,
        "diagnosis": diagnosis,
        "per_class": per_class,
        "confused": [{"true": t, "predicted": p, "count": c}
                     for t, p, c in most_confused(result["confusion"], names, MOST_CONFUSED)],
        "gallery": gallery,
        "grid": grid,
        "cam": cam,
        "members": evaluated.members,
        "skipped": skipped,
        "config_text": _config_text(run, config, metrics, kind),
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "top": top,
        "classes_total": len(names),
    }


def render(template: str, **context) -> str:
    """Render one of zoo's page templates (`zoo/resources/templates`)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("zoo", "resources/templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    return env.get_template(template).render(**context)


def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# the sections


def _kind(run: RunDir, metrics: dict) -> str:
    if run.features_json.is_file() or run.classifier_file.is_file():
        return "features"
    if "members" in metrics:
        return "ensemble"
    return "train"


def _glance(run, metrics, config, history, result, best, kind, evaluated) -> list[dict]:
    """The cards at the top of the page: `{key, value, note}`."""
    from zoo.runs import format_seconds

    def card(key, value, note=""):
        return {"key": key, "value": value, "note": note}

    cards = [card("model", str(metrics.get("model") or config.get("model") or "–")),
             card("dataset", str(metrics.get("dataset") or config.get("dataset") or "–")),
             card("classes", str(len(evaluated.names)), _short(evaluated.names))]
    if kind == "train":
        planned = config.get("epochs")
        done = len(history)
        cards.append(card("epochs", f"{done}/{planned}" if planned else str(done),
                          {"early_stop": "stopped early", "nan_loss": "stopped: NaN loss"}
                          .get(metrics.get("stopped"), "")))
        if best is not None:
            cards.append(card("best epoch", str(best["epoch"]),
                              f"{best['monitor']} {best['value']:.4f}"))
    cards += [card(f"{evaluated.split} accuracy", f"{result['accuracy']:.4f}",
                   f"{result['images']:,} images"),
              card("top-5 accuracy", f"{result['top5_accuracy']:.4f}"),
              card("loss", f"{result['loss']:.4f}"),
              card("ECE", f"{result['ece']:.4f}", "15 bins")]
    seconds = metrics.get("train_seconds") if kind == "train" else metrics.get("fit_seconds")
    if isinstance(seconds, (int, float)):
        cards.append(card("training time" if kind == "train" else "fit time",
                          format_seconds(float(seconds))))
    if isinstance(metrics.get("images_per_second"), (int, float)):
        cards.append(card("images/s", f"{metrics['images_per_second']:,.0f}", "training"))
    return cards


def _short(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (", ..." if len(names) > most else "")


def _best_epoch(history: list[dict], config: dict, run: RunDir) -> dict | None:
    """The epoch whose model is the run's best: `{epoch, monitor, value, row}`."""
    state = run.read_state() if run.state_file.is_file() else None
    monitor = ((state or {}).get("best_model") or {}).get("monitor") or config.get("monitor")
    if not history or not monitor:
        return None
    values = [(row.get(monitor), i) for i, row in enumerate(history)
              if isinstance(row.get(monitor), (int, float)) and math.isfinite(row[monitor])]
    if not values:
        return None
    lower = MONITOR_MODE.get(monitor, "min" if "loss" in monitor else "max") == "min"
    value, i = min(values) if lower else max(values, key=lambda v: (v[0], -v[1]))
    return {"epoch": history[i].get("epoch", i + 1), "monitor": monitor, "value": value,
            "row": history[i]}


def _diagnosis(best, result, split, diagnose) -> dict | None:
    """Train, validation and test error side by side, and what their gaps say."""
    if best is None:
        return None
    row = best["row"]
    train = 1 - row["accuracy"] if isinstance(row.get("accuracy"), (int, float)) else None
    val = 1 - row["val_accuracy"] if isinstance(row.get("val_accuracy"), (int, float)) \
        else None
    test = 1 - result["accuracy"] if split == "test" else None
    if train is None and val is None:
        return None
    reading = diagnose(train, val, test)
    advice = {
        "high bias": "the model underfits: a bigger model, longer training or less "
                     "regularisation",
        "high variance": "the model overfits: more data, augmentation or regularisation",
        "validation overfit": "the test error is well above the validation error: the "
                              "settings were tuned to the validation split, or the test "
                              "images differ from it",
        "ok": "no gap is above 5 points: train longer or change the model only if the "
              "error itself is too high",
    }
    return {"epoch": best["epoch"], "train": train, "val": val, "test": test,
            "bias": reading["bias"], "variance": reading["variance"],
            "val_test_gap": reading["val_test_gap"],
            "verdict": [{"name": v, "advice": advice[v]} for v in reading["verdict"]]}


def _skipped(run: RunDir, page: Path | None) -> dict:
    skipped = run.read_skipped() if run.skipped_file.is_file() else {}
    link = None
    if skipped:
        start = (page.parent if page is not None else run.path).resolve()
        link = Path(os.path.relpath(run.skipped_file.resolve(), start)).as_posix()
    return {"count": len(skipped), "link": link,
            "first": [{"path": p, "reason": r} for p, r in list(skipped.items())[:10]]}


def _config_text(run: RunDir, config: dict, metrics: dict, kind: str) -> str:
    if run.config_file.is_file():
        try:
            return run.config_file.read_text()
        except OSError:
            pass
    import json

    keys = ("extractor", "layer", "pooling", "classifier", "params", "grid", "features_file",
            "dataset", "split", "members")
    return json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=2, default=str)


# ---------------------------------------------------------------------------------------------
# figures and images


def _figures(run, history, confusion, names, rel, probs, labels, drawn: dict) -> dict:
    """The page's figures as data URIs (None where there is nothing to draw). `drawn`: files
    of this evaluation already drawn (`{"confusion": path}`), read instead of drawn again; the
    curves are the run's monitor.png, which every epoch's end redraws."""
    from zoo.plots import (
        plot_confidence_histogram,
        plot_confusion_matrix,
        plot_reliability,
        plot_training_curves,
    )

    with tempfile.TemporaryDirectory(prefix="zoo-report-") as tmp:
        tmp = Path(tmp)

        def draw(name, plot, *args, **kwargs):
            if name in drawn and Path(drawn[name]).is_file():
                return _data_uri(Path(drawn[name]).read_bytes())
            return _data_uri(plot(*args, tmp / f"{name}.png", **kwargs).read_bytes())

        curves = None
        if history:
            if run.monitor_png.is_file():
                drawn = {**drawn, "curves": run.monitor_png}
            curves = draw("curves", plot_training_curves, history, title=run.name)
        return {
            "curves": curves,
            "confusion": draw("confusion", plot_confusion_matrix, confusion, names,
                              title="confusion matrix (counts)"),
            "confusion_normalised": draw("confusion_normalised", plot_confusion_matrix,
                                         confusion, names, normalize=True,
                                         title="confusion matrix (each row sums to 1)"),
            "reliability": draw("reliability", plot_reliability, rel,
                                title="reliability diagram"),
            "confidence": draw("confidence", plot_confidence_histogram, probs, labels,
                               title="confidence of right and wrong predictions"),
        }


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(image: np.ndarray) -> str:
    """A uint8 image (H x W, H x W x 1 or H x W x 3) as a PNG data URI."""
    from PIL import Image

    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return _data_uri(buffer.getvalue())


def _enlarge(image: np.ndarray) -> np.ndarray:
    """Small images (digits are 8x8) enlarged by a whole factor, pixels kept sharp."""
    import cv2

    height, width = image.shape[:2]
    factor = THUMBNAIL // max(height, width)
    if factor < 2:
        return image
    big = cv2.resize(image, (width * factor, height * factor), interpolation=cv2.INTER_NEAREST)
    return big if big.ndim == image.ndim else big[..., None]


def _galleries(evaluated: Evaluated, top: int, cam_layer: str | None,
               per_class: list[dict]) -> tuple[dict, dict, dict]:
    """The top-loss gallery (with Grad-CAM), the grid of correct examples, and what the
    page says about Grad-CAM."""
    from zoo.evaluation import correct_examples, top_losses

    probs, labels, names = evaluated.probs, evaluated.labels, evaluated.names
    cam = {"layer": None, "note": evaluated.cam_note}
    worst = top_losses(probs, labels, top)
    right = correct_examples(probs, labels, PER_CLASS)
    index = {name: i for i, name in enumerate(names)}
    grid_classes = [index[row["name"]] for row in per_class][:MAX_GRID_CLASSES]
    if evaluated.read is None:
        note = "the images of this evaluation cannot be read back"
        return ({"items": _items(evaluated, worst, None, None), "note": note},
                {"classes": [], "note": note, "shown": 0}, cam)
    display, inputs, ok = evaluated.read(worst) if len(worst) else (None, None, None)
    maps = None
    if len(worst) and evaluated.model is not None:
        maps, cam = _gradcam(evaluated.model, inputs, probs[worst].argmax(axis=1), cam_layer)
    elif evaluated.model is None and cam["note"] is None:
        cam["note"] = "Grad-CAM needs a convolutional network"
    gallery = {"items": _items(evaluated, worst, display, maps, ok), "note": None}
    chosen = [(c, right[c]) for c in grid_classes]
    positions = np.concatenate([p for _, p in chosen]) if chosen else np.zeros(0, np.int64)
    grid_display, _, grid_ok = evaluated.read(positions) if len(positions) else (None, None,
                                                                                  None)
    rows, at = [], 0
    for c, members in chosen:
        pictures = []
        for j, p in enumerate(members):
            if grid_ok[at + j]:
                pictures.append({"src": _png(_enlarge(grid_display[at + j])),
                                 "probability": float(probs[p, c])})
        at += len(members)
        rows.append({"name": names[c], "images": pictures})
    grid = {"classes": rows, "note": None, "shown": len(rows)}
    return gallery, grid, cam


def _gradcam(model, inputs, classes, layer):
    """Grad-CAM maps of the gallery's images for the classes predicted, or why not."""
    from zoo.errors import first_line
    from zoo.gradcam import NoConvLayer, cam_layer, gradcam

    try:
        name = cam_layer(model, layer)
    except NoConvLayer as exc:
        return None, {"layer": None, "note": str(exc)}
    try:
        maps, _ = gradcam(model, inputs, classes, layer=name)
    except Exception as exc:  # noqa: BLE001 - the page stands without it; a layer asked for
        if layer is not None:  # by name is the user's request: say why it failed
            raise
        log.debug("Grad-CAM failed", exc_info=True)
        return None, {"layer": None, "note": f"Grad-CAM failed on {name}: {first_line(exc)}"}
    return maps, {"layer": name, "note": None}


def _items(evaluated: Evaluated, positions, display, maps, ok=None) -> list[dict]:
    """The gallery's cards: image, overlay, true and predicted class, probabilities."""
    from zoo.gradcam import overlay

    probs, labels, names = evaluated.probs, evaluated.labels, evaluated.names
    described = evaluated.describe(positions) if evaluated.describe else [None] * len(
        positions)
    items = []
    for j, p in enumerate(positions):
        predicted, true = int(probs[p].argmax()), int(labels[p])
        item = {"true": names[true], "predicted": names[predicted],
                "probability": float(probs[p, predicted]), "p_true": float(probs[p, true]),
                "loss": float(-np.log(max(probs[p, true], 1e-12))), "name": described[j],
                "src": None, "cam": None}
        if display is not None and (ok is None or ok[j]):
            image = _enlarge(display[j])
            item["src"] = _png(image)
            if maps is not None:
                item["cam"] = _png(overlay(image, maps[j]))
        items.append(item)
    return items


# ---------------------------------------------------------------------------------------------
# reading the run


def _read_json_dict(path: Path) -> dict:
    """A JSON object file of the run, `{}` when it is missing, unreadable or no object (the
    reading `zoo runs` does)."""
    from zoo.runs import _as_dict, _read_json

    return _as_dict(_read_json(path))


def _read_config(run: RunDir) -> dict:
    from zoo.runs import read_config

    return read_config(run)


def _saved_history(run: RunDir) -> list[dict]:
    """history.json up to the last saved epoch: history.json is written before
    checkpoint/state.json commits an epoch, so a run killed between the two has a row that
    was never saved (`zoo.runs` reads it the same way)."""
    from zoo.runs import saved_history

    return saved_history(run)


# ---------------------------------------------------------------------------------------------
# each kind of run


def write_page(run: RunDir, evaluated: Evaluated | Callable[[], Evaluated],
               **options) -> Path | None:
    """`write_report` for the commands that write the page after their evaluation (`zoo
    train`, `zoo evaluate`, `zoo fit-features`, `zoo baseline`, `zoo evaluate --ensemble`):
    the metrics are written already, so a page that fails is a warning that says how to try
    again, not a failure. `evaluated` may be a function that makes it."""
    from zoo.errors import first_line

    try:
        if callable(evaluated):
            evaluated = evaluated()
        return write_report(run, evaluated, **options)
    except Exception as exc:  # noqa: BLE001 - the run is whole; only the page is missing
        log.warning("the report page was not written (%s); 'zoo report %s' tries again",
                    first_line(exc), run)
        log.debug("report failure", exc_info=True)
        return None


def report_run(run_dir: str | Path, output: str | Path | None = None, top: int = DEFAULT_TOP,
               cam_layer: str | None = None, split: str = "test",
               dataset: str | None = None) -> Path:
    """Predict again and write the report page of the run `run_dir` (`zoo report`): a run
    of `zoo train`, a features run or an ensemble.

    Raises:
        ZooError: no such run, or a run without what its page needs (a best model, a
            classifier, its features file).
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ZooError(f"{path}: no such run directory")
    run = RunDir(path)
    metrics = _read_json_dict(run.metrics_file)
    if run.labels_file.is_file() and run.read_card().task == "boxes":  # issue 19: zoo.boxes
        from zoo.boxes.report import report_box_run

        return report_box_run(RunDir.open(path), output, dataset, split)
    if _kind(run, metrics) == "features":
        if dataset:
            raise ZooError(f"{path} is a features run: its classifier reports on the rows of "
                           "its features file; --dataset is for runs of zoo train")
        evaluated = features_evaluated(run, split=split or metrics.get("split") or "test")
    elif "members" in metrics:
        evaluated = ensemble_evaluated(run, metrics, dataset, split)
    elif run.config_file.is_file():  # with the test-time augmentation it was evaluated with
        evaluated = train_evaluated(RunDir.open(path), dataset, split, tta=metrics.get("tta"))
    else:
        raise ZooError(f"{path} is not a run directory (no config.yaml, and no metrics.json of "
                       "a features run or an ensemble)")
    return write_report(run, evaluated, output, top=top, cam_layer=cam_layer)


def train_evaluated(run: RunDir, dataset: str | None = None, split: str = "test",
                    tta: str | None = None) -> Evaluated:
    """A `zoo train` run's best model, predicting its evaluation split again (with `tta`,
    `zoo.tta`'s test-time augmentation: the mean over the views)."""
    from zoo.evaluation import predict_run

    p = predict_run(run, dataset, split, tta)
    read, describe = split_reader(*p.reader)
    return Evaluated(p.probs, p.y, list(p.labels.names), p.which, read, describe, model=p.model)


def ensemble_evaluated(run: RunDir, metrics: dict, dataset: str | None = None,
                       split: str = "test") -> Evaluated:
    """An ensemble's members predicting again; the mean of their probabilities."""
    from zoo.evaluation import ensemble_members

    members = [_member_path(run, m.get("run")) for m in metrics.get("members") or []
               if isinstance(m, dict)]
    missing = [m for m in members if not m or not Path(m).is_dir()]
    if len(members) < 2 or missing:
        raise ZooError(f"{run}: the ensemble's members are not all there "
                       f"({', '.join(map(str, missing)) or 'fewer than two recorded'})")
    return ensemble_members([RunDir.open(m) for m in members], dataset, split,
                            tta=metrics.get("tta"))[0]


def _member_path(run: RunDir, member) -> str | None:
    """A member's run as recorded (absolute since zoo records it so), or, for a relative path
    that is not there from here, the same path from the ensemble folder's parent."""
    if not member:
        return None
    path = Path(member)
    if path.is_dir() or path.is_absolute():
        return str(path)
    beside = run.path.resolve().parent / path
    return str(beside) if beside.is_dir() else str(path)


def features_evaluated(run: RunDir, split: str = "test", probs=None) -> Evaluated:
    """A features run's classifier on its features file's evaluation rows (`probs`, when the
    caller has just computed them), with the images read back from the dataset the features
    were extracted from when it is still there."""
    import joblib

    from zoo.features.classifiers import class_scores
    from zoo.features.hdf5 import read_features

    metrics = _read_json_dict(run.metrics_file)
    features_file = Path(metrics.get("features_file") or run.features_file)
    if not features_file.is_file() and run.features_file.is_file():
        features_file = run.features_file  # a baseline run moved with its features.h5
    if not features_file.is_file():
        raise ZooError(f"{run}: its features file {features_file} is gone; the page needs "
                       "its rows")
    data = read_features(features_file)
    x, y = data.part(split)
    names = list(data.label_names)
    if probs is None:
        if not run.classifier_file.is_file():
            raise ZooError(f"{run}: no {run.classifier_file.name} (a features run that did "
                           "not finish?)")
        probs = class_scores(joblib.load(run.classifier_file), x, len(names))
    read, describe, note = _features_images(data, split, y)
    cam_note = "a features run's classifier is not a convolutional network"
    evaluated = Evaluated(np.asarray(probs, dtype=np.float64), y, names, split, read, describe,
                          cam_note=cam_note)
    if note:
        evaluated.cam_note = cam_note + f" (and {note})"
    return evaluated


def _features_images(data, split: str, labels: np.ndarray):
    """`(read, describe, note)`: the images behind a features file's `split` rows, from its
    dataset loaded again as the extraction loaded it; `(None, None, why)` when they cannot be
    matched row for row (the dataset moved, or some of its files were unreadable)."""
    from zoo.data.datasets import load_dataset
    from zoo.data.pipeline import Transform

    attrs = data.attrs
    dataset = str(attrs.get("dataset") or "")
    shape = tuple(int(v) for v in attrs.get("input_shape", ()))
    if not dataset or len(shape) != 3:
        return None, None, "the features file does not say where its images came from"
    try:
        splits = load_dataset(dataset, seed=int(attrs.get("seed", 42)),
                              val_split=float(attrs.get("val_split", 0.1)),
                              limit=int(attrs.get("limit", 0)) or None,
                              data_dir=str(attrs.get("data_dir") or "") or None,
                              image_size=shape[:2], channels=3,
                              classes=str(attrs.get("classes") or "") or None,
                              per_class=int(attrs.get("per_class", 0)) or None)
    except (ZooError, OSError) as exc:
        return None, None, f"its images could not be loaded again: {exc}"
    chosen = {"train": splits.train, "val": splits.val, "test": splits.test}.get(split)
    if chosen is None or len(chosen) != len(labels) or not np.array_equal(chosen.labels,
                                                                           labels):
        return None, None, f"the {split} images no longer match the features file's rows"
    transform = Transform(size=shape[:2], channels=shape[2], mode="raw")
    read, describe = split_reader(chosen, chosen.indices, transform)
    return read, describe, None
