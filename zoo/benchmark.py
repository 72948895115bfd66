"""Speed of the registered models on this machine: parameters, GFLOPs, inference latency and
throughput, and optionally training throughput, each the median of several timed runs.

Every model is built with random weights (nothing is downloaded). A timed run is a number of
calls of the compiled predict (or train) step, chosen from one calibration call so that a run
lasts at least `min_run_seconds`; the figure of a run is its mean time per call. Nothing heavy
is imported at module level, so the CLI can parse `--batch-size` without loading Keras.
"""

from __future__ import annotations

import csv
import importlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zoo.choices import BENCHMARK_FORMATS as FORMATS
from zoo.choices import PRECISIONS
from zoo.errors import ZooError
from zoo.io import atomic_path

# A timed run repeats its step until it lasts this long (read when `run_benchmarks` is called).
MIN_RUN_SECONDS = 0.2


def summarize(values: Sequence[float]) -> dict:
    """Median, quartiles and range of `values`.

    Args:
        values: one figure per timed run (at least one).

    Returns:
        A dict with `median`, `q1`, `q3` (the `"inclusive"` quartiles of `statistics.quantiles`,
        equal to the value itself for a single run), `min`, `max` and `runs`.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize needs at least one value")
    if len(values) > 1:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {
        "median": statistics.median(values),
        "q1": q1,
        "q3": q3,
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """Parse `"1,32"` into sorted, distinct positive batch sizes; a bad list is a `ZooError`."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise ZooError(f"bad --batch-size '{text}': expected positive integers like 1,32")
    return tuple(sorted(set(sizes)))


def parse_formats(text: str) -> tuple[str, ...]:
    """Parse `"keras,onnx"` into formats in the order given; an unknown one is a `ZooError`."""
    from zoo.export import parse_formats as parse

    return parse(text, allowed=FORMATS)


def check_formats(formats, precision: str, device: str = "auto") -> None:
    """Fail before any timing when a format cannot be benchmarked here: a missing package (one
    line naming the extra), a Keras backend its exporter does not support, `--device gpu`
    for a runtime without one, or a mixed precision (exported models run in float32)."""
    from zoo.export import check_can_export

    exported = [f for f in formats if f != "keras"]
    if exported and precision != "float32":
        raise ZooError(f"--precision {precision} applies to --format keras; exported models "
                       "(onnx, tflite) run in float32")
    for fmt in exported:
        check_can_export(fmt)
    if "tflite" in exported and device == "gpu":
        raise ZooError("--device gpu: zoo runs TFLite files with the LiteRT interpreter on "
                       "the CPU; drop tflite or use --device cpu")
    if "onnx" in exported and device == "gpu":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ZooError("--device gpu: this onnxruntime has no CUDA provider; install "
                           "onnxruntime-gpu, or drop onnx, or use --device cpu")


def resolve_models(patterns: Sequence[str]) -> list[str]:
    """The registered names that `patterns` (names or shell wildcards) select, in the order
    given, each once. At least one is needed (`'*'` selects every model): timing all of them
    takes long on a CPU, so it is asked for, never a default.

    An unknown plain name raises a `ZooError` with close names; a wildcard that matches
    nothing raises one too.
    """
    from zoo.models.registry import get_spec, list_models

    if not patterns:
        raise ZooError("name the models to benchmark: names or wildcards such as 'resnet*' "
                       "('*' for all of them; 'zoo models' lists them)")
    names: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            found = list_models(pattern)
            if not found:
                raise ZooError(f"no model matches '{pattern}' ('zoo models' lists them all)")
        else:
            found = [get_spec(pattern).name]  # raises with suggestions of close names
        names += [n for n in found if n not in names]
    return names


def sgemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The best rate of numpy's float32 matrix product of two `n x n` matrices, in GFLOP/s."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: threads started, pages touched
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def environment(measure_gemm: bool = True) -> dict:
    """The machine, the Keras backend and the versions that produced a benchmark."""
    from zoo.backend import load_keras

    keras = load_keras()
    backend = keras.backend.backend()
    library = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    versions = {"python": platform.python_version(), "keras": keras.__version__}
    if library:
        versions[library] = getattr(importlib.import_module(library), "__version__", "unknown")
    import numpy as np

    versions["numpy"] = np.__version__
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if measure_gemm:
        machine["numpy_sgemm_gflops"] = round(sgemm_gflops(), 1)
    return {"machine": machine, "backend": backend, "versions": versions}


