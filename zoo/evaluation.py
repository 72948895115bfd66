"""Evaluation: top-1/top-5 accuracy, loss, the per-class report and the confusion matrix, and
`evaluate_run`, which computes them for a run's best model and writes them into the run; then
the answers to "why does the model err?": calibration (the expected calibration error and the
reliability table), the top losses, the most confused pairs of classes and the bias/variance
reading of the train, validation and test errors."""

from __future__ import annotations

import logging
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from rich.progress import Progress
from rich.table import Table
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    log_loss,
    top_k_accuracy_score,
)

from zoo.backend import predict_batch
from zoo.config import Config
from zoo.errors import ZooError, ZooRuntimeError, from_os_error
from zoo.inputs import Inputs, prepare
from zoo.plots import plot_confusion_matrix
from zoo.run import RunDir, load_model

log = logging.getLogger("zoo")


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """The fraction of images whose class is among the `k` most probable (scikit-learn's
    `top_k_accuracy_score`; with `k` at least the class count, every image counts)."""
    classes = probs.shape[1]
    if k >= classes:
        return 1.0
    scores = probs[:, 1] if classes == 2 else probs  # scikit-learn's binary convention
    return float(top_k_accuracy_score(labels, scores, k=k, labels=np.arange(classes)))


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """The mean negative log-likelihood of the true classes (scikit-learn's `log_loss`)."""
    probs = probs / probs.sum(axis=1, keepdims=True)  # a float32 softmax sums to 1 +- 1e-7
    return float(log_loss(labels, probs, labels=np.arange(probs.shape[1])))


