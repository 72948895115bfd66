"""The `zoo` command line: the entry point only.

`build_parser` makes the top-level parser and adds every command of `zoo.commands.COMMANDS`
(each module's `add_parser`, in help order); `main` runs the chosen command and maps its
errors to one line and an exit code. Neither this module nor any command module imports
anything heavy at import time: `zoo --help` loads neither numpy nor Keras. Each command
imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from zoo import __version__
from zoo.commands import COMMANDS
from zoo.commands._common import Formatter as _Formatter
from zoo.commands._common import Parser as _Parser
from zoo.commands._common import console as _console
from zoo.commands._common import load_keras as _load_keras
from zoo.errors import EXIT_FAILURE, ZooError, ZooRuntimeError

# ---------------------------------------------------------------------------------------------
# zoo predict (until it has its module)


def cmd_predict(args) -> int:
    from pathlib import Path

    import numpy as np

    from zoo.data.images import UnreadableImage
    from zoo.inference import (
        AnnotationNames,
        annotate,
        expand_images,
        load_image,
        load_predictor,
        top_k,
    )

    if args.top < 1:
        raise ZooError(f"--top must be at least 1; got {args.top}")
    if args.batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1; got {args.batch_size}")
    paths = expand_images(args.image)
    from zoo.runtime import exported_format

    if exported_format(args.model):  # its own runtime: neither Keras nor TensorFlow loads
        import contextlib

        device, placement = args.device, contextlib.nullcontext()
    else:
        keras = _load_keras()
        from zoo.backend import device_name

        device = device_name(args.device)
        placement = keras.device(device)
    with placement:
        predictor = load_predictor(args.model, args.weights, device)
        for warning in predictor.warnings:
            print(f"zoo: warning: {warning}", file=sys.stderr)
        names = AnnotationNames(Path(args.output)) if args.output else None
        console, err = _console(), _console(stderr=True)
        results, failed = [], 0
        from rich.progress import Progress

        with Progress(console=err, transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("classifying", total=len(paths))
            for start in range(0, len(paths), args.batch_size):
                chunk, arrays = [], []
                for path in paths[start : start + args.batch_size]:
                    try:
                        arrays.append(load_image(path, predictor.input_shape, args.crop))
                        chunk.append(path)
                    except UnreadableImage as exc:  # report, skip, go on
                        failed += 1
                        print(f"zoo: warning: skipped {path}: {exc}", file=sys.stderr)
                if arrays:
                    probs = predictor.predict(np.stack(arrays), args.batch_size)
                    for path, p in zip(chunk, probs, strict=True):
                        rows = top_k(p, predictor, args.top)
                        results.append({"image": path, "model": predictor.name,
                                        "predictions": rows})
                        _show_prediction(results[-1], args.json, console)
                        if names is not None:
                            annotate(path, rows[0], names(path))
                bar.advance(task, args.batch_size)
    if not results:
        raise ZooRuntimeError(f"no image could be classified ({failed} unreadable)")
    return 0


def _show_prediction(result: dict, as_json: bool, console) -> None:
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
    console.print(table)


# ---------------------------------------------------------------------------------------------
# zoo export


def cmd_export(args) -> int:
    from zoo.export import VerificationFailed, export

    try:
        result = export(args.source, args.format, output=args.output, weights=args.weights,
                        images=args.images)
    except VerificationFailed as exc:
        for line in _export_checks(exc.result):
            print(line, file=sys.stderr)
        raise
    for warning in result.warnings:
        print(f"zoo: warning: {warning}", file=sys.stderr)
    for line in _export_checks(result):
        print(line)
    meta = result.metadata
    if result.float32_copy:
        print("the model is mixed-precision: exported, and compared, in float32")
    from zoo.runtime import FORMAT_NAMES

    print(f"wrote {result.path}: {FORMAT_NAMES[result.format]}, {result.size_bytes / 1e6:.1f} MB; "
          f"{len(meta['labels'])} classes, input {'x'.join(map(str, meta['input_shape']))}, "
          f"preprocessing {meta['preprocessing']}"
          + (f" minus mean {meta['mean']}" if meta.get("mean") else ""))
    print(result.path)
    return 0


def _export_checks(result) -> list[str]:
    width = max(len(c.image) for c in result.checks)
    lines = [f"verified with {result.runtime} against Keras on {len(result.checks)} images "
             f"(largest probability difference allowed {result.tolerance:.0e}):"]
    for c in result.checks:
        lines.append(f"  {c.image:<{width}}  max |p - p_keras| {c.max_diff:.1e}  top-5 "
                     f"{'agree' if c.top5_agree else 'DIFFER'}")
    agree = sum(c.top5_agree for c in result.checks)
    lines.append(f"largest difference {result.max_diff:.1e}; top-5 agree on {agree} of "
                 f"{len(result.checks)} images")
    return lines


def _add_predict_and_export_parsers(sub) -> None:
    p = sub.add_parser("predict", help="classify images with an ImageNet model or a trained run",
                       formatter_class=_Formatter)
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
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="where the model runs")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per batch")
    p.add_argument("--crop", action="store_true",
                   help="resize the shorter side and centre-crop instead of a plain resize")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "export", help="export a model to SavedModel, ONNX or TFLite, verified",
        formatter_class=_Formatter,
        description="Export a model through Keras' own model.export, with its class names, "
        "input shape and preprocessing stored in the file, then run the exported file with "
        "its own runtime (onnxruntime, the LiteRT interpreter, tf.saved_model.load) on real "
        "photos and compare with Keras; the file is kept only when they agree (exit 1 "
        "otherwise). Mixed-precision models are exported in float32. Prints the path as the "
        "last line. ONNX and TFLite need the export extra: pip install -e '.[export]'.")
    p.add_argument("source", metavar="RUN_DIR|NAME|FILE.keras",
                   help="a run directory, a .keras file, or an ImageNet model name")
    p.add_argument("--format", required=True, choices=("savedmodel", "onnx", "tflite"),
                   help="the format to write")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="the file (a directory for savedmodel); without it RUN/export/"
                   "model.onnx for a run, beside a .keras file, ./NAME.onnx for a name")
    p.add_argument("--weights", metavar="FILE", help="local .h5/.weights.h5 weights file")
    p.add_argument("--images", nargs="+", metavar="PATH",
                   help="images to verify with; without it, scikit-learn's two sample "
                   "photos, whole and cropped")
    p.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zoo",
        description="A Keras model zoo and training CLI: build, train, compare and run classic "
        "image classifiers.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS:
        importlib.import_module(f"zoo.commands.{module}").add_parser(sub)
        if module == "build_hdf5" and "predict" not in COMMANDS:  # until they have modules
            _add_predict_and_export_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except ZooError as exc:
        if debug:
            raise
        print(f"zoo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `zoo models | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the operating system's errors, in zoo's words
        if debug:
            raise
        from zoo.errors import from_os_error

        error = from_os_error(exc)
        print(f"zoo: error: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as exc:  # an unexpected failure: one line, the traceback behind --debug
        if debug:
            raise
        from zoo.errors import from_os_error, os_error_in

        os_error = os_error_in(exc)  # a library's error that quotes the operating system's
        if os_error is not None:
            error = from_os_error(os_error)
            print(f"zoo: error: {error}", file=sys.stderr)
            return error.exit_code
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"zoo: error: {type(exc).__name__}: {message} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
