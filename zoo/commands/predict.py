"""`zoo predict`: classify images with any model zoo knows (`zoo.predict`)."""

from __future__ import annotations

import json
import sys

from zoo.choices import DEVICES
from zoo.commands._common import Formatter, add_crop_flag, at_least, console, crop_of
from zoo.errors import ZooRuntimeError
from zoo.tta import MODES as TTA_MODES


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify images with an ImageNet model or a trained run",
                       formatter_class=Formatter)
    p.add_argument("--image", nargs="+", required=True, metavar="PATH",
                   help="image files, directories or globs")
    p.add_argument("--model", required=True,
                   help="an ImageNet model name ('zoo models --pretrained'), a run directory, "
                   "a .keras file, or a file of 'zoo export' (.onnx, .tflite: run by "
                   "onnxruntime or LiteRT, without Keras)")
    p.add_argument("--weights", metavar="FILE", help="local .h5/.weights.h5 weights file")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to show")
    p.add_argument("--json", action="store_true", help="one JSON object per image per line")
    p.add_argument("--output", metavar="DIR", help="write annotated copies of the images here")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where the model runs")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per batch")
    add_crop_flag(p)
    p.add_argument("--tta", choices=TTA_MODES,
                   help="test-time augmentation: the mean of the softmax over each image and "
                   "its mirror (flip), or over Krizhevsky's ten crops of the image loaded at "
                   "1/0.875 of the model's size (crops: four corners and the centre, and their "
                   "mirrors)")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.predict.loaders import load_predictor
    from zoo.predict.loop import Skipped, expand_images, predict_images

    at_least("--top", args.top)
    at_least("--batch-size", args.batch_size)
    paths = expand_images(args.image)
    predictor = load_predictor(args.model, args.weights, args.device)
    for warning in predictor.warnings:
        print(f"zoo: warning: {warning}", file=sys.stderr)
    out, err = console(), console(stderr=True)
    if predictor.card.task == "boxes":  # issue 19: a box (and class) per image, zoo.boxes
        return _predict_boxes(args, paths, predictor, out)
    classified = skipped = 0
    from rich.progress import Progress

    with Progress(console=err, transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("classifying", total=len(paths))
        for item in predict_images(predictor, paths, args.batch_size, args.top,
                                   crop_of(args, predictor.card), args.output, tta=args.tta):
            if isinstance(item, Skipped):  # report, skip, go on
                skipped += 1
                print(f"zoo: warning: skipped {item.image}: {item.reason}", file=sys.stderr)
            else:
                classified += 1
                _show_prediction(item.to_json(), args.json, out)
            bar.advance(task)
    if not classified:
        raise ZooRuntimeError(f"no image could be classified ({skipped} unreadable)")
    return 0


def _predict_boxes(args, paths, predictor, out) -> int:
    """`zoo predict` of a boxes model: the box in each image's own pixels, and the class."""
    from zoo.boxes.predict import predict_box_images, show_box_prediction
    from zoo.predict.loop import Skipped

    if args.tta or args.crop is not None:
        from zoo.errors import ZooError

        raise ZooError("--tta and --crop are for classifiers; a boxes model letter-boxes each "
                       "image as it was trained")
    found = skipped = 0
    for item in predict_box_images(predictor, paths, args.batch_size, args.output):
        if isinstance(item, Skipped):
            skipped += 1
            print(f"zoo: warning: skipped {item.image}: {item.reason}", file=sys.stderr)
        else:
            found += 1
            show_box_prediction(item.to_json(), args.json, out)
    if not found:
        raise ZooRuntimeError(f"no image could be read ({skipped} unreadable)")
    return 0


def _show_prediction(result: dict, as_json: bool, out) -> None:
    if as_json:
        print(json.dumps(result), flush=True)
        return
    from rich.table import Table

    table = Table(title=f"{result['image']} ({result['model']})", title_justify="left")
    for column, justify in (("rank", "right"), ("label", "left"), ("index", "right"),
                            ("probability", "right")):
        table.add_column(column, justify=justify)
    for row in result["predictions"]:
        table.add_row(str(row["rank"]), row["label"], str(row["index"]),
                      f"{row['probability'] * 100:.2f}%")
    out.print(table)
