"""`zoo predict` of a boxes model (a run of `--task boxes`, or its export): each image's box in
its own pixels and its class, printed, as JSON lines, and drawn on copies (`--output DIR`).

An image is decoded by `zoo.data.images` at its own size, letter-boxed to the model's input as
in training (`zoo.boxes.geometry.Letterbox`), and the predicted box is mapped back through the
same letter-box into the image's pixels (edge coordinates, clipped to the image).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.boxes.geometry import Letterbox


@dataclass(frozen=True)
class BoxPrediction:
    """One image's box (its own pixels, x1 y1 x2 y2) and, with a class head, its class."""

    image: str
    model: str
    size: tuple[int, int]  # (width, height) of the image
    box: tuple[float, float, float, float]
    label: str | None = None
    index: int | None = None
    probability: float | None = None

    def to_json(self) -> dict:
        x1, y1, x2, y2 = (round(float(v), 2) for v in self.box)
        result = {"image": self.image, "model": self.model,
                  "width": self.size[0], "height": self.size[1],
                  "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}}
        if self.label is not None:
            result.update(label=self.label, index=self.index, probability=self.probability)
        return result


def read_for_boxes(path: str, shape) -> tuple[np.ndarray, Letterbox]:
    """The image `path` letter-boxed to `shape` (H, W, C), as 0-255 float32, and the
    letter-box that put it there.

    Raises:
        UnreadableImage: the file is not a readable image.
    """
    from zoo.data.images import read_image

    height, width, channels = shape
    image = read_image(path, 1 if channels == 1 else 3)
    box = Letterbox.of(image.shape[0], image.shape[1], (height, width))
    return box.apply(image).astype(np.float32), box


def predict_box_images(predictor, paths: Sequence[str], batch_size: int = 32,
                       output: str | Path | None = None) -> Iterator:
    """A `BoxPrediction` per readable image of `paths` and a `zoo.predict.loop.Skipped` per
    unreadable one, `batch_size` at a time; with `output`, a copy of each image with its box
    and class drawn, written there (`draw_box`)."""
    from zoo.data.images import UnreadableImage
    from zoo.predict.loop import Skipped

    card = predictor.card
    names = None
    if output is not None:
        from zoo.predict.annotate import AnnotationNames

        names = AnnotationNames(Path(output))
    classes = card.outputs - 4
    for start in range(0, len(paths), batch_size):
        ready = []
        for path in paths[start : start + batch_size]:
            try:
                ready.append((str(path), *read_for_boxes(str(path), card.input_shape)))
            except UnreadableImage as exc:
                yield Skipped(str(path), str(exc))
        if not ready:
            continue
        outputs = predictor.predict(np.stack([image for _, image, _ in ready]), batch_size)
        for (path, _, letterbox), out in zip(ready, outputs, strict=True):
            box = tuple(float(v) for v in letterbox.to_image(out[:4]))
            facts = {}
            if classes:
                index = int(np.argmax(out[4:]))
                facts = dict(label=card.names[index], index=index,
                             probability=round(float(out[4 + index]), 6))
            result = BoxPrediction(path, predictor.name, (letterbox.width, letterbox.height),
                                   box, **facts)
            yield result
            if names is not None:
                draw_box(path, result, names(path))


def draw_box(source: str, prediction: BoxPrediction, target: str | Path) -> Path:
    """Write `target`: a copy of the image with the predicted box, and its class and
    probability when there are classes, drawn on it; written atomically."""
    import cv2

    from zoo.data.images import read_image
    from zoo.predict.annotate import save_copy

    image = np.ascontiguousarray(read_image(source, 3))  # RGB: the colours below are RGB
    x1, y1, x2, y2 = prediction.box
    thickness = max(1, round(max(image.shape[:2]) / 200))
    # edge coordinates -> the first and last pixel inside the box
    left, top, right, bottom = (int(round(v)) for v in (x1, y1, x2, y2))
    cv2.rectangle(image, (left, top), (max(left, right - 1), max(top, bottom - 1)), (0, 255, 0),
                  thickness)
    if prediction.label is not None:
        text = f"{prediction.label}: {prediction.probability * 100:.1f}%"
        scale = max(0.3, image.shape[1] / 640)
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, int(round(y1)) - h - base - 2)
        cv2.rectangle(image, (int(round(x1)), top), (int(round(x1)) + w + 2, top + h + base + 2),
                      (0, 0, 0), -1)
        cv2.putText(image, text, (int(round(x1)) + 1, top + h + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 255, 0), 1, cv2.LINE_AA)
    return save_copy(image, target)


def show_box_prediction(result: dict, as_json: bool, out) -> None:
    """Print one image's result: a JSON line, or a line of text."""
    import json

    if as_json:
        print(json.dumps(result), flush=True)
        return
    box = result["box"]
    said = f"{result['image']} ({result['model']}): box x1={box['x1']:g} y1={box['y1']:g} " \
           f"x2={box['x2']:g} y2={box['y2']:g} of {result['width']}x{result['height']}"
    if "label" in result:
        said += f", {result['label']} {result['probability'] * 100:.1f}%"
    out.print(said, highlight=False, soft_wrap=True)
