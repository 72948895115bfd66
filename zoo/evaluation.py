"""Evaluation: top-1/top-5 accuracy, loss, the per-class report and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.io import write_json, write_text


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def evaluate_predictions(probs: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict:
    """Metrics of predicted probabilities `probs` (N x classes) against integer `labels`."""
    from sklearn.metrics import classification_report, confusion_matrix

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
        "report_text": text,
        "confusion": confusion_matrix(labels, predicted, labels=classes),
    }


def write_report(run_dir: Path, result: dict, extra: dict, label_names: list[str]) -> dict:
    """Write metrics.json, classification_report.txt and confusion_matrix.png into `run_dir`."""
    from zoo.plots import plot_confusion_matrix

    run_dir = Path(run_dir)
    metrics = {k: v for k, v in result.items() if k not in ("report_text", "confusion")}
    metrics = {**metrics, **extra}
    write_json(run_dir / "metrics.json", metrics)
    write_text(run_dir / "classification_report.txt", result["report_text"])
    plot_confusion_matrix(result["confusion"], label_names, run_dir / "confusion_matrix.png",
                          title=f"{run_dir.name} ({extra.get('split', 'test')})")
    return metrics


def print_summary(metrics: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"{metrics.get('split', 'test')}: {metrics['images']} images",
                  title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("accuracy", "top5_accuracy", "loss"):
        table.add_row(key, f"{metrics[key]:.4f}")
    for key in ("epochs", "train_seconds", "images_per_second"):
        if metrics.get(key) is not None:
            value = metrics[key]
            table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    console.print(table)