def _time_runs(step: Callable[[], object], repeats: int, warmup: int,
               min_run_seconds: float | None) -> list[float]:
    """Seconds per call of `step`, one figure per timed run, after `warmup` calls; a run lasts
    at least `min_run_seconds` (None: `MIN_RUN_SECONDS`, read now, so a test can lower it)."""
    if min_run_seconds is None:
        min_run_seconds = MIN_RUN_SECONDS
    for _ in range(max(1, warmup)):  # the first call traces and compiles
        step()
    start = time.perf_counter()
    step()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, math.ceil(min_run_seconds / once))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        runs.append((time.perf_counter() - start) / calls)
    return runs


def _measure(step, batch_size: int, repeats: int, warmup: int,
             min_run_seconds: float | None) -> dict:
    seconds = _time_runs(step, repeats, warmup, min_run_seconds)
    return {
        "batch_size": batch_size,
        "ms_per_batch": summarize([1000 * s for s in seconds]),
        "images_per_s": summarize([batch_size / s for s in seconds]),
    }


def benchmark_model(
    name: str,
    image_size: tuple[int, int] | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    train: bool = False,
    repeats: int = 5,
    warmup: int = 2,
    precision: str = "float32",
    device: str = "cpu",
    min_run_seconds: float | None = None,
    seed: int = 0,
) -> dict:
    """Measure one registered model with random weights.

    Args:
        name: a registered model name.
        image_size: `(height, width)`; the channels are the model's own. Defaults to the
            model's own input shape.
        batch_sizes: inference batch sizes; batch 1 gives the latency. Defaults to `(1, 32)`.
        train: also time a compiled training step (SGD, categorical cross-entropy, random
            data) at the largest batch size. Defaults to `False`.
        repeats: timed runs per measurement; the record keeps their median and spread.
        warmup: untimed calls before each measurement (the first compiles).
        precision: a Keras dtype policy (`float32`, `mixed_float16`, `mixed_bfloat16`), set
            for this model only.
        device: a `keras.device` name (`"cpu"` or `"gpu"`, see `zoo.backend.device_name`).
        min_run_seconds: a timed run repeats the step until it lasts at least this long.
            Defaults to `MIN_RUN_SECONDS`.
        seed: seed of the random inputs and weights.

    Returns:
        A dict: `model`, `input_shape`, `params`, `gflops` (forward, per image),
        `precision`, `device`, `inference` (one entry per batch size with `batch_size`,
        `ms_per_batch` and `images_per_s`, each a `summarize` dict) and `train` (such an
        entry, or `None`).

    The dtype policy in force before the call is restored afterwards, and Keras' session is
    cleared (the model is not kept).
    """
    import numpy as np

    from zoo.backend import load_keras
    from zoo.models.flops import count_flops
    from zoo.models.registry import build_model

    if precision not in PRECISIONS:
        raise ZooError(f"unknown precision '{precision}'; choose {', '.join(PRECISIONS)}")
    spec, shape = _spec_and_shape(name, image_size, repeats)
    keras = load_keras()
    previous = keras.config.dtype_policy()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    try:
        keras.config.set_dtype_policy(precision)
        with keras.device(device):
            model = build_model(spec.name, input_shape=shape)
            record = {
                "model": spec.name,
                "format": "keras",
                "runtime": _keras_runtime(keras),
                "input_shape": list(shape),
                "params": int(model.count_params()),
                "gflops": count_flops(model) / 1e9,
                "precision": precision,
                "device": device,
                "inference": [],
                "train": None,
            }
            for batch in batch_sizes:
                x = rng.random((batch, *shape), dtype=np.float32)
                record["inference"].append(_measure(
                    lambda x=x: model.predict_on_batch(x), batch, repeats, warmup,
                    min_run_seconds))
            if train:
                batch = max(batch_sizes)
                classes = int(model.outputs[0].shape[-1])
                x = rng.random((batch, *shape), dtype=np.float32)
                y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]
                model.compile(optimizer="sgd", loss="categorical_crossentropy")
                record["train"] = _measure(
                    lambda: model.train_on_batch(x, y), batch, repeats, warmup, min_run_seconds)
    finally:
        keras.backend.clear_session()
        keras.config.set_dtype_policy(previous)
    return record


