"""zoo on a GPU with `KERAS_BACKEND=jax`: the fast preset's time to 0.93, precisions, pipelines.

One process that runs each part as a subprocess of its own under a time bound, samples
`nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200` in
the background during each part ("n/a" where there is no nvidia-smi), and writes
`bench_gpu.json` and `bench_gpu.md` (a table: part, images/s, wall s, GPU utilisation median
and 10th percentile, peak GPU memory, the device, the jax and keras versions) into `--out`.
A part that would not fit the rest of `--budget-s` is skipped with that reason; one that
fails is recorded with the end of its output and the others still run.

Parts, in the order they run (issues 17 and 18):

- `fast_preset`: `zoo train --config configs/fast_fashion_mnist.yaml` (`--config`), as it is,
  on Fashion-MNIST. Time to 0.93: the seconds from spawning the process until the
  history.json row of the first epoch whose validation accuracy reaches `--target` appears
  (polled every 0.2 s), that epoch, and the training seconds up to it; the preset trains on
  all 60,000 images, with no validation split, so its test accuracy (zoo's final
  evaluation) says whether it reached the target, at the end of the whole process.
- `float32`, `mixed_bfloat16`: the same preset, `--epochs 2 --precision P`.
- `memory_zoo`, `memory_plain`: issue 18's in-memory comparison (scripts/bench_fit.py):
  MiniVGGNet on a synthetic CIFAR-10-shaped set in CIFAR-10's file layout (50,000 train of
  which zoo holds 10% out, 10,000 test), 3 epochs, batch 64, SGD 0.01 momentum 0.9 Nesterov,
  seed 1: the `zoo train` command against a plain `model.fit` on zoo's splits as float32
  arrays (exported beforehand through zoo's data code, not timed).
- `folder_zoo_S`, `folder_plain_S` for S in 64 and 224: issue 18's folder comparison
  (scripts/bench_folder.py): 2,000 synthetic 1024x768 JPEG photos in two classes, 3 epochs,
  batch 64: `zoo train --dataset folder:PHOTOS --image-size S,S` against the plain
  `keras.utils.image_dataset_from_directory(..., validation_split=0.1, subset="both",
  crop_to_aspect_ratio=True, label_mode="categorical")` script with `x / 255`. That script's
  default `format="tf"` needs TensorFlow (tf.data), which the GPU machine does not have:
  there, and wherever TensorFlow does not import, it runs with `format="grain"`, Keras' own
  TensorFlow-free path (grain's dataset; Pillow decodes, Keras ops resize on the CPU), the
  closest plain-Keras equivalent; the part's `format` field and notes say which one ran.

images/s is a run's training images over its last epoch's seconds (from its start to the
end of its validation pass: zoo's `seconds` in history.json, the same span timed by a
callback in the plain scripts). GPU utilisation is given over that last epoch (the steady
state the input pipeline must keep busy) and over the whole process (start-up and
compilation included).

Data: Fashion-MNIST from Debian's /usr/share/datasets/fashion-mnist, else `--fashion-dir`
(the four idx .gz files), else a generated stand-in of the same shape, and the output says
so (0.93 means nothing on the stand-in). `--tiny` runs every part on the CPU in seconds with
tiny synthetic sets (a stand-in Fashion-MNIST, 16x16 photos, `--tiny-model`): the test
(tests/test_bench_gpu.py) runs it. `--without-tensorflow` makes `import tensorflow` fail in
every part, as on the GPU machine: a rehearsal of the device run on this machine.

The GPU machine (the device tool) has JAX with CUDA, but neither TensorFlow nor Keras, and no
network. Before a session spends device time, here, in the repository's root:

    .venv/bin/python scripts/bench_gpu.py --prepare

writes `.bench_gpu/` (ignored through .git/info/exclude): the wheels of Keras and what it,
zoo and the grain path need that the machine lacks (keras, namex, optree, pydot, imutils,
grain, array-record, portpicker, importlib-resources, for CPython 3.12 on x86-64) and a copy of
Debian's Fashion-MNIST files: 36.5 MiB of the 64 MiB that may travel. Then one call of the
device tool's `run`, with `carry=[".bench_gpu"]` and `timeout_s=500`, and this command:

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target
    /tmp/site .bench_gpu/wheels/*.whl || exit; export PYTHONPATH=/tmp/site:$PWD
    KERAS_BACKEND=jax PYTHONUNBUFFERED=1; python3 scripts/bench_gpu.py --out $OUT
    --budget-s 420 --fashion-dir .bench_gpu/fashion-mnist 2>&1 | tee $OUT/log.txt

(one line; `give_back` right after). Its output ends with the markdown table, and $OUT
holds bench_gpu.json, bench_gpu.md and log.txt.

Rehearsed without a GPU: in a CPython 3.12 virtualenv holding jax 0.11.2 (the GPU machine's
version) and the machine's other packages but no TensorFlow and no zoo install, that command
with `--tiny` added ran every part, the grain path included.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # bench_fit and bench_folder; zoo where not installed

from bench_fit import (  # noqa: E402
    cpu_model,
    plain_model,
    use_keras_batch_norm,
    write_synthetic_cifar,
    zoo_executable,  # noqa: E402
    zoo_settings,
)
from bench_fit import zoo_command as fit_zoo_command  # noqa: E402
from bench_folder import folder_facts, write_photos  # noqa: E402
from bench_folder import zoo_command as folder_zoo_command  # noqa: E402

LR, MOMENTUM, SEED, VAL_SPLIT = 0.01, 0.9, 1, 0.1
MARK = "BENCH_JSON "
DEFAULT_CONFIG = ROOT / "configs" / "fast_fashion_mnist.yaml"
FALLBACK_CONFIG = ROOT / "configs" / "minivggnet_fashion_mnist.yaml"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
PREPARED = ROOT / ".bench_gpu"
# What the GPU machine lacks for zoo on JAX and for the grain path (its image holds the rest:
# numpy, jax, h5py, absl-py, rich, ml-dtypes, pillow, opencv, scikit-learn, matplotlib, ...).
WHEELS = ("keras==3.15.1", "namex==0.1.0", "optree==0.20.0", "pydot==4.0.1", "grain==0.2.18",
          "array-record==0.8.6", "portpicker==1.6.0", "importlib-resources==7.1.0")
SOURCE_ONLY = ("imutils==0.5.4",)  # zoo's folder listing; PyPI has only its sdist: built here
SMI_QUERY = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits", "-lms", "200"]

# The sizes of a full run (an H100 or H200) and of --tiny (the test, on 2 CPU cores).
FULL = {"cifar_train": 50_000, "cifar_test": 10_000, "photos": 2_000, "photo_size": (1024, 768),
        "image_sizes": (64, 224), "epochs": 3, "precision_epochs": 2, "batch_size": 64,
        "fashion": None, "caps": {"fast_preset": 180, "precision": 75, "memory": 90,
                                  "folder": 75}, "min_start_s": 30}
TINY = {"cifar_train": 192, "cifar_test": 64, "photos": 48, "photo_size": (96, 72),
        "image_sizes": (16,), "epochs": 2, "precision_epochs": 2, "batch_size": 32,
        "fashion": (576, 64), "caps": {"fast_preset": 90, "precision": 90, "memory": 90,
                                       "folder": 90}, "min_start_s": 5}


# ---------------------------------------------------------------------------------------------
# the machine


def gpu_facts() -> dict:
    """nvidia-smi's name, driver and memory of the first GPU, or `{}` where there is none."""
    if not shutil.which("nvidia-smi"):
        return {}
    done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                           "--format=csv,noheader,nounits"], capture_output=True, text=True)
    if done.returncode or not done.stdout.strip():
        return {"error": (done.stderr or done.stdout).strip()[-300:]}
    name, driver, memory = (v.strip() for v in done.stdout.splitlines()[0].split(",")[:3])
    return {"name": name, "driver": driver, "memory_mib": int(float(memory))}


