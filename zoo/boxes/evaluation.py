"""The evaluation of a boxes run: metrics.json, box_predictions.csv and the summary.

metrics.json of a boxes run holds (besides the training facts every run records):

    mean_iou        the mean IoU of the predicted box with the true one
    iou50, iou75    the fraction of images whose IoU is at least 0.5, at least 0.75
    class_accuracy  the fraction whose class is right (with two classes or more), else absent
    loss            the run's loss (box loss plus cross-entropy), mean over the images
    per_class       {class: {"mean_iou", "iou50", "count"[, "class_accuracy"]}}
    split, images, task ("boxes"), box_loss

IoU is measured in the original image's pixels, after the letter-box is undone (a predicted
box reaching into the bars is cut at the image's edge, as `zoo predict` reports it).
"""

from __future__ import annotations

import csv
import io
import logging
import math

import numpy as np

from zoo.boxes.geometry import iou
from zoo.boxes.pipeline import class_outputs, load_box_batch
from zoo.errors import ZooError, from_os_error

log = logging.getLogger("zoo")

THRESHOLDS = (0.5, 0.75)


def predict_boxes(model, split, transform, num_classes: int, batch_size: int = 128):
    """The model's outputs for every readable image of `split`, the targets and the source
    indices: `(outputs N x (4 + K), targets N x (4 + K), index N)`."""
    outputs, targets, index = [], [], []
    for start in range(0, len(split), batch_size):
        chunk = split.indices[start : start + batch_size]
        x, y, kept = load_box_batch(split, chunk, transform, num_classes)
        if len(x):
            outputs.append(np.asarray(model.predict_on_batch(x), dtype=np.float64))
            targets.append(y)
            index.append(kept)
    if not outputs:
        k = 4 + class_outputs(num_classes)
        return np.zeros((0, k)), np.zeros((0, k)), np.zeros(0, np.int64)
    return np.concatenate(outputs), np.concatenate(targets), np.concatenate(index)


def box_scores(true_boxes: np.ndarray, pred_boxes: np.ndarray, labels: np.ndarray | None = None,
               predicted: np.ndarray | None = None) -> dict:
    """mean_iou, iou50, iou75 (and class_accuracy when `labels` and `predicted` are given) of
    boxes `(N, 4)` in one frame."""
    scores = iou(true_boxes, pred_boxes)
    result = {"mean_iou": float(scores.mean()) if len(scores) else 0.0}
    for threshold in THRESHOLDS:
        key = f"iou{round(threshold * 100)}"
        result[key] = float((scores >= threshold).mean()) if len(scores) else 0.0
    if labels is not None and predicted is not None:
        result["class_accuracy"] = float((labels == predicted).mean()) if len(labels) else 0.0
    return result


def _loss(outputs: np.ndarray, targets: np.ndarray, box_loss: str, classes: int) -> float:
    from zoo.boxes.model import BoxLoss

    loss = BoxLoss(box_loss, classes)
    return float(np.mean(np.asarray(loss.call(targets.astype(np.float32),
                                              outputs.astype(np.float32)))))


def evaluate_boxes(model, split, transform, label_names: list[str], box_loss: str = "mse"):
    """Evaluate `model` on `split` (a `BoxSource` split).

    Returns:
        `(metrics, rows)`: the metrics of metrics.json (no training facts) and one dict per
        image for box_predictions.csv (boxes in the original image's pixels).
    """
    from zoo.boxes.annotations import box_source

    source = box_source(split.source)
    k = class_outputs(len(label_names))
    outputs, targets, index = predict_boxes(model, split, transform, len(label_names))
    true_px = source.boxes[index]
    pred_px = np.stack([source.letterbox(i).to_image(box)
                        for i, box in zip(index, outputs[:, :4], strict=True)]) \
        if len(index) else np.zeros((0, 4))
    labels = split.source.labels[index]
    predicted = outputs[:, 4:].argmax(axis=1) if k else None
    metrics = box_scores(true_px, pred_px, labels if k else None, predicted)
    metrics["loss"] = _loss(outputs, targets, box_loss, k) if len(index) else float("nan")
    scores = iou(true_px, pred_px)
    per_class = {}
    for c, name in enumerate(label_names):
        rows = labels == c
        if rows.any():
            entry = box_scores(true_px[rows], pred_px[rows],
                               labels[rows] if k else None,
                               predicted[rows] if k else None)
            entry["count"] = int(rows.sum())
            per_class[name] = {key: round(v, 4) if isinstance(v, float) else v
                               for key, v in entry.items()}
    metrics["per_class"] = per_class
    metrics["images"] = len(index)
    rows = []
    for j, i in enumerate(index):
        row = {"file": source.paths[i],
               **{f"true_{c}": round(float(v), 2) for c, v in zip("x1 y1 x2 y2".split(),
                                                                   true_px[j], strict=True)},
               **{f"pred_{c}": round(float(v), 2) for c, v in zip("x1 y1 x2 y2".split(),
                                                                   pred_px[j], strict=True)},
               "iou": round(float(scores[j]), 4)}
        if k:
            row.update(label=label_names[labels[j]], predicted=label_names[predicted[j]],
                       probability=round(float(outputs[j, 4 + predicted[j]]), 4))
        rows.append(row)
    return metrics, rows