def _keras_runtime(keras) -> str:
    """`"keras 3.15.1 (tensorflow 2.21.0)"`: Keras and the backend library that runs it."""
    backend = keras.backend.backend()
    library = importlib.import_module(backend) if backend in ("tensorflow", "jax",
                                                             "torch") else None
    return f"keras {keras.__version__} ({backend} {getattr(library, '__version__', '')})"


def benchmark_exported(
    name: str,
    fmt: str,
    image_size: tuple[int, int] | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    repeats: int = 5,
    warmup: int = 2,
    device: str = "auto",
    min_run_seconds: float | None = None,
    seed: int = 0,
) -> dict:
    """Measure one registered model exported to `fmt` (`onnx` or `tflite`) and run by its
    runtime: built in float32 with random weights, written by `zoo.export.write_export` to a
    temporary directory (not verified: random weights), then timed as `benchmark_model`
    times Keras, on the same random inputs. `device` is `auto`, `cpu` or `gpu` as the runtime
    understands it (`zoo.predict.formats.open_exported`); the record says where it ran.

    Returns:
        A record like `benchmark_model`'s, with `format` and `runtime` (e.g.
        `"onnxruntime 1.32.0"`), precision `float32` and no `train` entry.
    """
    import tempfile

    import numpy as np

    from zoo.backend import load_keras
    from zoo.card import ModelCard
    from zoo.export import SUFFIXES, write_export
    from zoo.models.flops import count_flops
    from zoo.models.registry import build_model
    from zoo.predict.formats import open_exported

    if fmt not in FORMATS[1:]:
        raise ZooError(f"unknown exported format '{fmt}'; choose {', '.join(FORMATS[1:])}")
    spec, shape = _spec_and_shape(name, image_size, repeats)
    keras = load_keras()
    previous = keras.config.dtype_policy()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="zoo-benchmark-") as tmp:
        try:
            keras.config.set_dtype_policy("float32")
            model = build_model(spec.name, input_shape=shape)
            model(np.zeros((1, *shape), "float32"))  # Keras' ONNX export needs a called model
            params, gflops = int(model.count_params()), count_flops(model) / 1e9
            path = write_export(model, fmt, Path(tmp) / f"{spec.name}{SUFFIXES[fmt]}",
                                ModelCard.numbered(spec.num_classes, shape, name=spec.name))
        finally:
            keras.backend.clear_session()
            keras.config.set_dtype_policy(previous)
        exported = open_exported(path, device)
        record = {
            "model": spec.name,
            "format": fmt,
            "runtime": exported.runtime,
            "input_shape": list(shape),
            "params": params,
            "gflops": gflops,
            "precision": "float32",
            "device": exported.device,
            "inference": [],
            "train": None,
        }
        for batch in batch_sizes:
            x = rng.random((batch, *shape), dtype=np.float32)
            record["inference"].append(_measure(
                lambda x=x: exported.predict(x), batch, repeats, warmup, min_run_seconds))
    return record


def flatten(record: dict) -> dict:
    """One CSV row of a `benchmark_model` record: medians with their min and max."""
    row = {key: record.get(key) for key in ("model", "format", "runtime", "params", "gflops",
                                            "precision", "device")}
    row["input_shape"] = "x".join(map(str, record["input_shape"]))
    entries = [("", e) for e in record["inference"]]
    if record.get("train"):
        entries.append(("train_", record["train"]))
    for prefix, entry in entries:
        b = entry["batch_size"]
        for metric in ("ms_per_batch", "images_per_s"):
            stats = entry[metric]
            for stat in ("median", "min", "max"):
                suffix = "" if stat == "median" else f"_{stat}"
                row[f"{prefix}b{b}_{metric}{suffix}"] = stats[stat]
    return row


