"""`zoo export`: a model to SavedModel, ONNX or TFLite, verified (`zoo.export`)."""

from __future__ import annotations

import sys

from zoo.choices import EXPORT_FORMATS
from zoo.commands._common import Formatter


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="export a model to SavedModel, ONNX or TFLite, verified",
        formatter_class=Formatter,
        description="Export a model through Keras' own model.export, with its class names, "
        "input shape and preprocessing stored in the file, then run the exported file with "
        "its own runtime (onnxruntime, the LiteRT interpreter, tf.saved_model.load) on real "
        "photos and compare with Keras; the file is kept only when they agree (exit 1 "
        "otherwise). Mixed-precision models are exported in float32. Prints the path as the "
        "last line. ONNX and TFLite need the export extra: pip install -e '.[export]'.")
    p.add_argument("source", metavar="RUN_DIR|NAME|FILE.keras",
                   help="a run directory, a .keras file, or an ImageNet model name")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                   help="the format to write")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="the file (a directory for savedmodel); without it RUN/export/"
                   "model.onnx for a run, beside a .keras file, ./NAME.onnx for a name")
    p.add_argument("--weights", metavar="FILE", help="local .h5/.weights.h5 weights file")
    p.add_argument("--images", nargs="+", metavar="PATH",
                   help="images to verify with; without it, scikit-learn's two sample "
                   "photos, whole and cropped")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.export import VerificationFailed, export
    from zoo.predict.formats import FORMAT_NAMES

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
    card = result.card
    if result.float32_copy:
        print("the model is mixed-precision: exported, and compared, in float32")
    print(f"wrote {result.path}: {FORMAT_NAMES[result.format]}, {result.size_bytes / 1e6:.1f} MB; "
          f"{len(card.names)} classes, input {'x'.join(map(str, card.input_shape))}, "
          f"preprocessing {card.preprocessing}"
          + (f" minus mean {list(card.mean)}" if card.mean else ""))
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