def evaluate_predictions(probs: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict:
    """Metrics of predicted probabilities `probs` (N x classes) against integer `labels`:
    accuracy, top-5 accuracy, loss, the expected calibration error (`ece`), the per-class
    report (as a dict and as text) and the confusion matrix."""
    predicted = probs.argmax(axis=1)
    classes = list(range(len(label_names)))
    report = classification_report(labels, predicted, labels=classes, target_names=label_names,
                                   digits=4, zero_division=0, output_dict=True)
    text = classification_report(labels, predicted, labels=classes, target_names=label_names,
                                 digits=4, zero_division=0)
    per_class = {
        name: {"precision": report[name]["precision"], "recall": report[name]["recall"],
               "f1": report[name]["f1-score"], "support": int(report[name]["support"])}
        for name in label_names
    }
    return {
        "accuracy": float((predicted == labels).mean()),
        "top5_accuracy": top_k_accuracy(probs, labels, 5),
        "loss": cross_entropy(probs, labels),
        "images": int(len(labels)),
        "per_class": per_class,
        "ece": expected_calibration_error(probs, labels),
        "report_text": text,
        "confusion": confusion_matrix(labels, predicted, labels=classes),
    }


def write_report(run: RunDir, result: dict, extra: dict, label_names: list[str]) -> dict:
    """Write metrics.json, classification_report.txt and confusion_matrix.png into `run`."""
    metrics = {k: v for k, v in result.items() if k not in ("report_text", "confusion")}
    metrics = {**metrics, **extra}
    run.write_metrics(metrics)
    run.write_report(result["report_text"])
    plot_confusion_matrix(result["confusion"], label_names, run.confusion_png,
                          title=f"{run.name} ({extra.get('split', 'test')})")
    return metrics


def print_summary(metrics: dict, console,
                  scores: tuple[str, ...] = ("accuracy", "top5_accuracy", "loss")) -> None:
    """The evaluation's table: its `scores` that metrics.json holds (a classifier's by
    default; a box run gives its IoU ones), then the training's epochs, time and speed."""
    views = f", {metrics['tta']} TTA" if metrics.get("tta") else ""
    table = Table(title=f"{metrics.get('split', 'test')}: {metrics['images']} images{views}",
                  title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in scores:
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.4f}")
    for key in ("epochs", "train_seconds", "images_per_second"):
        if metrics.get(key) is not None:
            value = metrics[key]
            table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    console.print(table)


def predict_split(model, split, transform, batch_size: int = 256, tta: str | None = None):
    """Probabilities and labels of every readable image of `split`, predicted batch by batch:
    at most two batches of images are in memory at once (one loading while one predicts),
    whatever the split's size. Unreadable files are dropped (the source records them).

    With `tta` (`zoo.tta`: `"flip"` or `"crops"`) an image's probabilities are the mean over
    its views; a batch then loads `batch_size` / views images, so its views fill about
    `batch_size`.

    Returns:
        `(probs, labels, index)`: `N x classes` probabilities, the `N` labels and the `N`
        source indices of the images predicted (`split.source.load(index[i])` reads image
        `i` again: the report's gallery reads only the images it shows).
    """
    from zoo import tta as views

    step = views.images_per_batch(batch_size, tta)
    chunks = [split.indices[start : start + step] for start in range(0, len(split), step)]
    # Every batch is padded to the first (largest) one's rows, so the model sees one input
    # shape and traces once, but not beyond: a split smaller than a batch is predicted at its
    # own size (40 images at 224x224 padded to 256 rows cost MiniVGGNet 9 s instead of ~1.5).
    rows = min(step, len(split)) * views.view_count(tta)
    probs, labels, index = [], [], []
    with ThreadPoolExecutor(max_workers=1) as loader, \
            Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("evaluating", total=len(split))
        pending = loader.submit(_load_kept, split, chunks[0], transform, tta) if chunks else None
        for i in range(len(chunks)):
            x, y, kept = pending.result()
            if i + 1 < len(chunks):
                pending = loader.submit(_load_kept, split, chunks[i + 1], transform, tta)
            if len(x):
                p = np.asarray(predict_batch(model, x, rows), dtype=np.float64)
                probs.append(views.mean_over_views(p, tta))
                labels.append(y)
                index.append(kept)
            bar.advance(task, len(chunks[i]))
    if not probs:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(probs), np.concatenate(labels), np.concatenate(index)


def _load_kept(split, chunk: np.ndarray, transform, tta: str | None = None):
    """`load_batch` of `chunk`, with the source indices of the images that were readable;
    with `tta`, the views of each image (`zoo.tta.make_views`, view-major)."""
    from dataclasses import replace

    from zoo import tta as views

    images, ok = split.source.load(chunk)
    labels = split.source.labels[chunk]
    kept = np.asarray(chunk, dtype=np.int64)[ok]
    if not ok.all():
        images, labels = images[ok], labels[ok]
    if not len(images):
        return np.zeros((0, *transform.size, transform.channels), np.float32), labels, kept
    size = views.load_size(transform.size, tta)
    loaded = transform(images) if size == transform.size else replace(transform, size=size)(images)
    return views.make_views(loaded, transform.size, tta), labels, kept


def run_inputs(run: RunDir, labels, dataset: str | None = None) -> Inputs:
    """The inputs a run's model takes, prepared from its saved settings and `labels` (its
    size, preprocessing and mean); on `dataset` instead of its own, which must have the same
    classes."""
    config = Config(run.read_config())
    config = config.replace(class_weight=None)  # training's: its file need not exist now
    if dataset:
        config = config.replace(dataset=dataset)
    inputs = prepare(config, mean=labels.mean, preprocessing=labels.preprocessing)
    inputs.check_classes(labels, str(run))
    return inputs


def best_model(run: RunDir, advice: str):
    """A run's best model, for predictions only (no optimizer), or a one-line error ending
    in `advice` when no epoch finished with a finite loss."""
    if not run.best_model.is_file():
        raise ZooRuntimeError(f"{run} has no {run.best_model.name} (no epoch finished with a "
                              f"finite loss); {advice}")
    return load_model(run.best_model, compile=False)


def evaluate_run(run_dir, dataset: str | None = None, split: str = "test",
                 inputs: Inputs | None = None,
                 extra: dict | None = None, console=None, page: bool | dict = True,
                 tta: str | None = None, model=None) -> dict:
    """Evaluate the best model of a run and write metrics.json, the report, the confusion
    matrix and the list of skipped files into it.

    Args:
        run_dir: the run directory (a path or a `RunDir`).
        dataset: evaluate on this dataset instead of the run's own (same classes).
        split: `"test"` (falls back to validation when there is none) or `"val"`.
        inputs: the `Inputs` of a run that has just trained (`zoo train`); otherwise they are
            prepared from the run's saved configuration.
        extra: facts of the training to record in metrics.json.
        page: write the report page, report.html (a dict: `zoo.report.write_page`'s
            options). Defaults to `True`.
        tta: test-time augmentation, `"flip"` or `"crops"` (`zoo.tta`): the metrics, the
            report and its page are of the mean probabilities over each image's views;
            metrics.json records it as `tta`. Defaults to `None` (none).
        model: a model in memory with the weights of the run's model.keras (`zoo train`,
            whose last epoch was the best); otherwise model.keras is loaded.
    Returns:
        The metrics written to metrics.json.
    """
    run = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir)
    labels = run.read_card()
    if labels.task == "boxes":  # issue 19: IoU metrics, box_predictions.csv (zoo.boxes)
        from zoo.boxes.evaluation import evaluate_boxes_run

        if tta:
            raise ZooError("--tta is for classifiers; a boxes run evaluates without it")
        return evaluate_boxes_run(run, dataset, split, inputs, extra, console, page)
    if inputs is None:
        inputs = run_inputs(run, labels, dataset)
        saved = run.read_metrics()
        extra = {k: saved.get(k) for k in ("epochs", "train_seconds", "images_per_second",
                                           "stopped", "model", "class_weight")}
        extra["dataset"] = inputs.splits.name
    model = model if model is not None else best_model(run, "try a lower --lr")
    which, chosen = inputs.splits.eval_split(split)
    probs, y, index = predict_split(model, chosen, inputs.eval_transform, tta=tta)
    skipped = {**run.read_skipped(), **inputs.skipped_files()}
    try:
        if skipped:
            run.write_skipped(skipped)
            log.warning("skipped %d input files (not images, or unreadable); the list is in %s",
                        len(skipped), run.skipped_file)
        if not len(y):
            raise ZooError(f"{inputs.splits.name}: no readable images in the {which} split")
        result = evaluate_predictions(probs, y, labels.names)
        metrics = write_report(run, result, {**(extra or {}), "split": which, "tta": tta,
                                             "skipped_files": len(skipped)}, labels.names)
    except OSError as exc:
        raise from_os_error(exc, "write", exc.filename or run,
                            then=f"'zoo evaluate {run}' writes the report") from None
    if page:
        from zoo.report import Evaluated, split_reader, write_page

        read, describe = split_reader(chosen, index, inputs.eval_transform)
        evaluated = Evaluated(probs, y, list(labels.names), which, read, describe, model=model,
                              drawn={"confusion": run.confusion_png})
        write_page(run, evaluated, **(page if isinstance(page, dict) else {}))
    if console is not None:
        print_summary(metrics, console)
    if not math.isfinite(metrics["loss"]):
        log.warning("the evaluation loss is not finite")
    return metrics


