"""`zoo explain`: Grad-CAM heat maps of where a model found its class (`zoo.gradcam`).

The model and the images are read as `zoo predict` reads them (`zoo.predict.loaders`,
`zoo.predict.loop`): the same `--model` kinds, the card's preprocessing, unreadable images
skipped with a warning. Each image gets one PNG, `DIR/<stem>_gradcam.png`: the image as the
model saw it | the heat map | the map over the image, the top classes in the title.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zoo.choices import DEVICES
from zoo.commands._common import Formatter, add_crop_flag, at_least, crop_of, load_keras
from zoo.errors import ZooError, ZooRuntimeError

DEFAULT_OUTPUT = "output/explain"


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="Grad-CAM heat maps: where in each image a model found "
                       "its class", formatter_class=Formatter)
    p.add_argument("--image", nargs="+", required=True, metavar="PATH",
                   help="image files, directories or globs")
    p.add_argument("--model", required=True,
                   help="a run directory, a .keras file, or an ImageNet model name "
                   "('zoo models --pretrained')")
    p.add_argument("--weights", metavar="FILE", help="local .h5/.weights.h5 weights file")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="explain this class (a name of the model's labels) instead of each "
                   "image's top class")
    p.add_argument("--layer", metavar="NAME",
                   help="the layer to explain; when not given, the last convolution's output "
                   "or what follows it at its resolution (activation, batch norm)")
    p.add_argument("--output", metavar="DIR", default=DEFAULT_OUTPUT,
                   help="where the PNGs are written, one per image")
    p.add_argument("--json", action="store_true",
                   help="print one JSON list, an object per image, and nothing else")
    p.add_argument("--top", type=int, default=5, metavar="K",
                   help="how many of the top classes the title and the JSON show")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where the model runs")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per batch")
    add_crop_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    at_least("--top", args.top)
    at_least("--batch-size", args.batch_size)
    from zoo.predict.loaders import kind_of

    kind = kind_of(args.model).name
    if kind == "exported":
        if not Path(args.model).expanduser().exists():
            raise ZooError(f"model file not found: {args.model}")
        raise ZooError(f"{args.model} is an exported model, run without Keras; Grad-CAM needs "
                       "the Keras model's gradients: pass its run directory or .keras file")
    if kind == "features":
        raise ZooError(f"{args.model} is a features run (an extractor and a scikit-learn "
                       "classifier) with no convolutional classifier to differentiate; "
                       "Grad-CAM needs a run of 'zoo train' or a .keras file")
    from zoo.predict.loop import expand_images

    paths = expand_images(args.image)
    load_keras()
    from zoo.predict.loaders import load_predictor

    predictor = load_predictor(args.model, args.weights, args.device)
    if predictor.card.task == "boxes":
        raise ZooError(f"{args.model} is a box model (--task boxes): zoo explain shows what a "
                       "classifier's class score looks at; zoo predict --output draws its box")
    wanted = None if args.class_name is None else _class_index(predictor.card,
                                                                args.class_name, args.model)
    from zoo.gradcam import GradCam, NoConvLayer

    with predictor.placement():
        try:
            explainer = GradCam(predictor.model.model, args.layer)
        except NoConvLayer:
            raise NoConvLayer(args.model) from None
    for warning in predictor.warnings:  # after the refusals: an error stays one line
        print(f"zoo: warning: {warning}", file=sys.stderr)
    results, skipped = [], 0
    for item in _explain(predictor, explainer, paths, wanted, args):
        if isinstance(item, str):  # an unreadable image: report, skip, go on
            skipped += 1
            print(f"zoo: warning: skipped {item}", file=sys.stderr)
            continue
        results.append(item)
        if not args.json:
            print(f"{item['image']}: {item['class']} {item['probability'] * 100:.2f}% "
                  f"peak ({item['peak'][0]}, {item['peak'][1]}) -> {item['map']}", flush=True)
    if not results:
        raise ZooRuntimeError(f"no image could be explained ({skipped} unreadable)")
    if args.json:
        print(json.dumps(results))
    return 0


def _class_index(card, name: str, model: str) -> int:
    """The index of class `name` in the card; an unknown name is one line with close names."""
    if name in card.names:
        return card.names.index(name)
    import difflib

    close = difflib.get_close_matches(name, card.names, n=3)
    if close:
        hint = f"; did you mean {', '.join(close)}?"
    elif len(card.names) <= 12:
        hint = f"; its classes: {', '.join(card.names)}"
    else:
        hint = f" (it has {len(card.names)} classes)"
    raise ZooError(f"--class {name}: not a class of {model}{hint}")


def _explain(predictor, explainer, paths, wanted, args):
    """Per image, in order: its JSON object (its PNG written), or `"PATH: reason"` for an
    unreadable one. Images are read, explained and drawn `--batch-size` at a time."""
    import numpy as np

    from zoo.gradcam import overlay, peak, upsample
    from zoo.plots import plot_gradcam
    from zoo.predict.loop import Skipped, read_images

    card, names = predictor.card, _MapNames(Path(args.output))
    crop = crop_of(args, card)
    for start in range(0, len(paths), args.batch_size):
        ready = []
        for item in read_images(paths[start : start + args.batch_size], card.input_shape,
                                crop):
            if isinstance(item, Skipped):
                yield f"{item.image}: {item.reason}"
            else:
                ready.append(item)
        if not ready:
            continue
        pixels = np.stack([image for _, image in ready])
        classes = None if wanted is None else [wanted] * len(ready)
        with predictor.placement():
            maps, probs = explainer(card.prepare(pixels), classes, args.batch_size)
        for (path, image), cam, p in zip(ready, maps, probs, strict=True):
            index = int(np.argmax(p)) if wanted is None else wanted
            top = [{"class": card.names[i], "probability": float(p[i])}
                   for i in np.argsort(-p, kind="stable")[: args.top]]
            shown = np.clip(np.round(image), 0, 255).astype(np.uint8)
            target = names(path)
            title = (f"{Path(path).name}: {card.names[index]} {p[index] * 100:.1f}% "
                     f"(Grad-CAM at {explainer.layer})\ntop: " +
                     ", ".join(f"{row['class']} {row['probability'] * 100:.1f}%"
                               for row in top))
            plot_gradcam(shown, upsample(cam, shown.shape[:2]), overlay(shown, cam), title,
                         target)
            yield {"image": path, "class": card.names[index], "probability": float(p[index]),
                   "top": top, "peak": list(peak(cam, shown.shape[:2])), "map": str(target),
                   "layer": explainer.layer}


class _MapNames:
    """`DIR/<stem>_gradcam.png` per image; a second image of the same stem (from another
    folder) gets `<stem>-2_gradcam.png`, and the same file given twice keeps its one name."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._by_source: dict[Path, Path] = {}
        self._taken: set[str] = set()  # lower case: macOS and Windows ignore case

    def __call__(self, source: str) -> Path:
        key = Path(source).resolve()
        if key not in self._by_source:
            stem, n = Path(source).stem, 1
            name = f"{stem}_gradcam.png"
            while name.lower() in self._taken:
                n += 1
                name = f"{stem}-{n}_gradcam.png"
            self._taken.add(name.lower())
            self._by_source[key] = self.folder / name
        return self._by_source[key]