def versions() -> dict:
    """Installed versions, read from the packages' metadata (nothing imported here)."""
    found = {"python": sys.version.split()[0]}
    for name in ("jax", "jaxlib", "keras", "numpy", "tensorflow", "grain"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


class GpuSampler:
    """`nvidia-smi ... -lms 200` in the background: (wall time, utilisation %, MiB) samples,
    the wall time taken as each line arrives (the query has no clock of its own)."""

    def __init__(self):
        self.samples: list[tuple[float, float, float]] = []
        self.process = None
        self.thread = None

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            self.process = subprocess.Popen(SMI_QUERY, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, text=True)
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        return self

    def _read(self):
        for line in self.process.stdout:
            try:
                util, memory = (float(v) for v in line.split(",")[:2])
            except ValueError:  # "[N/A]" or a partial line
                continue
            self.samples.append((time.time(), util, memory))

    def __exit__(self, *exc):
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.thread.join(5)

    def stats(self, window: tuple[float, float] | None = None) -> dict | None:
        """Utilisation median and 10th percentile and peak memory, over `window` (wall
        times) or all samples; None without nvidia-smi or samples."""
        rows = [s for s in self.samples
                if window is None or window[0] <= s[0] <= window[1]]
        if not rows:
            return None
        util = [r[1] for r in rows]
        return {"util_median": float(np.median(util)),
                "util_p10": float(np.percentile(util, 10)),
                "memory_mib_max": max(r[2] for r in rows), "samples": len(rows)}


# ---------------------------------------------------------------------------------------------
# data


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes (MNIST's format), gzipped."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def write_fashion_standin(folder: Path, train: int, test: int, seed: int = 0) -> Path:
    """A Fashion-MNIST-shaped stand-in (28x28 grey, 10 classes, the four idx .gz files): per
    class a smooth random template plus noise, so a network has something to learn."""
    rng = np.random.default_rng(seed)
    templates = rng.normal(110, 60, (10, 7, 7)).repeat(4, axis=1).repeat(4, axis=2)
    folder.mkdir(parents=True, exist_ok=True)
    for part, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % 10
        rng.shuffle(labels)
        images = np.clip(templates[labels] + rng.normal(0, 40, (count, 28, 28)), 0, 255)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", images.astype(np.uint8))
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return folder


def fashion_source(args, sizes: dict, work: Path) -> tuple[Path, str]:
    """Where the Fashion-MNIST files are and what they are: Debian's, `--fashion-dir`, or a
    generated stand-in (always under --tiny)."""
    if sizes["fashion"] is None:  # a full run
        for folder, what in ((DEBIAN_FASHION, "Debian's dataset-fashion-mnist"),
                             (Path(args.fashion_dir) if args.fashion_dir else None,
                              "the carried --fashion-dir copy")):
            if folder and all((folder / f).is_file() for f in FASHION_FILES):
                return folder.resolve(), f"Fashion-MNIST: {what} ({folder})"
        train, test = 60_000, 10_000
        folder = write_fashion_standin(work / "fashion-standin", train, test)
        return folder, (f"Fashion-MNIST: NOT FOUND, a generated stand-in of {train} train / "
                        f"{test} test 28x28 images (time to the target means nothing on it)")
    train, test = sizes["fashion"]
    folder = write_fashion_standin(work / "fashion-standin", train, test)
    return folder, (f"Fashion-MNIST: --tiny, a generated stand-in of {train} train / {test} "
                    "test 28x28 images, easy to learn")


# ---------------------------------------------------------------------------------------------
# the plain workers: one process each, printing MARK + JSON


def wall_clock():
    """A Keras callback listing each epoch's (wall start, wall end, seconds)."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = (time.time(), time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((self._start[0], time.time(),
                                time.perf_counter() - self._start[1]))

    return Clock()


def worker_env() -> dict:
    """The backend, its versions and the device it computes on, as this process sees them."""
    import keras

    facts = {"backend": keras.backend.backend(), "keras": keras.__version__}
    if facts["backend"] == "jax":
        import jax

        device = jax.devices()[0]  # named as zoo names it ("gpu:0"), its kind beside
        facts.update(jax=jax.__version__, device=f"{device.platform}:{device.id}",
                     device_kind=device.device_kind)
    return facts


def fit_and_report(model, train, val, clock, args, **fit) -> dict:
    history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=0,
                        callbacks=[clock], **fit)
    start, end, seconds = clock.epochs[-1]
    return {"epoch_seconds": [e[2] for e in clock.epochs], "last_epoch_window": [start, end],
            "val_accuracy": history.history["val_accuracy"][-1], **worker_env()}


def worker_memory(args) -> dict:
    """The plain script on float32 arrays: bench_fit's, with the model a flag."""
    a, y, yv, model = plain_model(args.arrays, args.model)
    result = fit_and_report(model, a["x_train"], (a["x_val"], yv), wall_clock(), args,
                            y=y, batch_size=args.batch_size)
    probs = model.predict(a["x_test"], batch_size=256, verbose=0)
    return {**result, "train_images": len(a["x_train"]),
            "test_accuracy": float((probs.argmax(1) == a["y_test"]).mean())}


def tensorflow_imports() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def worker_folder(args) -> dict:
    """The plain `image_dataset_from_directory` script: tf.data where TensorFlow imports,
    else Keras' grain format (the GPU machine)."""
    import keras

    from zoo.models import build_model

    use_keras_batch_norm()
    size = args.image_size
    keras.utils.set_random_seed(SEED)
    fmt = "tf" if tensorflow_imports() else "grain"
    train, val = keras.utils.image_dataset_from_directory(
        args.photos, validation_split=VAL_SPLIT, subset="both", seed=SEED,
        image_size=(size, size), batch_size=args.batch_size, crop_to_aspect_ratio=True,
        label_mode="categorical", format=fmt, verbose=False)
    count, held, classes = len(train.file_paths), len(val.file_paths), len(train.class_names)
    if fmt == "tf":
        import tensorflow as tf

        train = train.map(lambda x, y: (x / 255.0, y)).prefetch(tf.data.AUTOTUNE)
        val = val.map(lambda x, y: (x / 255.0, y)).prefetch(tf.data.AUTOTUNE)
    else:  # a grain IterDataset of (images, labels) batches
        train = train.map(lambda b: (b[0] / 255.0, b[1]))
        val = val.map(lambda b: (b[0] / 255.0, b[1]))
    model = build_model(args.model, input_shape=(size, size, 3), num_classes=classes)
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM, nesterov=True),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    result = fit_and_report(model, train, val, wall_clock(), args)
    return {**result, "train_images": count, "val_images": held, "format": fmt}


# ---------------------------------------------------------------------------------------------
# running one part


def run_process(command: list[str], env: dict, bound: float, run_dir: Path | None) -> dict:
    """Run `command` in a session of its own for at most `bound` seconds; while it runs,
    note when each row of `run_dir/history.json` appears. Its wall seconds, CPU seconds,
    peak RSS, output, exit code (None: killed at the bound) and the rows with their times
    (all within the 0.2 s poll)."""
    start, start_wall = time.perf_counter(), time.time()
    rows, seen_mtime, code, usage = [], None, None, None
    history = run_dir / "history.json" if run_dir else None
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if history is not None:
                rows, seen_mtime = poll_history(history, rows, seen_mtime, start_wall)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - start > bound:
                _, usage = stop_group(process.pid)
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if history is not None:
        rows, _ = poll_history(history, rows, seen_mtime, start_wall)
    return {"wall_s": seconds, "start_wall": start_wall, "code": code, "output": text,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024,
            "rows": rows}


def poll_history(path: Path, rows: list, seen_mtime, start_wall: float):
    """Rows of a run's history.json (written atomically each epoch), each with `appeared_s`:
    seconds from the spawn to the first time this poll saw it."""
    try:
        mtime = path.stat().st_mtime_ns
        if mtime == seen_mtime:
            return rows, seen_mtime
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return rows, seen_mtime
    now = time.time() - start_wall
    merged = list(rows)
    for row in data[len(rows):]:
        merged.append({**row, "appeared_s": now})
    return merged, mtime


def stop_group(pid: int):
    """SIGTERM the part's whole session (it leads one), SIGKILL it 5 s later if still there;
    reap it: its wait status and resource usage."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage
            time.sleep(0.1)
    _, status, usage = os.wait4(pid, 0)
    return status, usage


def zoo_result(done: dict, target: float, metrics: dict | None = None) -> dict:
    """Figures of a `zoo train` part from its history rows, metrics and first lines. The time
    to `target` is the first epoch's whose validation accuracy reaches it; a run without a
    validation split (the fast preset trains on all its images) reaches it, if at all, with
    its final evaluation (`metrics`' test accuracy), at the end of the process."""
    rows = done["rows"]
    result = {}
    said = re.search(r": (\d+) train / (\d+) val images", done["output"])
    if said:
        result["train_images"], result["val_images"] = int(said[1]), int(said[2])
    where = re.search(r"^on (\S+), batch (\d+)", done["output"], re.MULTILINE)
    if where:
        result["device"], result["batch_size"] = where[1], int(where[2])
    if rows:
        result["epoch_seconds"] = [r["seconds"] for r in rows]
        result["epochs_done"] = len(rows)
        last = rows[-1]
        # history.json is written just after the epoch ends: its appearance closes the window
        end = done["start_wall"] + last["appeared_s"]
        result["last_epoch_window"] = [end - last["seconds"], end]
        if "train_images" in result:
            result["images_per_second"] = result["train_images"] / last["seconds"]
        key = next((k for k in ("val_accuracy", "test_accuracy") if k in last), None)
        if key:
            result["accuracy_key"] = key
            result["best_accuracy"] = max(r[key] for r in rows)
            hit = next((r for r in rows if r[key] >= target), None)
            result["time_to_target_s"] = hit["appeared_s"] if hit else None
            result["epoch_to_target"] = hit["epoch"] if hit else None
            result["train_seconds_to_target"] = (
                sum(r["seconds"] for r in rows if r["epoch"] <= hit["epoch"]) if hit else None)
        elif (metrics or {}).get("accuracy") is not None:
            reached = metrics["accuracy"] >= target
            result.update(accuracy_key="test_accuracy", best_accuracy=metrics["accuracy"],
                          time_to_target_s=done["wall_s"] if reached else None,
                          epoch_to_target=len(rows) if reached else None,
                          train_seconds_to_target=sum(result["epoch_seconds"])
                          if reached else None)
    return result


def plain_result(done: dict) -> dict:
    lines = [t for t in done["output"].splitlines() if t.startswith(MARK)]
    if not lines:
        return {}
    result = json.loads(lines[-1][len(MARK):])
    result["images_per_second"] = result["train_images"] / result["epoch_seconds"][-1]
    return result


def export_splits(settings: dict, folder: Path) -> dict:
    """zoo's train, val and test splits of a run's data as float32 arrays (`x_*.npy`,
    `y_*.npy`), as bench_fit's export worker writes them, without its FLOP count (so without
    Keras); the images in each split."""
    from zoo.config import resolve
    from zoo.data.pipeline import load_all
    from zoo.inputs import prepare

    prepared = prepare(resolve(None, settings))
    counts = {}
    for name in ("train", "val", "test"):
        x, y = load_all(getattr(prepared.splits, name), prepared.eval_transform)
        np.save(folder / f"x_{name}.npy", x)
        np.save(folder / f"y_{name}.npy", y.astype(np.int64))
        counts[name] = len(x)
    return counts


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# the parts


class Bench:
    """The parts of one run: their data, commands, budget and results."""

    def __init__(self, args, sizes: dict, work: Path):
        self.args, self.sizes, self.work = args, sizes, work
        self.start = time.perf_counter()
        self.parts: dict[str, dict] = {}
        self.notes: list[str] = []
        self.env = dict(os.environ)
        self.env["KERAS_BACKEND"] = args.backend
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.env_with_tensorflow = self.env
        if args.without_tensorflow:
            stub = work / "no-tensorflow"
            stub.mkdir()
            (stub / "tensorflow.py").write_text(
                "raise ImportError(\"No module named 'tensorflow' (bench_gpu.py "
                "--without-tensorflow: as on the GPU machine)\")\n")
            self.env = {**self.env, "PYTHONPATH": os.pathsep.join([str(stub),
                                                                   self.env["PYTHONPATH"]])}
            self.notes.append("--without-tensorflow: `import tensorflow` fails in every part")
        self._fashion = self._cifar = self._arrays = self._photos = None

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.start)

    # data, made on first use (its time counts against the budget)

    def fashion(self) -> Path:
        if self._fashion is None:
            self._fashion, said = fashion_source(self.args, self.sizes, self.work)
            self.notes.append(said)
        return self._fashion

    def config(self) -> Path:
        path = Path(self.args.config)
        if not path.is_file() and self.args.tiny and not self.args.config_given:
            note = (f"{path.relative_to(ROOT)} is not there yet: --tiny used "
                              f"{FALLBACK_CONFIG.relative_to(ROOT)}")
            if note not in self.notes:
                self.notes.append(note)
            return FALLBACK_CONFIG
        return path

    def arrays(self) -> Path:
        """The synthetic CIFAR-10 set, and zoo's splits of it as float32 .npy arrays (what the
        plain script trains on), made here: zoo's data code imports no Keras."""
        if self._arrays is None:
            started = time.perf_counter()
            s = self.sizes
            self._cifar = write_synthetic_cifar(self.work / "cifar", s["cifar_train"],
                                                s["cifar_test"])
            self._arrays = self.work / "arrays"
            self._arrays.mkdir()
            ns = argparse.Namespace(dataset="cifar10", data_dir=str(self._cifar), limit=None,
                                    epochs=s["epochs"], batch_size=s["batch_size"])
            counts = export_splits(zoo_settings(ns), self._arrays)
            self.notes.append(
                f"CIFAR-10: synthetic, in CIFAR-10's layout, {counts['train']} train / "
                f"{counts['val']} val (zoo's 10%) / {counts['test']} test 32x32x3; written and "
                f"exported to arrays in {time.perf_counter() - started:.1f} s (not in any row)")
        return self._arrays

    def photos(self) -> Path:
        if self._photos is None:
            started = time.perf_counter()
            width, height = self.sizes["photo_size"]
            self._photos, _ = write_photos(self.work / "photos", self.sizes["photos"], width,
                                           height)
            facts = folder_facts(self._photos)
            self.notes.append(
                f"photos: {facts['images']} synthetic {width}x{height} JPEGs in 2 classes "
                f"({facts['bytes'] / 2**20:.1f} MiB), written in "
                f"{time.perf_counter() - started:.1f} s (not in any row)")
        return self._photos

    # commands

    def zoo_flags(self) -> list[str]:
        # --tiny: the report page (predictions, plots, Grad-CAM) costs a tiny run a third of
        # its CPU seconds; the full run keeps zoo's default (on), as a user gets it
        return ["--model", self.args.tiny_model, "--no-report"] if self.args.tiny else []

    def fast_preset(self, name: str, epochs: int | None = None, precision: str | None = None):
        flags = ["train", "--config", str(self.config()), "--data-dir", str(self.fashion()),
                 "--output", str(self.work / "runs"), "--name", name]
        flags += ["--epochs", str(epochs)] if epochs else []
        flags += ["--precision", precision] if precision else []
        if self.args.tiny:
            flags += ["--epochs", str(epochs or self.sizes["epochs"])] + self.zoo_flags()
        return zoo_executable() + flags, self.work / "runs" / name

    def memory_zoo(self, name: str):
        s = self.sizes
        self.arrays()
        ns = argparse.Namespace(dataset="cifar10", data_dir=str(self._cifar), limit=None,
                                epochs=s["epochs"], batch_size=s["batch_size"])
        return (fit_zoo_command(ns, self.zoo_flags(), self.work / "runs", name),
                self.work / "runs" / name)

    def memory_plain(self, name: str):
        return [sys.executable, __file__, "--worker", "memory", "--arrays", str(self.arrays()),
                "--epochs", str(self.sizes["epochs"]), "--batch-size",
                str(self.sizes["batch_size"]), "--model", self.model()], None

    def folder_zoo(self, name: str, size: int):
        s = self.sizes
        ns = argparse.Namespace(epochs=s["epochs"], batch_size=s["batch_size"])
        return (folder_zoo_command(ns, f"folder:{self.photos()}", size, self.zoo_flags(),
                                   self.work / "runs", name),
                self.work / "runs" / name)

    def folder_plain(self, name: str, size: int):
        env = self.env
        if self.args.without_tensorflow and importlib.util.find_spec("grain") is None:
            # the plain folder script needs tf.data or grain; where grain is not installed
            # (only the device run carries it) it keeps TensorFlow
            env = self.env_with_tensorflow
            note = ("--without-tensorflow: grain is not installed here, so the plain folder "
                    "script kept TensorFlow (format='tf')")
            if note not in self.notes:
                self.notes.append(note)
        return [sys.executable, __file__, "--worker", "folder", "--photos", str(self.photos()),
                "--image-size", str(size), "--epochs", str(self.sizes["epochs"]),
                "--batch-size", str(self.sizes["batch_size"]), "--model", self.model()], None, env

    def model(self) -> str:
        return self.args.tiny_model if self.args.tiny else "minivggnet"

    def plan(self) -> list[tuple[str, str, str, object]]:
        """(part, group, what, command maker) in the order they run."""
        s = self.sizes
        plan = [
            ("fast_preset", "fast_preset", "the fast preset as it is, to the target",
             lambda n: self.fast_preset(n)),
            ("float32", "precision", f"the fast preset, {s['precision_epochs']} epochs, "
             "--precision float32", lambda n: self.fast_preset(n, s["precision_epochs"],
                                                               "float32")),
            ("mixed_bfloat16", "precision", f"the fast preset, {s['precision_epochs']} "
             "epochs, --precision mixed_bfloat16",
             lambda n: self.fast_preset(n, s["precision_epochs"], "mixed_bfloat16")),
            ("memory_zoo", "memory", f"zoo train, CIFAR-format, {s['epochs']} epochs, batch "
             f"{s['batch_size']}", self.memory_zoo),
            ("memory_plain", "memory", "plain model.fit on float32 arrays", self.memory_plain),
        ]
        for size in s["image_sizes"]:
            plan += [
                (f"folder_zoo_{size}", "folder", f"zoo train --dataset folder: at {size}x{size}",
                 lambda n, size=size: self.folder_zoo(n, size)),
                (f"folder_plain_{size}", "folder", f"plain image_dataset_from_directory at "
                 f"{size}x{size}", lambda n, size=size: self.folder_plain(n, size)),
            ]
        return [p for p in plan if not self.args.parts or p[0] in self.args.parts
                or p[1] in self.args.parts]

    def run_part(self, name: str, group: str, what: str, make) -> dict:
        part = {"what": what}
        left = self.left()
        if left < self.sizes["min_start_s"]:
            return {**part, "status": "skipped",
                    "reason": f"budget: {max(left, 0):.0f} s of --budget-s "
                              f"{self.args.budget_s:.0f} left, under the "
                              f"{self.sizes['min_start_s']} s a part needs to start"}
        try:
            command, run_dir, *env = make(name)  # makes the part's data on first use
        except Exception as exc:  # its data could not be made: the other parts still run
            return {**part, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        if self.left() < self.sizes["min_start_s"]:
            return {**part, "status": "skipped",
                    "reason": f"budget: {max(self.left(), 0):.0f} s left after making its "
                              f"data, under the {self.sizes['min_start_s']} s a part needs"}
        if name.startswith("fast_preset") or group == "precision":
            config = command[command.index("--config") + 1]
            if not Path(config).is_file():
                return {**part, "status": "skipped",
                        "reason": f"no preset at {config} (--config FILE)"}
        bound = min(self.sizes["caps"][group], self.left())
        print(f"[{time.perf_counter() - self.start:6.1f} s] {name}: {what} (at most "
              f"{bound:.0f} s)", flush=True)
        with GpuSampler() as sampler:
            done = run_process(command, env[0] if env else self.env, bound, run_dir)
        part.update(wall_s=done["wall_s"], cpu_s=done["cpu_s"],
                    peak_rss_mib=done["peak_rss_mib"])
        metrics = None
        if run_dir and (run_dir / "metrics.json").is_file():
            metrics = json.loads((run_dir / "metrics.json").read_text())
        figures = zoo_result(done, self.args.target, metrics) if run_dir else \
            plain_result(done)
        part.update(figures)
        if metrics is not None:
            part["test_accuracy"] = metrics.get("accuracy")
        whole = sampler.stats()
        steady = sampler.stats(tuple(figures["last_epoch_window"])) if (
            "last_epoch_window" in figures) else None
        part["gpu_whole"], part["gpu_last_epoch"] = whole, steady
        if done["code"] is None:
            part["status"] = "timed_out"
            part["reason"] = (f"killed at its bound of {bound:.0f} s after "
                              f"{part.get('epochs_done', 0)} epochs")
        elif done["code"] != 0:
            part["status"], part["reason"] = "failed", f"exit {done['code']}"
        elif not part.get("images_per_second"):
            part["status"], part["reason"] = "failed", "no epoch figures in its output"
        else:
            part["status"] = "ok"
        if part["status"] != "ok":
            part["output_tail"] = tail(done["output"], 25)
        if run_dir and run_dir.exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        print(f"[{time.perf_counter() - self.start:6.1f} s] {name}: {part['status']}"
              f"{', ' + part['reason'] if part.get('reason') else ''}; "
              f"{fmt(part.get('images_per_second'), 0)} images/s, {part['wall_s']:.1f} s"
              + (f"\n{part['output_tail']}" if part.get("output_tail") else ""), flush=True)
        return part

    def run(self) -> dict:
        for name, group, what, make in self.plan():
            self.parts[name] = self.run_part(name, group, what, make)
        return self.parts


# ---------------------------------------------------------------------------------------------
# the report


def fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def util_cell(stats: dict | None) -> str:
    return "n/a" if not stats else f"{stats['util_median']:.0f} / {stats['util_p10']:.0f}"


def ratio(parts: dict, a: str, b: str, key: str = "images_per_second") -> str | None:
    x, y = parts.get(a, {}).get(key), parts.get(b, {}).get(key)
    return f"{x / y:.2f}" if x and y else None


def markdown(report: dict) -> str:
    parts, env = report["parts"], report["environment"]
    gpu = env["gpu"]
    device = (f"{gpu['name']} ({gpu['memory_mib']} MiB, driver {gpu['driver']})"
              if gpu.get("name") else f"no GPU (nvidia-smi: {gpu.get('error', 'absent')}); "
              f"CPU {env['cpu']}")
    v = env["versions"]
    tensorflow = ("blocked (--without-tensorflow)" if report["without_tensorflow"]
                  else v["tensorflow"] or "absent")
    lines = [f"# bench_gpu{' --tiny' if report['tiny'] else ''}: zoo with KERAS_BACKEND="
             f"{env['backend']}", "",
             f"Device: {device}; jax {v['jax']} (jaxlib {v['jaxlib']}), keras {v['keras']}, "
             f"numpy {v['numpy']}, Python {v['python']}, tensorflow {tensorflow}, grain "
             f"{v['grain'] or 'absent'}; {env['cpus']} CPUs; {report['date']}.", ""]
    lines += [f"- {note}" for note in report["notes"]] + [""]
    lines += ["| part | images/s | wall s | GPU util % median / p10, last epoch | GPU util % "
              "median, whole run | GPU MiB peak | computes on | notes |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, p in parts.items():
        if p["status"] == "skipped":
            lines.append(f"| {name} | skipped | | | | | | {p['reason']} |")
            continue
        whole = p.get("gpu_whole")
        notes = [p["what"]]
        if p["status"] != "ok":
            notes.insert(0, f"**{p['status']}**: {p['reason']}")
        if p.get("format"):
            notes.append(f"format={p['format']}")
        if p.get("test_accuracy") is not None:
            notes.append(f"test acc {p['test_accuracy']:.4f}")
        elif p.get("val_accuracy") is not None:
            notes.append(f"val acc {p['val_accuracy']:.4f}")
        lines.append(
            f"| {name} | {fmt(p.get('images_per_second'), 0)} | {fmt(p.get('wall_s'))} | "
            f"{util_cell(p.get('gpu_last_epoch'))} | "
            f"{fmt(whole and whole['util_median'], 0)} | "
            f"{fmt(whole and whole['memory_mib_max'], 0)} | {p.get('device', 'n/a')} | "
            f"{'; '.join(notes)} |")
    lines.append("")
    fast = parts.get("fast_preset", {})
    if fast.get("status") in ("ok", "timed_out"):
        target = report["target"]
        if fast.get("time_to_target_s") is not None:
            lines.append(
                f"Fast preset: {fast['accuracy_key']} reached {target} at epoch "
                f"{fast['epoch_to_target']}, {fast['time_to_target_s']:.1f} s after the "
                f"process started ({fast['train_seconds_to_target']:.1f} s of training "
                f"epochs); the whole process took {fast['wall_s']:.1f} s.")
        else:
            lines.append(
                f"Fast preset: {fast.get('accuracy_key', 'accuracy')} did not reach {target} "
                f"in {fast.get('epochs_done', 0)} epochs (best "
                f"{fmt(fast.get('best_accuracy'), 4)}); the whole process took "
                f"{fast['wall_s']:.1f} s.")
    for label, a, b in [("mixed_bfloat16 / float32", "mixed_bfloat16", "float32"),
                        ("in memory, zoo / plain", "memory_zoo", "memory_plain")] + [
            (f"folder {s}x{s}, zoo / plain", f"folder_zoo_{s}", f"folder_plain_{s}")
            for s in report["image_sizes"]]:
        r = ratio(parts, a, b)
        if r:
            lines.append(f"- images/s, {label}: {r}; whole process, {b} s / {a} s: "
                         f"{ratio(parts, b, a, 'wall_s')}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# preparing the device run


def prepare() -> None:
    """`.bench_gpu/`: the wheels the GPU machine lacks and Debian's Fashion-MNIST files."""
    wheels = PREPARED / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    exclude = Path(subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"],
                                  cwd=ROOT, capture_output=True, text=True).stdout.strip())
    if not exclude.is_absolute():
        exclude = ROOT / exclude
    exclude.parent.mkdir(parents=True, exist_ok=True)
    if "/.bench_gpu/" not in (exclude.read_text() if exclude.exists() else "").split():
        with exclude.open("a") as fh:
            fh.write("/.bench_gpu/\n")
    platforms = [f"--platform={p}" for p in (
        "manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
        "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *platforms, "-d", str(wheels), *WHEELS], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    *SOURCE_ONLY], check=True)
    if all((DEBIAN_FASHION / f).is_file() for f in FASHION_FILES):
        (PREPARED / "fashion-mnist").mkdir(exist_ok=True)
        for f in FASHION_FILES:
            shutil.copy2(DEBIAN_FASHION / f, PREPARED / "fashion-mnist" / f)
    else:
        print(f"no {DEBIAN_FASHION} here (apt-get install dataset-fashion-mnist): the device "
              "run will use a generated stand-in unless the machine has the files")
    size = sum(f.stat().st_size for f in PREPARED.rglob("*") if f.is_file())
    print(f"{PREPARED}: {size / 2**20:.1f} MiB ({len(list(wheels.glob('*.whl')))} wheels); "
          f"the working tree travels too, 64 MiB in all. The device command is in this "
          f"script's docstring.")


# ---------------------------------------------------------------------------------------------
# the driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true",
                        help="every part on tiny synthetic data, in seconds on a CPU (the test)")
    parser.add_argument("--out", default=".", help="folder for bench_gpu.json and .md")
    parser.add_argument("--budget-s", type=float, default=420,
                        help="seconds for everything; a part that would not fit is skipped")
    parser.add_argument("--config", help=f"the fast preset (default {DEFAULT_CONFIG.name})")
    parser.add_argument("--target", type=float, default=0.93,
                        help="the accuracy the fast preset is timed to")
    parser.add_argument("--fashion-dir", help="Fashion-MNIST's four idx .gz files, where "
                        f"{DEBIAN_FASHION} is absent (the device run: .bench_gpu/fashion-mnist)")
    parser.add_argument("--parts", nargs="+", help="only these parts or groups (fast_preset, "
                        "precision, memory, folder, or a part's name)")
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND of the parts")
    parser.add_argument("--tiny-model", default="shallownet",
                        help="--tiny: the model every part trains (quick to compile)")
    parser.add_argument("--without-tensorflow", action="store_true",
                        help="make `import tensorflow` fail in every part (as on the GPU)")
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--prepare", action="store_true",
                        help="write .bench_gpu/ (wheels, Fashion-MNIST) for the device run")
    parser.add_argument("--worker", choices=("memory", "folder"), help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    parser.add_argument("--photos", help=argparse.SUPPRESS)
    parser.add_argument("--image-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="minivggnet", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        from zoo.backend import load_keras

        load_keras()
        result = (worker_memory if args.worker == "memory" else worker_folder)(args)
        print(MARK + json.dumps(result), flush=True)
        return 0
    if args.prepare:
        prepare()
        return 0
    args.config_given = args.config is not None
    args.config = str(Path(args.config).resolve()) if args.config else str(DEFAULT_CONFIG)
    sizes = TINY if args.tiny else FULL
    known = {"fast_preset", "precision", "float32", "mixed_bfloat16", "memory", "memory_zoo",
             "memory_plain", "folder"} | {f"folder_{kind}_{size}" for kind in ("zoo", "plain")
                                          for size in sizes["image_sizes"]}
    unknown = sorted(set(args.parts or ()) - known)
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; choose from "
                     f"{', '.join(sorted(known))}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    env = {"backend": args.backend, "gpu": gpu_facts(), "versions": versions(),
           "cpu": cpu_model(), "cpus": os.cpu_count()}
    print(f"bench_gpu{' --tiny' if args.tiny else ''}: KERAS_BACKEND={args.backend}, "
          f"budget {args.budget_s:.0f} s; GPU {env['gpu'] or 'none'}; {env['versions']}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_gpu-", dir=args.work) as tmp:
        bench = Bench(args, sizes, Path(tmp))
        parts = bench.run()
        notes = bench.notes
    if env["gpu"].get("name") and args.backend == "jax":
        notes.append("GPU MiB peak is nvidia-smi's memory.used: JAX takes 75% of the GPU's "
                     "memory for its pool as a process starts, so it shows the pool, not what "
                     "the part needs")
    report = {"tiny": args.tiny, "without_tensorflow": args.without_tensorflow,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "budget_s": args.budget_s, "target": args.target, "config": args.config,
              "image_sizes": list(sizes["image_sizes"]), "environment": env, "notes": notes,
              "total_s": time.perf_counter() - bench.start, "parts": parts}
    (out / "bench_gpu.json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    (out / "bench_gpu.md").write_text(text)
    print("\n" + text, flush=True)
    print(f"{report['total_s']:.0f} s in all; wrote {out / 'bench_gpu.json'} and "
          f"{out / 'bench_gpu.md'}", flush=True)
    return 1 if any(p["status"] in ("failed", "timed_out") for p in parts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