# ---------------------------------------------------------------------------------------------
# ensembles


@dataclass
class RunPredictions:
    """A run's best model's predictions of one split (`predict_run`)."""

    labels: object  # the run's ModelCard
    inputs: Inputs
    model: object
    which: str  # the split predicted: "test", or "val" when there is no test split
    split: object
    probs: np.ndarray
    y: np.ndarray
    index: np.ndarray  # the source index of each image predicted

    @property
    def reader(self) -> tuple:
        """`(split, source indices, transform)`: what `zoo.report.split_reader` reads back."""
        return self.split, self.index, self.inputs.eval_transform


def predict_run(run: RunDir, dataset: str | None, split: str, tta: str | None = None,
                advice: str = "train it first") -> RunPredictions:
    """The best model of `run` predicting `split` (of `dataset` instead of its own, with the
    same classes) on its own inputs (its size, preprocessing and mean), with `tta`.

    Raises:
        ZooError: no readable image in the split; no best model (ending in `advice`).
    """
    labels = run.read_card()
    inputs = run_inputs(run, labels, dataset)
    model = best_model(run, advice)
    which, chosen = inputs.splits.eval_split(split)
    probs, y, index = predict_split(model, chosen, inputs.eval_transform, tta=tta)
    if not len(y):
        raise ZooError(f"{inputs.splits.name}: no readable images in the {which} split")
    return RunPredictions(labels, inputs, model, which, chosen, probs, y, index)


