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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    """Write a figure atomically and release it."""
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    _pyplot().close(fig)
    return path


def plot_training_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, train and validation, with the learning rate beneath."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    has_lr = any("lr" in row for row in history)
    fig, axes = plt.subplots(3 if has_lr else 2, 1, figsize=(8, 9 if has_lr else 7),
                             sharex=True, height_ratios=[3, 3, 1.4] if has_lr else [1, 1])
    # a boxes run (issue 19, zoo.boxes) has no accuracy: its second panel is the mean IoU
    boxes = any("iou" in row for row in history) and not any("accuracy" in row
                                                            for row in history)
    for ax, metric in zip(axes, ("loss", "iou" if boxes else "accuracy"), strict=False):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            values = [row.get(key, float("nan")) for row in history]
            if any(v == v for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3,
                        label="validation" if prefix else "train")
        ax.set_ylabel("mean IoU" if metric == "iou" else metric)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    if has_lr:
        axes[2].plot(epochs, [row.get("lr", float("nan")) for row in history], color="tab:green",
                     marker="o", markersize=3)
        axes[2].set_ylabel("learning rate")
        axes[2].grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("epoch")
    axes[0].set_title(title or "training")
    return _save(fig, path)


def plot_confusion_matrix(matrix, labels: list[str], path: str | Path, title: str = "",
                          normalize: bool = False) -> Path:
    """The confusion matrix as an image, rows = true class, columns = predicted: counts, or
    with `normalize` each row divided by its total (the fraction of a class predicted as each
    class: the recall on the diagonal)."""
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    n = len(labels)
    size = min(4 + 0.45 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size))
    if normalize:
        matrix = np.asarray(matrix, dtype=np.float64)
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    display = ConfusionMatrixDisplay(matrix, display_labels=labels)
    display.plot(ax=ax, cmap="Blues", colorbar=n <= 30, include_values=n <= 30,
                 xticks_rotation="vertical", values_format=".2f" if normalize else "d")
    ax.set_title(title or "confusion matrix")
    return _save(fig, path)


def plot_reliability(rel: dict, path: str | Path, title: str = "") -> Path:
    """The reliability diagram (Guo et al. 2017): accuracy per confidence bin against the
    diagonal of perfect calibration, the gap to each bin's mean confidence shaded, and
    beneath it the number of images per bin.

    Args:
        rel: the table of `zoo.evaluation.reliability`.
        path: the image file (.png, .svg or .pdf).
        title: the figure's title. Defaults to `"reliability"`.

    Returns:
        `path`, written atomically.
    """
    plt = _pyplot()
    edges = rel["edges"]
    lefts = edges[:-1]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    # An empty bin has no accuracy: it draws nothing rather than a bar at 0.
    filled = [i for i, c in enumerate(rel["count"]) if c]
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5, 4.5), sharex=True,
                                     height_ratios=[3, 1])
    ax.bar([lefts[i] for i in filled], [rel["accuracy"][i] for i in filled],
           width=[widths[i] for i in filled], align="edge", color="tab:blue",
           edgecolor="black", linewidth=0.5, label="accuracy")
    # The gap runs from the accuracy to the mean confidence: above the bar when the model
    # is over-confident, inside it when under-confident.
    ax.bar([lefts[i] for i in filled],
           [rel["confidence"][i] - rel["accuracy"][i] for i in filled],
           bottom=[rel["accuracy"][i] for i in filled], width=[widths[i] for i in filled],
           align="edge", color="tab:red", alpha=0.3, edgecolor="tab:red", hatch="//",
           linewidth=0.5, label="gap to confidence")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8, title=f"ECE {rel['ece']:.4f}", title_fontsize=8)
    ax.set_title(title or "reliability")
    counts.bar(lefts, rel["count"], width=widths, align="edge", color="gray",
               edgecolor="black", linewidth=0.5)
    counts.set_xlabel("confidence (largest probability)")
    counts.set_ylabel("images")
    return _save(fig, path)


