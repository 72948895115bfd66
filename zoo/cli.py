"""The `zoo` command line: parses, then hands off.

Nothing heavy is imported at module level: `zoo --help` and `zoo models` never load
TensorFlow or Keras. Each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from zoo import __version__
from zoo.commands._common import Formatter as _Formatter
from zoo.commands._common import Parser as _Parser
from zoo.commands._common import console as _console
from zoo.commands._common import load_keras as _load_keras
from zoo.commands._common import setup_logging as _setup_logging
from zoo.errors import EXIT_FAILURE, ZooError, ZooRuntimeError


def _shape_arg(text: str) -> tuple[int, ...]:
    from zoo.choices import parse_input_shape

    return parse_input_shape(text)


def _batch_sizes_arg(text: str) -> tuple[int, ...]:
    from zoo.benchmark import parse_batch_sizes

    return parse_batch_sizes(text)


def _formats_arg(text: str) -> tuple[str, ...]:
    from zoo.benchmark import parse_formats

    return parse_formats(text)


def _image_size_arg(text: str) -> tuple[int, int]:
    from zoo.choices import parse_image_size

    return parse_image_size(text)


def _resolve_shape(spec, shape):
    if shape is None:
        return spec.input_shape
    if len(shape) == 2:
        return (*shape, spec.input_shape[-1])
    return shape


# ---------------------------------------------------------------------------------------------
# zoo models


def cmd_models(args) -> int:
    from zoo.models.flops import human
    from zoo.models.registry import get_spec, list_models

    names = list_models(args.pattern, pretrained=args.pretrained)
    if args.pattern and not names and not any(c in args.pattern for c in "*?["):
        get_spec(args.pattern)  # raises with suggestions of close names
    if args.pattern and not names:
        raise ZooError(f"no model matches '{args.pattern}' ('zoo models' lists them all)")
    specs = [get_spec(n) for n in names]
    if args.json:
        print(json.dumps([s.as_dict() for s in specs], indent=2))
        return 0

    from rich.table import Table

    table = Table(title=f"{len(specs)} models", title_justify="left")
    for column, justify in (
        ("name", "left"),
        ("family", "left"),
        ("params", "right"),
        ("input", "right"),
        ("classes", "right"),
        ("pretrained", "center"),
        ("reference", "left"),
    ):
        table.add_column(column, justify=justify)
    for s in specs:
        table.add_row(
            s.name,
            s.family,
            human(s.params),
            "x".join(map(str, s.input_shape)),
            str(s.num_classes),
            "yes" if s.pretrained else "no",
            s.reference,
        )
    _console().print(table)
    return 0


# ---------------------------------------------------------------------------------------------
# zoo summary / zoo plot


def _build_for_display(args):
    _load_keras()
    from zoo.models.registry import build_model, get_spec

    spec = get_spec(args.model)
    shape = _resolve_shape(spec, args.input_shape)
    return build_model(spec.name, input_shape=shape, num_classes=args.classes)


def cmd_summary(args) -> int:
    model = _build_for_display(args)
    from zoo.models.flops import count_flops, human

    if not sys.stdout.isatty():
        os.environ.setdefault("COLUMNS", "120")  # Keras sizes its table from the terminal
    model.summary(print_fn=lambda text, **_: print(text, end="" if text.endswith("\n") else "\n"))
    flops = count_flops(model)
    print(f"Input shape: {'x'.join(str(d) for d in model.input_shape[1:])}")
    print(f"Parameters: {model.count_params():,}")
    print(f"Forward FLOPs per image: {flops:,} ({human(flops)}; 2 x conv and dense multiply-adds)")
    return 0


PLOT_FORMATS = (".png", ".svg", ".pdf")


def cmd_plot(args) -> int:
    from pathlib import Path

    output = Path(args.output or Path("output") / f"{args.model.lower()}.png")
    if output.suffix.lower() not in PLOT_FORMATS:
        raise ZooError(f"cannot write '{output}': the file must end in {', '.join(PLOT_FORMATS)}")

    from zoo.plots import check_graphviz, plot_model_graph

    check_graphviz()
    model = _build_for_display(args)
    plot_model_graph(model, output)
    print(output)
    return 0


# ---------------------------------------------------------------------------------------------
# zoo train / zoo evaluate / zoo datasets


def cmd_train(args) -> int:
    from pathlib import Path

    from zoo.config import FIELDS, resolve, resume_config
    from zoo.run import CONFIG, RunDir

    flags = {f.name: getattr(args, f.name) for f in FIELDS}
    if args.resume:
        if args.config:
            raise ZooError(f"--resume continues a run with its own {CONFIG}; --config starts "
                           "a new one (drop one of them)")
        run = RunDir.open(args.resume)
        config = resume_config(run.read_config(), flags, where=str(run))
    else:
        config_file = args.config
        if config_file and Path(config_file).is_dir():  # a run directory: its saved settings
            config_file = RunDir(config_file).config_file
        pretrained = flags["pretrained"]
        source = Path(pretrained).expanduser() if pretrained not in (None, "imagenet") else None
        if flags["model"] is None and not config_file and source and source.exists():
            # --pretrained RUN: the architecture is the run's own unless --model says it
            source_run = RunDir.open(source) if source.is_dir() else RunDir.containing(source)
            if source_run is not None:
                flags["model"] = source_run.read_config().get("model")
        config = resolve(config_file, flags)
    from zoo.backend import backend_name
    from zoo.training.distribution import check, launch_from

    launch = launch_from(args.coordinator, args.num_processes, args.process_id,
                         args.coordinator_timeout)
    check(config.distribute, launch, backend_name())  # before Keras loads
    _setup_logging()
    _load_keras()
    from zoo.training.trainer import train

    run_dir = train(config, resume=args.resume, console=_console(), launch=launch)
    print(run_dir)
    return 0


def cmd_evaluate(args) -> int:
    if args.ensemble and args.run_dir:
        raise ZooError("give one RUN_DIR, or --ensemble RUN_DIR RUN_DIR ..., not both")
    if not args.ensemble and not args.run_dir:
        raise ZooError("give a RUN_DIR to evaluate, or --ensemble RUN_DIR RUN_DIR ...")
    if args.output and not args.ensemble:
        raise ZooError("--output is for --ensemble; a run's evaluation is written into the run")
    if args.ensemble:
        from zoo.run import RunDir

        runs = [RunDir.open(r) for r in args.ensemble]  # a typo fails before Keras loads
        _setup_logging()
        _load_keras()
        from zoo.evaluation import evaluate_ensemble

        metrics = evaluate_ensemble(runs, dataset=args.dataset, split=args.split,
                                    output=args.output, console=_console())
        print(metrics["output"])
        return 0
    _setup_logging()
    _load_keras()
    from zoo.evaluation import evaluate_run

    evaluate_run(args.run_dir, dataset=args.dataset, split=args.split, console=_console())
    print(args.run_dir)
    return 0


def cmd_build_hdf5(args) -> int:
    from zoo.choices import parse_image_size
    from zoo.data.hdf5build import build_hdf5

    size = None
    if args.image_size is not None:
        size = parse_image_size(args.image_size)
    if args.workers is not None and args.workers < 1:
        raise ZooError(f"--workers must be at least 1; got {args.workers}")
    result = build_hdf5(args.dataset, args.output, image_size=size,
                        channels=1 if args.grayscale else 3, workers=args.workers,
                        console=_console(stderr=True))
    counts = ", ".join(f"{n} {s}" for s, n in result.counts.items() if n)
    print(f"wrote {counts} images of {len(result.label_names)} classes, "
          f"{'x'.join(map(str, result.image_shape))}", file=sys.stderr)
    if result.skipped:
        print(f"zoo: warning: skipped {len(result.skipped)} files (not images, or unreadable); "
              f"the list is in {result.skipped_file}", file=sys.stderr)
    print(result.path)
    return 0


def cmd_datasets(args) -> int:
    from zoo.data.datasets import DATASETS

    rows = []
    for spec in DATASETS.values():
        found = spec.locate(args.data_dir)
        rows.append({
            "name": spec.name,
            "classes": spec.classes,
            "shape": list(spec.shape),
            "sizes": spec.sizes,
            "origin": spec.origin,
            "files": spec.files,
            "present": found is not None,
            "location": str(found) if found else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="datasets (also folder:PATH and hdf5:PATH)", title_justify="left")
    for column in ("name", "classes", "shape", "train/test", "present", "where"):
        table.add_column(column)
    for r in rows:
        where = r["location"] if r["present"] else f"download, or --data-dir with {r['files']}"
        table.add_row(r["name"], str(r["classes"]), "x".join(map(str, r["shape"])), r["sizes"],
                      "yes" if r["present"] else "no", where)
    _console().print(table)
    return 0


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


# ---------------------------------------------------------------------------------------------
# zoo extract / zoo fit-features / zoo baseline


def _extractor_from_args(name: str, args):
    if args.pooling is not None and name.lower() in _classic_names():
        raise ZooError(f"--pooling applies to CNN extractors, not to {name.lower()}")
    if name.lower() not in _classic_names():
        _load_keras()
    from zoo.features.extractors import get_extractor

    return get_extractor(name, layer=args.layer, pooling=args.pooling or "avg",
                         weights=args.weights)


def _classic_names() -> tuple[str, ...]:
    from zoo.features.extractors import CLASSIC

    return tuple(CLASSIC)


def cmd_extract(args) -> int:
    from zoo.features.hdf5 import check_output, extract

    check_output(args.output)  # before a CNN is built
    _setup_logging()
    extractor = _extractor_from_args(args.model, args)

    extract(extractor, args.dataset, args.output, seed=args.seed, val_split=args.val_split,
            limit=args.limit, data_dir=args.data_dir, classes=args.classes,
            per_class=args.per_class, batch_size=args.batch_size)
    print(args.output)
    return 0


def cmd_fit_features(args) -> int:
    _setup_logging()
    from zoo.features.classifiers import fit_features

    run, _ = fit_features(args.features, args.classifier, grid=args.grid, output=args.output,
                          name=args.name, seed=args.seed, console=_console())
    print(run)
    return 0


def cmd_baseline(args) -> int:
    _setup_logging()
    extractor = _extractor_from_args(args.features, args)
    from zoo.features.classifiers import default_name, fit_features, new_run
    from zoo.features.hdf5 import extract

    name = args.name or default_name(extractor.describe(), args.classifier,
                                     args.dataset)
    run = new_run(args.output, name)
    try:
        extract(extractor, args.dataset, run.features_file, seed=args.seed,
                val_split=args.val_split, limit=args.limit, data_dir=args.data_dir,
                classes=args.classes, per_class=args.per_class, batch_size=args.batch_size)
    except BaseException:
        if not any(run.path.iterdir()):  # nothing written: leave no half run behind
            run.path.rmdir()
        raise
    fit_features(run.features_file, args.classifier, grid=args.grid, run=run, seed=args.seed,
                 extractor=extractor, console=_console())
    print(run)
    return 0


# ---------------------------------------------------------------------------------------------
# zoo benchmark


def _stats_text(stats: dict, digits: int = 1) -> str:
    return (f"{stats['median']:.{digits}f} "
            f"[dim]({stats['min']:.{digits}f}-{stats['max']:.{digits}f})[/dim]")


def cmd_benchmark(args) -> int:
    from zoo.benchmark import (
        benchmark_exported,
        benchmark_model,
        check_formats,
        environment,
        resolve_models,
        write_csv,
    )

    names = resolve_models(args.pattern)
    formats = args.format
    if args.repeats < 1:
        raise ZooError(f"--repeats must be at least 1; got {args.repeats}")
    from zoo.models.registry import check_input_shape, get_spec

    for name in names:  # a bad --image-size fails before any model is timed
        spec = get_spec(name)
        shape = spec.input_shape if args.image_size is None else (*args.image_size,
                                                                  spec.input_shape[-1])
        check_input_shape(spec, shape)
    keras = _load_keras()
    from zoo.backend import device_name

    device = device_name(args.device)
    check_formats(formats, args.precision, args.device)
    from rich.progress import Progress

    records = []
    with Progress(console=_console(stderr=True), transient=True,
                  disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("benchmarking", total=len(names) * len(formats))
        for name in names:
            for fmt in formats:  # one row per model and format, side by side
                bar.update(task, description=f"{name} ({fmt})")
                if fmt == "keras":
                    records.append(benchmark_model(
                        name,
                        image_size=args.image_size,
                        batch_sizes=args.batch_size,
                        train=args.train,
                        repeats=args.repeats,
                        precision=args.precision,
                        device=device,
                    ))
                else:
                    records.append(benchmark_exported(
                        name,
                        fmt,
                        image_size=args.image_size,
                        batch_sizes=args.batch_size,
                        repeats=args.repeats,
                        device=args.device,  # the runtime's own auto: onnxruntime-gpu or CPU
                    ))
                bar.advance(task)
    settings = {"batch_sizes": list(args.batch_size), "formats": list(formats),
                "train": args.train, "repeats": args.repeats, "precision": args.precision,
                "device": device}
    if args.csv:
        write_csv(records, args.csv)
    if args.output:
        from zoo.plots import plot_benchmark

        plot_benchmark(records, args.output,
                       title=f"zoo benchmark: {keras.backend.backend()}, {device}, "
                       f"{args.precision}")
    if args.json:
        report = {**environment(measure_gemm=not args.no_gemm), "settings": settings,
                  "models": records}
        print(json.dumps(report, indent=2))
        return 0

    from rich.table import Table

    from zoo.models.flops import human

    what = f"{len(names)} models" + (f" x {len(formats)} formats" if len(formats) > 1 else "")
    table = Table(title=f"{what}, {keras.backend.backend()} on {device}, "
                  f"{args.precision}; median (min-max) of {args.repeats} runs",
                  title_justify="left")
    for column in ("model", "format", "runtime", "input", "params", "GFLOPs"):
        table.add_column(column, justify="right" if column in ("input", "params", "GFLOPs")
                         else "left")
    for batch in args.batch_size:
        table.add_column("batch 1 ms" if batch == 1 else f"img/s @{batch}", justify="right")
    if args.train:
        table.add_column(f"train img/s @{max(args.batch_size)}", justify="right")
    for r in records:
        cells = [r["model"], r["format"], r["runtime"], "x".join(map(str, r["input_shape"])),
                 human(r["params"]), f"{r['gflops']:.3g}"]
        for entry in r["inference"]:
            if entry["batch_size"] == 1:
                cells.append(_stats_text(entry["ms_per_batch"], 2))
            else:
                cells.append(_stats_text(entry["images_per_s"]))
        if r["train"]:
            cells.append(_stats_text(r["train"]["images_per_s"]))
        elif args.train:
            cells.append("-")  # exported models are timed at inference only
        table.add_row(*cells)
    _console().print(table)
    for path in filter(None, (args.csv, args.output)):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _add_train_flags(p) -> None:
    from zoo.config import FIELDS

    titles = {"model": "model", "data": "data", "optimizer": "optimizer",
              "schedule": "learning-rate schedule", "run": "run",
              "distribution": "distribution (several devices, processes or hosts)"}
    groups = {key: p.add_argument_group(title) for key, title in titles.items()}
    for f in FIELDS:
        default = "" if f.default is None else f" (default: {f.default})"
        help_text = (f.help + default).replace("%", "%%")  # argparse formats help with %
        kwargs = dict(dest=f.name, default=None, help=help_text)
        if f.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(type=f.type, metavar=f.metavar or f.name.upper())
            if f.choices:
                kwargs.update(choices=f.choices, metavar="{" + ",".join(f.choices) + "}")
        groups[f.group].add_argument(f.flag, **kwargs)
    # How this process joins the others: given to each process, never saved with the run.
    group = groups["distribution"]
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="JAX, several processes: the address of process 0, the same for "
                       "all (default: $KERAS_DISTRIBUTION_JOB_ADDRESSES, or SLURM's)")
    group.add_argument("--num-processes", type=int, metavar="N",
                       help="the number of processes training together (default: "
                       "$KERAS_DISTRIBUTION_NUM_PROCESSES, or SLURM's, or 1)")
    group.add_argument("--process-id", type=int, metavar="I",
                       help="this process's index, 0 to N-1; process 0 writes the run "
                       "(default: $KERAS_DISTRIBUTION_PROCESS_ID, or SLURM's)")
    group.add_argument("--coordinator-timeout", type=int, metavar="SECONDS",
                       help="how long to wait for every process to join (default: 300)")


# ---------------------------------------------------------------------------------------------
# The parser


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

    p = sub.add_parser(
        "models",
        help="list the registered architectures",
        formatter_class=_Formatter,
        description="List the registered architectures, with their family, "
        "parameter count at the default input, default input shape, whether "
        "ImageNet weights exist, and the paper each follows.",
    )
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="only models with ImageNet weights")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_models)

    def model_args(p):
        p.add_argument("--model", required=True, help="a registered name ('zoo models')")
        p.add_argument(
            "--input-shape",
            type=_shape_arg,
            metavar="H,W[,C]",
            help="input shape (default: the model's own)",
        )
        p.add_argument(
            "--classes", type=int, metavar="N", help="number of classes (default: the model's own)"
        )

    p = sub.add_parser(
        "summary", help="print a model's layers, parameters and FLOPs", formatter_class=_Formatter
    )
    model_args(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "plot",
        help="draw a model's architecture graph (PNG, SVG or PDF)",
        formatter_class=_Formatter,
    )
    model_args(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="output file; the suffix picks the format (default: output/MODEL.png)",
    )
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "train", help="train a model on a dataset, with checkpoints, curves and a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train MODEL on DATASET. Settings: defaults < --config FILE.yaml < flags. "
        "Writes a run directory (OUTPUT/NAME) and prints its path as the last line.",
        epilog="examples:\n  zoo train --config configs/lenet_digits.yaml\n"
        "  zoo train --model minivggnet --dataset cifar10 --epochs 40 --lr-schedule time "
        "--lr-decay 0.00025\n"
        "  zoo train --resume output/RUN              (on to the run's own --epochs)\n"
        "  zoo train --resume output/RUN --epochs 60  (extend it to 60 epochs)")
    p.add_argument("--config", metavar="FILE", help="YAML file of settings (keys = flag names "
                   "with underscores)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run with its own saved settings; of the flags, "
                   "only --epochs (to extend), --early-stop, --checkpoint-every, --tensorboard, "
                   "--steps-per-execution and --data-dir may change")
    _add_train_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="recompute a run's metrics, report and confusion matrix",
                       formatter_class=_Formatter)
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?",
                   help="the run to evaluate (not with --ensemble)")
    p.add_argument("--dataset", help="evaluate on another dataset with the same classes")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split (test falls back to val when there is none)")
    p.add_argument("--ensemble", nargs="+", metavar="RUN_DIR",
                   help="evaluate these runs as one model: the mean of their probabilities, "
                   "beside each member")
    p.add_argument("--output", metavar="DIR",
                   help="where --ensemble writes its report (default: "
                   "output/ensemble-YYYYmmdd-HHMMSS)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("build-hdf5", help="decode a class folder once into an HDF5 file",
                       formatter_class=_Formatter,
                       description="Decode every image of a class folder (in parallel) into "
                       "one HDF5 file that '--dataset hdf5:FILE' trains from, keeping the "
                       "folder's train/val/test split. Unreadable files are skipped and listed "
                       "in FILE.skipped.txt. Prints the file's path as its last line.")
    p.add_argument("--dataset", required=True, metavar="folder:PATH",
                   help="the class folder (one sub-folder per class, or train/, val/, test/)")
    p.add_argument("--image-size", metavar="H,W",
                   help="resize every image to this size (default: the first image's size)")
    p.add_argument("--grayscale", action="store_true", help="store one channel, not RGB")
    p.add_argument("--output", "-o", required=True, metavar="FILE.h5", help="the HDF5 file")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decoding threads (default: the number of CPUs)")
    p.set_defaults(func=cmd_build_hdf5)

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

    p = sub.add_parser("datasets", help="list the datasets and whether their files are here",
                       formatter_class=_Formatter)
    p.add_argument("--data-dir", metavar="DIR", help="also look for files here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_datasets)

    def extractor_args(p, flag):
        p.add_argument(flag, required=True, metavar="NAME|RUN_DIR",
                       help="pixels, colorhist, hog, lbp, hu, an ImageNet model ('zoo models "
                       "--pretrained') or a run directory of 'zoo train'")
        p.add_argument("--layer", help="CNN layer whose output is the feature; without it, "
                       "the input of the model's last Dense layer")
        p.add_argument("--pooling", choices=("avg", "max", "flatten"),
                       help="how a CNN layer's 4-D output becomes a vector; avg when not "
                       "given")
        p.add_argument("--weights", metavar="FILE",
                       help="local weights file of an ImageNet model; without it, the "
                       "ImageNet weights (downloaded once into the Keras cache)")

    def extract_data_args(p):
        from zoo.config import FIELDS_BY_NAME as F

        p.add_argument("--dataset", required=True, help=F["dataset"].help)
        p.add_argument("--data-dir", metavar="DIR", help=F["data_dir"].help)
        p.add_argument("--limit", type=int, metavar="N", help=F["limit"].help)
        p.add_argument("--classes", metavar="A,B,C", help=F["classes"].help)
        p.add_argument("--per-class", type=int, metavar="N", help=F["per_class"].help)
        p.add_argument("--val-split", type=float, default=F["val_split"].default,
                       help=F["val_split"].help)
        p.add_argument("--seed", type=int, default=F["seed"].default, help=F["seed"].help)
        p.add_argument("--batch-size", type=int, default=64, metavar="N",
                       help="images per extraction batch")

    def classifier_args(p):
        from zoo.choices import CLASSIFIERS

        p.add_argument("--classifier", required=True, choices=CLASSIFIERS,
                       help="scikit-learn classifier fitted on the features")
        p.add_argument("--grid", action="store_true",
                       help="choose hyper-parameters on the validation split (C; k and the "
                       "metric for knn), then refit on train and validation")

    def run_args(p):
        from zoo.config import FIELDS_BY_NAME as F

        p.add_argument("--output", default=F["output"].default, metavar="DIR",
                       help=F["output"].help)
        p.add_argument("--name", help="run directory name (default "
                       "EXTRACTOR-CLASSIFIER-DATASET-YYYYmmdd-HHMMSS)")

    p = sub.add_parser("extract", help="write a dataset's features (a CNN layer or a classic "
                       "descriptor) to an HDF5 file", formatter_class=_Formatter,
                       description="Extract features of every image of DATASET (train, val "
                       "and test) into FILE.h5, batch by batch. The file is written under a "
                       "temporary name and marked complete last.")
    extractor_args(p, "--model")
    extract_data_args(p)
    p.add_argument("--output", required=True, metavar="FILE.h5", help="the features file")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("fit-features", help="fit a scikit-learn classifier on extracted "
                       "features and report on the test split", formatter_class=_Formatter)
    p.add_argument("features", metavar="FILE.h5", help="a features file of 'zoo extract'")
    classifier_args(p)
    run_args(p)
    from zoo.config import FIELDS_BY_NAME

    p.add_argument("--seed", type=int, default=FIELDS_BY_NAME["seed"].default,
                   help="seed of the random forest and the solvers")
    p.set_defaults(func=cmd_fit_features)

    p = sub.add_parser("baseline", help="extract features and fit a classifier in one step",
                       formatter_class=_Formatter,
                       description="zoo extract, then zoo fit-features, into one run "
                       "directory (the features file is kept there as features.h5).")
    extractor_args(p, "--features")
    extract_data_args(p)
    classifier_args(p)
    run_args(p)
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser(
        "benchmark", help="time models: latency, throughput, training speed, with GFLOPs",
        formatter_class=_Formatter,
        description="Build each model with random weights (nothing is downloaded) and time it: "
        "latency at batch 1, images/s at every larger batch size and, with --train, a compiled "
        "training step at the largest. Each figure is the median of --repeats timed runs after "
        "a warm-up, shown with the runs' min-max. With --format, the models exported to ONNX "
        "or TFLite are timed in their own runtimes beside Keras, one row per model and "
        "format. Progress goes to stderr.")
    p.add_argument("pattern", nargs="*", metavar="PATTERN",
                   help="model names or shell-style wildcards, e.g. 'resnet*' ('*' for every "
                   "model)")
    p.add_argument("--batch-size", type=_batch_sizes_arg, default="1,32", metavar="N,N",
                   help="inference batch sizes; 1 gives the latency")
    p.add_argument("--image-size", type=_image_size_arg, metavar="H,W",
                   help="input height and width (default: each model's own)")
    p.add_argument("--format", type=_formats_arg, default="keras", metavar="FMT[,FMT]",
                   help="keras, onnx, tflite, or a list: one row per model and format, the "
                   "exported ones (float32, via 'zoo export' without its check) timed in "
                   "onnxruntime and the LiteRT interpreter; onnx and tflite need the export "
                   "extra (pip install -e '.[export]')")
    p.add_argument("--train", action="store_true",
                   help="also time a training step (SGD, random data) at the largest batch "
                   "size (Keras rows only)")
    p.add_argument("--precision", choices=("float32", "mixed_float16", "mixed_bfloat16"),
                   default="float32", help="Keras dtype policy while the models are built and run")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
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
    p.set_defaults(func=cmd_benchmark)

    import importlib

    from zoo.commands import COMMANDS

    for module in COMMANDS:
        importlib.import_module(f"zoo.commands.{module}").add_parser(sub)
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
    except Exception as exc:  # an unexpected failure: one line, the traceback behind --debug
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"zoo: error: {type(exc).__name__}: {message} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
