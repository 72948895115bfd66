"""The report page of a boxes run: `RUN/report.html`, one self-contained file (images as data
URIs), written by `zoo train` and `zoo evaluate` after the evaluation and rebuilt by
`zoo report RUN`.

Its sections: the run at a glance (model, dataset, epochs, mean IoU, IoU >= 0.5 and >= 0.75,
class accuracy, loss, time, skipped rows), the curves (loss and mean IoU per epoch), the
per-class table (worst mean IoU first), and two galleries: the images with the lowest IoU and
some with the highest, the true box in green and the predicted one in red, in the image's own
pixels.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

WORST = 16
BEST = 8
THUMBNAIL = 128


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _thumbnail(row: dict) -> str:
    """The image of `row` (box_predictions.csv's) with its true box (green) and predicted box
    (red), enlarged to about `THUMBNAIL` pixels, as a data URI."""
    import cv2

    from zoo.data.images import read_image

    image = np.ascontiguousarray(read_image(row["file"], 3))
    scale = max(1.0, THUMBNAIL / max(image.shape[:2]))
    if scale > 1:
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_NEAREST)
    for prefix, colour in (("true", (0, 200, 0)), ("pred", (230, 0, 0))):
        x1, y1, x2, y2 = (float(row[f"{prefix}_{c}"]) * scale for c in ("x1", "y1", "x2", "y2"))
        cv2.rectangle(image, (round(x1), round(y1)), (max(round(x1), round(x2) - 1),
                                                      max(round(y1), round(y2) - 1)), colour, 1)
    ok, png = cv2.imencode(".png", image[..., ::-1])  # OpenCV writes BGR
    return _data_uri(png.tobytes()) if ok else ""


def _curves(history: list[dict], title: str) -> str:
    from zoo.plots import plot_training_curves

    if not history:
        return ""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = plot_training_curves(history, Path(tmp) / "curves.png", title=title)
        return _data_uri(path.read_bytes())


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _gallery(rows: list[dict], title: str) -> str:
    items = []
    for row in rows:
        said = f"IoU {float(row['iou']):.3f}"
        if "label" in row:
            said += f"<br>{html.escape(row['label'])} &rarr; {html.escape(row['predicted'])}"
        items.append(f'<figure><img src="{_thumbnail(row)}" alt="{html.escape(row["file"])}">'
                     f'<figcaption>{said}<br><small>{html.escape(Path(row["file"]).name)}'
                     '</small></figcaption></figure>')
    return f"<h2>{html.escape(title)}</h2><div class=gallery>{''.join(items)}</div>"


def render_box_page(run, metrics: dict, rows: list[dict], history: list[dict]) -> str:
    """The page's HTML: glance, curves, per-class table and galleries."""
    glance_keys = ("model", "dataset", "split", "images", "epochs", "mean_iou", "iou50",
                   "iou75", "class_accuracy", "loss", "box_loss", "train_seconds",
                   "images_per_second", "skipped_files")
    glance = "".join(f"<tr><th>{key}</th><td>{_fmt(metrics[key])}</td></tr>"
                     for key in glance_keys if metrics.get(key) is not None)
    per_class = sorted(metrics.get("per_class", {}).items(),
                       key=lambda item: item[1].get("mean_iou", 0))
    columns = ("count", "mean_iou", "iou50", "iou75", "class_accuracy")
    shown = [c for c in columns if any(c in v for _, v in per_class)]
    table = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td>{_fmt(values.get(c, ''))}</td>" for c in shown) + "</tr>"
        for name, values in per_class)
    by_iou = sorted(rows, key=lambda row: float(row["iou"]))
    curves = _curves(history, run.name)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(run.name)}: boxes report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 0.6em; }}
figure {{ margin: 0; text-align: center; font-size: 0.85em; }}
</style></head><body>
<h1>{html.escape(run.name)}: one box per image</h1>
<p>True boxes in green, predicted in red, in each image's own pixels.</p>
<h2>At a glance</h2><table>{glance}</table>
{f'<h2>Curves</h2><img src="{curves}" alt="loss and mean IoU per epoch">' if curves else ''}
<h2>Per class</h2><table><tr><th>class</th>{''.join(f'<th>{c}</th>' for c in shown)}</tr>
{table}</table>
{_gallery(by_iou[:WORST], f'The {min(WORST, len(by_iou))} lowest IoUs')}
{_gallery(by_iou[::-1][:BEST], f'The {min(BEST, len(by_iou))} highest IoUs')}
</body></html>
"""


def write_box_page(run, metrics: dict, rows: list[dict],
                   output: str | Path | None = None) -> Path:
    """Write the page of `run` (`metrics` and the `rows` of box_predictions.csv) to `output`
    (default RUN/report.html), atomically."""
    from zoo.io import write_text
    from zoo.report import REPORT_HTML

    history = run.read_history()
    target = Path(output) if output else run.path / REPORT_HTML
    write_text(target, render_box_page(run, metrics, rows, history))
    return target


def report_box_run(run, output: str | Path | None = None, dataset: str | None = None,
                   split: str = "test") -> Path:
    """`zoo report` of a boxes run: predict again, then write the page (metrics.json is left
    as it is)."""
    from zoo.boxes.evaluation import evaluate_boxes_run

    metrics, rows = evaluate_boxes_run(run, dataset, split, write=False)
    return write_box_page(run, {**run.read_metrics(), **metrics}, rows, output)