def plot_confidence_histogram(probs, labels, path: str | Path, title: str = "") -> Path:
    """Histograms of the confidence (largest probability) of correct and of wrong
    predictions: a well-separated pair means the confidence says when to trust the model.

    Args:
        probs: predicted probabilities, `N x classes`.
        labels: the `N` true classes, integers.
        path: the image file (.png, .svg or .pdf).
        title: the figure's title. Defaults to `"confidence"`.

    Returns:
        `path`, written atomically.
    """
    import numpy as np

    plt = _pyplot()
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    fig, ax = plt.subplots(figsize=(5, 4.5))
    bins = np.linspace(0, 1, 21)
    for mask, name, color in ((right, "correct", "tab:blue"), (~right, "wrong", "tab:red")):
        ax.hist(confidence[mask], bins=bins, alpha=0.6, color=color, edgecolor="black",
                linewidth=0.5, label=f"{name} ({int(mask.sum())})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (largest probability)")
    ax.set_ylabel("images")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or "confidence")
    return _save(fig, path)


def plot_benchmark(records: list[dict], path: str | Path, title: str = "") -> Path:
    """Throughput against forward GFLOPs per image, one labelled point per model.

    Args:
        records: records of `zoo.benchmark.benchmark_model`.
        path: the image file (.png, .svg or .pdf).
        title: the figure's title.

    Returns:
        `path`, written atomically.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    series = [("inference", lambda r: r["inference"][-1] if r["inference"] else None, "o")]
    if any(r.get("train") for r in records):
        series.append(("training", lambda r: r.get("train"), "s"))
    xs_all, ys_all = [], []
    for label, entry_of, marker in series:
        points = [(r, entry_of(r)) for r in records if entry_of(r)]
        if not points:
            continue
        batch = max(e["batch_size"] for _, e in points)
        xs = [r["gflops"] for r, _ in points]
        ys = [e["images_per_s"]["median"] for _, e in points]
        lows = [y - e["images_per_s"]["min"] for y, (_, e) in zip(ys, points, strict=True)]
        highs = [e["images_per_s"]["max"] - y for y, (_, e) in zip(ys, points, strict=True)]
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt=marker, capsize=3,
                    label=f"{label} (batch {batch}; median, min-max)")
        for (r, _), x, y in zip(points, xs, ys, strict=True):
            label = r["model"] if r.get("format", "keras") == "keras" else (
                f"{r['model']} ({r['format']})")
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
        xs_all += xs
        ys_all += ys
    # Log axes where the figures span orders of magnitude and are all positive.
    for values, set_scale in ((xs_all, ax.set_xscale), (ys_all, ax.set_yscale)):
        if values and min(values) > 0 and max(values) / min(values) > 10:
            set_scale("log")
    ax.set_xlabel("forward GFLOPs per image")
    ax.set_ylabel("images / s")
    ax.grid(alpha=0.3, which="both")
    if xs_all:
        ax.legend(loc="best")
    ax.set_title(title or "throughput against compute")
    return _save(fig, path)


def plot_compared_runs(histories: dict[str, list[dict]], path: str | Path,
                       title: str = "") -> Path:
    """Several runs' curves overlaid, one colour per run (`zoo compare`): loss and accuracy
    per epoch (train solid, validation dashed) and the learning rate (log scale), with one
    legend beside them.

    Args:
        histories: `{run name: history.json rows}`; a run without rows draws nothing.
        path: the image to write (.png, .svg or .pdf).
        title: the figure's title. Defaults to `""` ("N runs").
    Returns:
        `path`.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(3, 1, figsize=(10, 10), sharex=True, height_ratios=[3, 3, 1.6])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = {0: False, 1: False, 2: False}
    handles = []
    rows = [row for history in histories.values() for row in history]
    # box runs (--task boxes) have a mean IoU where classifiers have an accuracy
    second = "iou" if any("iou" in r for r in rows) and not any("accuracy" in r
                                                              for r in rows) else "accuracy"
    for i, (name, history) in enumerate(histories.items()):
        colour = colours[i % len(colours)]
        if history:  # a features run or an ensemble has no curve to name
            handles.append(Line2D([], [], color=colour, marker="o", markersize=3, label=name))
        epochs = [row.get("epoch", n + 1) for n, row in enumerate(history)]
        for ax_index, metric in enumerate(("loss", second)):
            for prefix, style in (("", "-"), ("val_", "--")):
                values = [_finite(row.get(prefix + metric)) for row in history]
                if any(v == v for v in values):
                    axes[ax_index].plot(epochs, values, style, color=colour, marker="o",
                                        markersize=2.5)
                    drawn[ax_index] = True
        rates = [_finite(row.get("lr")) for row in history]
        if any(v == v and v > 0 for v in rates):
            axes[2].plot(epochs, rates, color=colour, marker="o", markersize=2.5)
            drawn[2] = True
    for ax_index, label in enumerate(("loss", "mean IoU" if second == "iou" else "accuracy",
                                      "learning rate")):
        ax = axes[ax_index]
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if not drawn[ax_index]:
            ax.text(0.5, 0.5, f"no {label} recorded", ha="center", va="center",
                    transform=ax.transAxes, color="gray")
    if drawn[2]:
        axes[2].set_yscale("log")
    # one legend for the three panels, outside them, so that no curve hides behind it
    handles += [Line2D([], [], color="gray", linestyle="-", label="train"),
                Line2D([], [], color="gray", linestyle="--", label="validation")]
    axes[0].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                   fontsize=9, frameon=False)
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("epoch")
    axes[0].set_title(title or f"{len(histories)} runs")
    return _save(fig, path)