def _rows_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def match_classes(inputs, model_names: list[str], where: str) -> None:
    """Renumber the labels of another `boxes:` set (`inputs`, unsampled) into the order of
    the model's classes `model_names`, by name: the set may hold fewer classes, or another
    order, than the model was trained on. A model without a class head ignores the labels.

    Raises:
        ZooError: the model has a class head and the set names a class it does not know, or
            none at all.
    """
    from zoo.boxes.annotations import UNLABELLED

    source = inputs.splits.train.source
    labels = np.asarray(source.labels, dtype=np.int64)
    if not class_outputs(len(model_names)):  # one box, no class: any labels play no part
        source.labels = np.zeros_like(labels)
        return
    names = list(inputs.splits.label_names)
    if names == [UNLABELLED] and UNLABELLED not in model_names:
        raise ZooError(f"{inputs.splits.name} names no classes; the model of {where} tells "
                       f"{len(model_names)} apart: give annotations with a label column")
    unknown = [name for name in names if name not in model_names]
    if unknown:
        raise ZooError(f"{inputs.splits.name}: the model of {where} was not trained on the "
                       f"classes {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} "
                       f"(it knows {', '.join(model_names[:10])})")
    mapping = np.array([model_names.index(name) for name in names], dtype=np.int64)
    source.labels = mapping[labels]


def evaluate_boxes_run(run, dataset: str | None = None, split: str = "test", inputs=None,
                       extra: dict | None = None, console=None, page: bool | dict = True,
                       write: bool = True):
    """`zoo.evaluation.evaluate_run` for a run of `--task boxes`: evaluate its best model and
    write metrics.json, box_predictions.csv, the skipped list and (with `page`) the report
    page, report.html (`zoo.boxes.report`), into it.

    With `dataset` (another `boxes:` set with the same classes) every image of it is
    evaluated (split `all`), since a separate set has nothing to hold out.

    Returns:
        The metrics written; with `write=False` nothing is written and the result is
        `(metrics, rows of box_predictions.csv)` (`zoo report`).
    """
    import zoo.boxes.model  # noqa: F401  (registers the box loss and metrics)
    from zoo.config import Config
    from zoo.evaluation import best_model, run_inputs
    from zoo.io import write_text

    labels = run.read_card()
    config = Config(run.read_config())
    if inputs is None:
        if dataset:  # a separate set: all of it is evaluated, nothing is held out
            from zoo.inputs import prepare

            # all of it: none of the run's sampling (--classes, --limit, --per-class) applies
            inputs = prepare(config.replace(dataset=dataset, val_split=0.0, class_weight=None,
                                            classes=None, limit=None, per_class=None),
                             mean=labels.mean, preprocessing=labels.preprocessing)
            match_classes(inputs, list(labels.names), str(run))
        else:
            inputs = run_inputs(run, labels)
        saved = run.read_metrics()
        extra = {k: saved.get(k) for k in ("epochs", "train_seconds", "images_per_second",
                                           "stopped", "model")}
        extra["dataset"] = inputs.splits.name
    model = best_model(run, "try a lower --lr")
    if dataset:
        from zoo.data.splits import Split

        splits = inputs.splits
        parts = [s for s in (splits.train, splits.val, splits.test) if s is not None]
        which = "all"
        chosen = Split(parts[0].source, np.sort(np.concatenate([s.indices for s in parts])))
    else:
        which, chosen = inputs.splits.eval_split(split)
    metrics, rows = evaluate_boxes(model, chosen, inputs.eval_transform, list(labels.names),
                                   config.get("box_loss", "mse"))
    skipped = {**run.read_skipped(), **inputs.skipped_files()}
    if not write:
        return {**metrics, "split": which, "skipped_files": len(skipped)}, rows
    try:
        if skipped:
            run.write_skipped(skipped)
            log.warning("skipped %d annotation rows or files; the list is in %s", len(skipped),
                        run.skipped_file)
        if not metrics["images"]:
            raise ZooError(f"{inputs.splits.name}: no readable images in the {which} split")
        metrics = {**metrics, **(extra or {}), "split": which, "task": "boxes",
                   "box_loss": config.get("box_loss", "mse"), "skipped_files": len(skipped)}
        run.write_metrics(metrics)
        write_text(run.path / BOX_PREDICTIONS, _rows_csv(rows))
    except OSError as exc:
        raise from_os_error(exc, "write", exc.filename or run,
                            then=f"'zoo evaluate {run}' writes the report") from None
    if page:
        from zoo.boxes.report import write_box_page
        from zoo.errors import first_line

        try:  # the metrics are written: a page that fails is a warning, as for classifiers
            write_box_page(run, metrics, rows)
        except Exception as exc:  # noqa: BLE001
            log.warning("the report page was not written (%s); 'zoo report %s' tries again",
                        first_line(exc), run)
    if console is not None:
        print_box_summary(metrics, console)
    if not math.isfinite(metrics["loss"]):
        log.warning("the evaluation loss is not finite")
    return metrics


BOX_PREDICTIONS = "box_predictions.csv"


def print_box_summary(metrics: dict, console) -> None:
    from zoo.evaluation import print_summary

    print_summary(metrics, console, ("mean_iou", "iou50", "iou75", "class_accuracy", "loss"))
