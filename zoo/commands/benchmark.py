"""`zoo benchmark`: the speed of models, backends and formats, side by side."""

from __future__ import annotations

import json
import sys

from zoo.choices import DEVICES, PRECISIONS, parse_image_size
from zoo.commands._common import Formatter, console, load_keras


def _batch_sizes(text: str) -> tuple[int, ...]:
    from zoo.benchmark import parse_batch_sizes

    return parse_batch_sizes(text)


def _formats(text: str) -> tuple[str, ...]:
    from zoo.benchmark import parse_formats

    return parse_formats(text)


DESCRIPTION = (
    "Build each model with random weights (nothing is downloaded) and time it: latency at "
    "batch 1, images/s at every larger batch size and, with --train, a compiled training step "
    "at the largest. Each figure is the median of --repeats timed runs after a warm-up, shown "
    "with the runs' min-max. With --format, the models exported to ONNX or TFLite are timed in "
    "their own runtimes beside Keras, one row per model and format. Progress goes to stderr."
)


def add_parser(sub) -> None:
    p = sub.add_parser("benchmark", description=DESCRIPTION, formatter_class=Formatter,
                       help="time models: latency, throughput, training speed, with GFLOPs")
    p.add_argument("pattern", nargs="*", metavar="PATTERN",
                   help="model names or shell-style wildcards, e.g. 'resnet*' ('*' for every "
                   "model)")
    p.add_argument("--batch-size", type=_batch_sizes, default="1,32", metavar="N,N",
                   help="inference batch sizes; 1 gives the latency")
    p.add_argument("--image-size", type=parse_image_size, metavar="H,W",
                   help="input height and width (default: each model's own)")
    p.add_argument("--format", type=_formats, default="keras", metavar="FMT[,FMT]",
                   help="keras, onnx, tflite, or a list: one row per model and format, the "
                   "exported ones (float32, via 'zoo export' without its check) timed in "
                   "onnxruntime and the LiteRT interpreter; onnx and tflite need the export "
                   "extra (pip install -e '.[export]')")
    p.add_argument("--train", action="store_true",
                   help="also time a training step (SGD, random data) at the largest batch "
                   "size (Keras rows only)")
    p.add_argument("--precision", choices=PRECISIONS,
                   default="float32", help="Keras dtype policy while the models are built and run")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where the models run")
    p.add_argument("--repeats", type=int, default=5, metavar="N",
                   help="timed runs per figure (their median is reported)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (machine, versions, records) instead of a table")
    p.add_argument("--no-gemm", action="store_true",
                   help="with --json, skip measuring numpy's matrix-product rate")
    p.add_argument("-o", "--output", metavar="FILE.png",
                   help="draw throughput against GFLOPs here (PNG, SVG or PDF)")
    p.add_argument("--csv", metavar="FILE", help="also write the records as CSV")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.benchmark import (
        environment,
        resolve_models,
        results_table,
        run_benchmarks,
        write_csv,
    )

    names = resolve_models(args.pattern)
    result = run_benchmarks(names, args.format, image_size=args.image_size,
                            batch_sizes=args.batch_size, train=args.train,
                            repeats=args.repeats, precision=args.precision, device=args.device,
                            console=console(stderr=True))
    records, settings = result["models"], result["settings"]
    backend = load_keras().backend.backend()
    if args.csv:
        write_csv(records, args.csv)
    if args.output:
        from zoo.plots import plot_benchmark

        plot_benchmark(records, args.output,
                       title=f"zoo benchmark: {backend}, {settings['device']}, "
                       f"{args.precision}")
    if args.json:
        report = {**environment(measure_gemm=not args.no_gemm), **result}
        print(json.dumps(report, indent=2))
        return 0
    console().print(results_table(result, backend))
    for path in filter(None, (args.csv, args.output)):
        print(f"wrote {path}", file=sys.stderr)
    return 0