def _finite(value) -> float:
    """`value` as a float to plot, NaN (a gap) where it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float("nan")
    return float(value)


def plot_gradcam(image, cam, overlay, title: str, path: str | Path) -> Path:
    """One image's Grad-CAM (`zoo explain`) in three panels: the image as the model saw it,
    the heat map, the map over the image.

    Args:
        image: uint8 `H x W x 3` RGB, or grey `H x W` / `H x W x 1`.
        cam: the map in [0, 1], any resolution: drawn over the image's extent in jet.
        overlay: the map blended over the image (`zoo.gradcam.overlay`), uint8 `H x W x 3`.
        title: the figure's title (the class explained, the top classes).
        path: the image to write (.png, .svg or .pdf).
    """
    import numpy as np

    plt = _pyplot()
    image = np.asarray(image)
    grey = image.ndim == 2 or image.shape[-1] == 1
    height, width = image.shape[:2]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6))
    axes[0].imshow(image.reshape(height, width) if grey else image,
                   cmap="gray" if grey else None, vmin=0, vmax=255, interpolation="nearest")
    heat = axes[1].imshow(cam, cmap="jet", vmin=0, vmax=1, extent=(0, width, height, 0),
                          interpolation="nearest")
    fig.colorbar(heat, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(overlay, interpolation="nearest")
    for ax, label in zip(axes, ("image", "Grad-CAM", "overlay"), strict=True):
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_lr_find(finding, path: str | Path, title: str = "") -> Path:
    """The learning-rate range test (`zoo lr-find`, `zoo train --lr auto`): the smoothed loss
    against the rate on a log axis, each step's loss faint behind it, and the two
    suggestions as labelled vertical lines (fastai's `Recorder.plot_lr_find`, with both
    marks).

    Args:
        finding: a `zoo.training.lr_finder.LRFinding` (`lrs`, `losses`, `smoothed`,
            `suggested_lr`, `valley_lr`).
        path: the image to write (.png, .svg or .pdf).
        title: the figure's title. Defaults to `""` ("learning-rate range test").
    Returns:
        `path`.
    """
    import numpy as np

    plt = _pyplot()
    lrs = np.asarray(finding.lrs, float)
    raw = np.asarray(finding.losses, float)
    smoothed = np.asarray(finding.smoothed, float)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(lrs, raw, color="tab:blue", alpha=0.25, linewidth=1, label="loss of each step")
    ax.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="smoothed loss")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    # the y range: the smoothed curve down to its minimum, and half as much again above for
    # the rise after it (its divergence would squash the descent the suggestions are about),
    # down to where most steps' losses are (one lucky batch would squash it too)
    finite = np.isfinite(smoothed)
    if finite.any():
        best = int(np.nanargmin(np.where(finite, smoothed, np.nan)))
        descent = smoothed[:best + 1][finite[:best + 1]]
        low, high = float(descent.min()), float(descent.max())
        high += 0.5 * (high - low)
        steps = raw[np.isfinite(raw)]
        if len(steps):
            low = min(low, float(np.percentile(steps, 10)))
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.1
        ax.set_ylim(low - pad, high + pad)
    marks = (("steepest descent", finding.suggested_lr, "tab:red", "--"),
             ("valley", finding.valley_lr, "tab:green", "-."))
    for name, lr, colour, style in marks:
        if lr is not None:
            ax.axvline(lr, color=colour, linestyle=style, linewidth=1.5,
                       label=f"{name}: {lr:.2e}")
    ax.legend(loc="best", fontsize=9)
    ax.set_title(title or "learning-rate range test")
    return _save(fig, path)