def _member_probs(run: RunDir, dataset: str | None, split: str, tta: str | None = None):
    """`(labels, split name, dataset name, probabilities, image labels, reader)` of one member
    of an ensemble (`predict_run`)."""
    p = predict_run(run, dataset, split, tta, advice="leave it out of the ensemble")
    return p.labels, p.which, p.inputs.splits.name, p.probs, p.y, p.reader


def ensemble_predictions(members: list[np.ndarray]) -> np.ndarray:
    """The ensemble's probabilities: the mean of its members' (each `N x classes`)."""
    return np.mean(np.stack(members), axis=0)


def ensemble_members(runs: list[RunDir], dataset: str | None = None, split: str = "test",
                     tta: str | None = None):
    """The members' predictions and the ensemble's, as the report page takes them (each
    member's the mean over its `tta` views, `zoo.tta`, when given).

    Returns:
        `(evaluated, card)`: a `zoo.report.Evaluated` of the ensemble's probabilities (with
        `members`: each member's run, accuracy, top-5 accuracy and loss; `dataset`: the
        dataset's name; images read through the first member's inputs), and the first
        member's model card.

    Raises:
        ZooError: fewer than two members, members with different classes, or members that
            see different images.
    """
    from zoo.report import Evaluated, split_reader

    if len(runs) < 2:
        raise ZooError(f"an ensemble needs two or more run directories; got {len(runs)}")
    cards = [run.read_card() for run in runs]
    for run, card in zip(runs, cards, strict=True):
        if card.task == "boxes":
            raise ZooError(f"{run} is a box model (--task boxes): an ensemble averages class "
                           "probabilities, so its members are classifiers")
    first = cards[0]
    for run, card in zip(runs[1:], cards[1:], strict=True):
        names = card.names
        if names != first.names:
            raise ZooError(f"{run} was trained on classes {_short(names)} but {runs[0]} on "
                           f"{_short(first.names)}; an ensemble's members share their classes")
    outputs = []
    for run in runs:
        _, which, name, probs, y, reader = _member_probs(run, dataset, split, tta)
        if outputs:
            _, which0, name0, _, y0, _ = outputs[0]
            if (which, len(y)) != (which0, len(y0)) or not np.array_equal(y, y0):
                raise ZooError(f"{run} is evaluated on {len(y)} {which} images of {name} and "
                               f"{runs[0]} on {len(y0)} {which0} images of {name0}, not the "
                               "same ones; ensemble runs of the same dataset, --limit and "
                               "--seed (with --limit, the seed picks the images)")
        outputs.append((run, which, name, probs, y, reader))
    y = outputs[0][4]
    probs = ensemble_predictions([o[3] for o in outputs])
    members = []
    for run, _, _, member_probs, _, _ in outputs:
        result = evaluate_predictions(member_probs, y, first.names)
        members.append({"run": str(run.path.resolve()), "accuracy": result["accuracy"],
                        "top5_accuracy": result["top5_accuracy"], "loss": result["loss"]})
    read, describe = split_reader(*outputs[0][5])
    evaluated = Evaluated(probs, y, list(first.names), outputs[0][1], read, describe,
                          cam_note="an ensemble averages several models; each member's own "
                          "report shows where it looked", members=members,
                          dataset=outputs[0][2])
    return evaluated, first