def write_csv(records: Sequence[dict], path: str | Path) -> Path:
    """Write the records as CSV, one row per model and format, atomically."""
    rows = [flatten(r) for r in records]
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_benchmarks(
    names: Sequence[str],
    formats: Sequence[str] = ("keras",),
    *,
    image_size: tuple[int, int] | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    train: bool = False,
    repeats: int = 5,
    precision: str = "float32",
    device: str = "auto",
    min_run_seconds: float | None = None,
    console=None,
) -> dict:
    """Time every model of `names` in every format of `formats`, side by side: `zoo benchmark`.

    Every model's input shape, the formats, the precision and the device are checked before
    any model is timed. A progress bar shows on `console` (a rich console, e.g. on stderr)
    when it is a terminal.

    Args:
        names: registered model names (`resolve_models`).
        formats: of `FORMATS`; `keras` rows are timed by `benchmark_model`, the others by
            `benchmark_exported`. Defaults to `("keras",)`.
        image_size, batch_sizes, train, repeats, precision: as for `benchmark_model`.
        device: `auto`, `cpu` or `gpu`: resolved for Keras by `zoo.backend.device_name`,
            given as it is to the exported formats' runtimes.
        min_run_seconds: see `benchmark_model`. Defaults to `MIN_RUN_SECONDS`.

    Returns:
        `{"settings": ..., "models": [record, ...]}`, one record per model and format, in
        the order given; `settings` holds `batch_sizes`, `formats`, `train`, `repeats`,
        `precision` and the resolved `device`.
    """
    for name in names:  # a bad --image-size fails before any model is timed
        _spec_and_shape(name, image_size, repeats)
    from zoo.backend import device_name, load_keras

    load_keras()
    keras_device = device_name(device)
    check_formats(formats, precision, device)
    common = dict(image_size=image_size, batch_sizes=batch_sizes, repeats=repeats,
                  min_run_seconds=min_run_seconds)
    from rich.progress import Progress

    records = []
    disable = console is None or not console.is_terminal
    with Progress(console=console, transient=True, disable=disable) as bar:
        task = bar.add_task("benchmarking", total=len(names) * len(formats))
        for name in names:
            for fmt in formats:  # one row per model and format, side by side
                bar.update(task, description=f"{name} ({fmt})")
                if fmt == "keras":
                    records.append(benchmark_model(name, train=train, precision=precision,
                                                   device=keras_device, **common))
                else:  # the runtime's own auto: onnxruntime-gpu or CPU
                    records.append(benchmark_exported(name, fmt, device=device, **common))
                bar.advance(task)
    settings = {"batch_sizes": list(batch_sizes), "formats": list(formats), "train": train,
                "repeats": repeats, "precision": precision, "device": keras_device}
    return {"settings": settings, "models": records}


def _stats_text(stats: dict, digits: int = 1) -> str:
    return (f"{stats['median']:.{digits}f} "
            f"[dim]({stats['min']:.{digits}f}-{stats['max']:.{digits}f})[/dim]")


def results_table(result: dict, backend: str):
    """The `rich.table.Table` of a `run_benchmarks` result: one row per model and format,
    each figure its median with the runs' min-max."""
    from rich.table import Table

    from zoo.models.flops import human

    settings, records = result["settings"], result["models"]
    batch_sizes, train = settings["batch_sizes"], settings["train"]
    models = len({r["model"] for r in records})
    formats = len(settings["formats"])
    what = f"{models} models" + (f" x {formats} formats" if formats > 1 else "")
    table = Table(title=f"{what}, {backend} on {settings['device']}, "
                  f"{settings['precision']}; median (min-max) of {settings['repeats']} runs",
                  title_justify="left")
    for column in ("model", "format", "runtime", "input", "params", "GFLOPs"):
        table.add_column(column, justify="right" if column in ("input", "params", "GFLOPs")
                         else "left")
    for batch in batch_sizes:
        table.add_column("batch 1 ms" if batch == 1 else f"img/s @{batch}", justify="right")
    if train:
        table.add_column(f"train img/s @{max(batch_sizes)}", justify="right")
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
        elif train:
            cells.append("-")  # exported models are timed at inference only
        table.add_row(*cells)
    return table


def _spec_and_shape(name: str, image_size, repeats: int):
    """The model's spec and the input shape to time it at, checked."""
    from zoo.models.registry import check_input_shape, get_spec

    if repeats < 1:
        raise ZooError(f"--repeats must be at least 1; got {repeats}")
    spec = get_spec(name)
    shape = spec.input_shape if image_size is None else (*image_size, spec.input_shape[-1])
    return spec, check_input_shape(spec, shape)