def evaluate_ensemble(run_dirs: list, dataset: str | None = None, split: str = "test",
                      output=None, console=None, tta: str | None = None) -> dict:
    """Evaluate an ensemble of runs: the mean of their members' probabilities.

    Every member predicts on its own inputs (size, preprocessing and mean may differ); the
    images must be the same ones, in the same order, which the labels check.

    Args:
        run_dirs: two or more run directories (paths or `RunDir`s) trained on the same classes.
        dataset: evaluate on this dataset instead of the members' own. Defaults to `None`.
        split: `"test"` (falls back to validation when there is none) or `"val"`. Defaults
            to `"test"`.
        output: the directory to write metrics.json, classification_report.txt and
            confusion_matrix.png into. Defaults to `None` (`output/ensemble-YYYYmmdd-HHMMSS`).
        console: a rich console for the table of members and ensemble. Defaults to `None`.
        tta: test-time augmentation of every member, `"flip"` or `"crops"` (`zoo.tta`);
            recorded as `tta` in metrics.json. Defaults to `None` (none).

    Returns:
        The metrics written to metrics.json, with a `members` entry of each member's
        accuracy, top-5 accuracy and loss, plus `output`: the directory written.

    Raises:
        ZooError: fewer than two members, members with different classes, or members that
            see different images.
    """
    import time
    from pathlib import Path

    runs = [r if isinstance(r, RunDir) else RunDir.open(r) for r in run_dirs]
    evaluated, first = ensemble_members(runs, dataset, split, tta)
    probs, y, members = evaluated.probs, evaluated.labels, evaluated.members
    if output is None:
        output = Path("output") / time.strftime("ensemble-%Y%m%d-%H%M%S")
    output = Path(output)
    target = RunDir.create(output.parent, output.name)
    result = evaluate_predictions(probs, y, first.names)
    extra = {"split": evaluated.split, "dataset": evaluated.dataset, "members": members,
             "tta": tta}
    try:
        metrics = write_report(target, result, extra, first.names)
    except OSError as exc:
        target.discard_if_empty()
        raise from_os_error(exc, "write", exc.filename or target) from None
    from zoo.report import write_page

    write_page(target, evaluated)
    if console is not None:
        print_ensemble(metrics, console)
    return {**metrics, "output": str(target)}


def _short(names: list[str], most: int = 6) -> str:
    shown = ",".join(names[:most])
    return f"{len(names)} ({shown}{',...' if len(names) > most else ''})"


def print_ensemble(metrics: dict, console) -> None:
    """A table of each member's accuracy, top-5 accuracy and loss, and the ensemble's."""
    table = Table(title=f"ensemble of {len(metrics['members'])} on {metrics['dataset']} "
                  f"({metrics['split']}: {metrics['images']} images)", title_justify="left")
    table.add_column("model")
    for column in ("accuracy", "top5_accuracy", "loss"):
        table.add_column(column, justify="right")
    for member in metrics["members"]:
        table.add_row(member["run"], *(f"{member[k]:.4f}"
                                       for k in ("accuracy", "top5_accuracy", "loss")))
    table.add_row("ensemble", *(f"{metrics[k]:.4f}" for k in ("accuracy", "top5_accuracy",
                                                              "loss")), style="bold")
    console.print(table)


# ---------------------------------------------------------------------------------------------
# calibration


def _check_predictions(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """`probs` as an N x classes float array and `labels` as N integers, N at least one."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError("expected probabilities of shape (N, classes) and N labels. Received: "
                         f"probs.shape={probs.shape}, labels.shape={labels.shape}")
    if not len(labels):
        raise ValueError("calibration needs at least one prediction. Received: 0 images")
    return probs, labels.astype(np.int64)


def _calibration_bins(probs: np.ndarray, labels: np.ndarray, bins: int):
    """The binning behind both `expected_calibration_error` and `reliability`.

    Returns:
        `(edges, count, accuracy, confidence)`: `bins + 1` edges, the images per bin, and
        the mean accuracy and mean confidence per bin (NaN for an empty bin).
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer. Received: bins={bins!r}")
    probs, labels = _check_predictions(probs, labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bins are right-closed, ((m-1)/M, m/M], as in Guo et al.: searchsorted "left" finds the
    # first edge >= the confidence, so a confidence on an edge joins the bin below it. Edges
    # are compared, not `ceil(c * M)`, whose rounding would move a confidence of exactly 1/15
    # either way. A confidence of 0 (or a probability outside [0, 1]) is clipped into the
    # first (last) bin rather than dropped, so every image counts.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
    return edges, count, accuracy, mean_confidence


def _ece(count: np.ndarray, accuracy: np.ndarray, confidence: np.ndarray) -> float:
    filled = count > 0
    weights = count[filled] / count.sum()
    return float(np.sum(weights * np.abs(accuracy[filled] - confidence[filled])))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """The expected calibration error of Guo et al. 2017, "On Calibration of Modern Neural
    Networks": how far the model's confidence is from its accuracy, on average.

    An image's confidence is its largest probability and its prediction that class. The
    confidences are split into `bins` equal-width bins over (0, 1], bin `m` (from 1) holding
    the confidences in `((m-1)/M, m/M]` (a confidence of exactly 0 goes to the first bin);
    then `ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|`, where `acc` and `conf` are the
    mean accuracy and mean confidence of a bin. 0 is perfectly calibrated; an over-confident
    model has `conf > acc` in its bins.

    Args:
        probs: predicted probabilities, `N x classes`.
        labels: the `N` true classes, integers.
        bins: the number of bins `M`. Defaults to `15`, the paper's.

    Returns:
        The ECE, in [0, 1].

    Raises:
        ValueError: no images, shapes that do not match, or `bins` below 1.
    """
    _, count, accuracy, confidence = _calibration_bins(probs, labels, bins)
    return _ece(count, accuracy, confidence)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """The reliability table behind the reliability diagram: per confidence bin, how many
    images fell in it, their accuracy and their mean confidence (the binning of
    `expected_calibration_error`, which it also returns).

    Args:
        probs: predicted probabilities, `N x classes`.
        labels: the `N` true classes, integers.
        bins: the number of equal-width bins over (0, 1]. Defaults to `15`.

    Returns:
        A JSON-able dict: `edges` (`bins + 1` floats from 0 to 1), `count` (ints per bin),
        `accuracy` and `confidence` (floats per bin, `None` for an empty bin) and `ece`.

    Raises:
        ValueError: no images, shapes that do not match, or `bins` below 1.
    """
    edges, count, accuracy, confidence = _calibration_bins(probs, labels, bins)
    filled = count > 0
    return {
        "edges": [float(e) for e in edges],
        "count": [int(c) for c in count],
        "accuracy": [float(a) if f else None for a, f in zip(accuracy, filled, strict=True)],
        "confidence": [float(c) if f else None
                       for c, f in zip(confidence, filled, strict=True)],
        "ece": _ece(count, accuracy, confidence),
    }


# ---------------------------------------------------------------------------------------------
# what the model gets wrong


def top_losses(probs: np.ndarray, labels: np.ndarray, k: int = 24) -> np.ndarray:
    """The misclassified images the model is most sure of, like fastai's `top_losses`
    restricted to mistakes: the images to look at first.

    Args:
        probs: predicted probabilities, `N x classes`.
        labels: the `N` true classes, integers.
        k: the most indices to return. Defaults to `24`.

    Returns:
        The indices of at most `k` misclassified images, highest loss (`-log p(true class)`)
        first; equal losses keep index order. Fewer than `k` when there are fewer mistakes.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0. Received: k={k}")
    probs, labels = _check_predictions(probs, labels)
    wrong = np.flatnonzero(probs.argmax(axis=1) != labels)
    # Sorting by p(true) ascending is sorting by loss descending without taking logs, so a
    # probability of 0 (an infinite loss) needs no special case and equal losses stay equal.
    true_prob = probs[wrong, labels[wrong]]
    order = np.argsort(true_prob, kind="stable")
    return wrong[order[:k]]


def correct_examples(probs: np.ndarray, labels: np.ndarray,
                     per_class: int = 4) -> dict[int, np.ndarray]:
    """Correctly classified images of each class, most confident first: what the model
    thinks a class looks like, to set beside its mistakes.

    Args:
        probs: predicted probabilities, `N x classes`.
        labels: the `N` true classes, integers.
        per_class: the most images per class. Defaults to `4`.

    Returns:
        For every class index (`0` to `classes - 1`, all of them), the indices of up to
        `per_class` images of that class predicted as that class, by decreasing probability
        of it (equal probabilities keep index order); an empty array for a class never
        predicted right.
    """
    if per_class < 0:
        raise ValueError(f"per_class must be at least 0. Received: per_class={per_class}")
    probs, labels = _check_predictions(probs, labels)
    right = probs.argmax(axis=1) == labels
    examples = {}
    for c in range(probs.shape[1]):
        members = np.flatnonzero(right & (labels == c))
        order = np.argsort(-probs[members, c], kind="stable")
        examples[c] = members[order[:per_class]]
    return examples


def most_confused(confusion: np.ndarray, names: list[str],
                  most: int = 10) -> list[tuple[str, str, int]]:
    """The pairs of classes the model mixes up most, like fastai's `most_confused`.

    Args:
        confusion: the confusion matrix, rows the true class, columns the predicted one
            (scikit-learn's `confusion_matrix`).
        names: the class names, in index order.
        most: the most pairs to return. Defaults to `10`.

    Returns:
        `(true name, predicted name, count)` for the off-diagonal cells with a count above 0,
        by count descending, then by true index and predicted index.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape != (len(names), len(names)):
        raise ValueError("expected a square confusion matrix with one row per name. Received: "
                         f"shape {confusion.shape} for {len(names)} names")
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    rows, cols = np.nonzero(off > 0)  # row-major: already in (true, predicted) order
    order = np.argsort(-off[rows, cols], kind="stable")
    return [(names[rows[i]], names[cols[i]], int(off[rows[i], cols[i]])) for i in order[:most]]


def diagnose(train_error: float | None, val_error: float | None, test_error: float | None,
             bayes_error: float = 0.0, tolerance: float = 0.05) -> dict:
    """The bias/variance reading of a model's errors (Andrew Ng's course notes and
    "Machine Learning Yearning"): which gap to work on next.

    ==================  ==========================  ===========================================
    gap                 measured as                 when above `tolerance`
    ==================  ==========================  ===========================================
    avoidable bias      train - bayes               "high bias": underfit; a bigger model,
                                                    longer training, less regularization
    variance            val - train                 "high variance": overfit; more data,
                                                    augmentation, regularization
    validation overfit  test - val                  "validation overfit": tuned to the
                                                    validation set, or test data unlike it
    ==================  ==========================  ===========================================

    For example (errors, Bayes 0): train 0.01, val 0.11: high variance; train 0.15, val
    0.16: high bias; train 0.15, val 0.30: both; train 0.005, val 0.01: ok. A gap that an
    error given as `None` leaves unknown is `None` and counts as not high.

    Args:
        train_error: the error (1 - accuracy) on the training set, or `None`.
        val_error: the error on the validation set, or `None`.
        test_error: the error on the test set, or `None`.
        bayes_error: the lowest error reachable (human-level error is its usual proxy).
            Defaults to `0.0`.
        tolerance: the gap above which a gap counts as high. Defaults to `0.05`.

    Returns:
        `{"bias", "variance", "val_test_gap", "verdict"}`: the three gaps (floats or `None`)
        and the list of verdicts among `"high bias"`, `"high variance"` and
        `"validation overfit"`, in that order, or `["ok"]` when none is high.
    """
    def gap(high, low):
        return None if high is None or low is None else float(high) - float(low)

    bias = gap(train_error, bayes_error)
    variance = gap(val_error, train_error)
    val_test_gap = gap(test_error, val_error)
    verdict = [name for name, value in (("high bias", bias), ("high variance", variance),
                                        ("validation overfit", val_test_gap))
               if value is not None and value > tolerance]
    return {"bias": bias, "variance": variance, "val_test_gap": val_test_gap,
            "verdict": verdict or ["ok"]}
