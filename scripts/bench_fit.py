"""`zoo train` against a plain Keras `model.fit` script and PyTorch eager: same MiniVGGNet, data.

Each runner is its own process, started by this script, and the runners alternate (the order
rotates every repeat), so all three see the same machine state; each row is the median of the
repeats, with their min-max.

- zoo: the `zoo train` command itself (`zoo train --model minivggnet --dataset cifar10
  --data-dir D ...`): its pipeline keeps images as uint8 and scales them in loader threads,
  it runs 8 steps per compiled call, and it writes its checkpoint, best model, history and
  monitor.png every epoch and evaluates the test split at the end.
- plain: a seed-script-style Keras program: float32 arrays, `model.compile(...)` with Keras'
  defaults, `model.fit(x, y, validation_data=..., batch_size=64, epochs=N)`, then
  `model.predict` on the test split. Same builder (`zoo.models.build_model`), with
  Keras' own batch-normalisation arithmetic (zoo's fused TensorFlow kernel turned off).
- torch: the same network written in PyTorch eager (channels-first, NCHW; conv-ReLU-BN order,
  BN eps 1e-3 and momentum 0.01 = Keras' 0.99, Glorot-uniform weights and zero biases as in
  Keras, dropout 0.25/0.25/0.5, a linear layer with the softmax folded into
  `CrossEntropyLoss`), `torch.optim.SGD` with the same rate, momentum and Nesterov flag,
  `torch.set_num_threads(os.cpu_count())`. It trains on the same float32 arrays, shuffled
  each epoch by indexing a permutation (no DataLoader), validates every epoch and predicts the
  test split at the end. Runs only where torch imports (`pip install -e '.[torch]'`, or
  `--torch-path DIR`, prepended to PYTHONPATH for that process only).

All three use SGD 0.01, momentum 0.9, Nesterov, batch 64, seed 1, and validate every epoch on
the same held-out images. Data: by default a synthetic CIFAR-10-shaped set written in
CIFAR-10's own file layout (10,000 train images of 32x32x3 in 10 classes, zoo holds 10% out for
validation: 9,000 train / 1,000 val; 1,000 test); plain and torch get exactly zoo's splits as
float32 arrays (`zoo.data.pipeline.load_all`), saved to .npy files they load.

Figures per run: images/s of the last epoch (training images / that epoch's seconds, from its
start to the end of its validation pass: zoo's `seconds` in history.json, the same span timed
in the other two), and seconds for the whole process (start-up, imports, data, training,
final evaluation: wall time from spawn to exit). Achieved GFLOP/s = (train images x 3 x
forward FLOPs + validation images x forward FLOPs) / last-epoch seconds, forward FLOPs from
`zoo.models.flops.count_flops`, against numpy's float32 matmul rate measured at the start.

    .venv/bin/python scripts/bench_fit.py --repeats 3 --torch-path /tmp/torchpkg

On a shared machine: before the matmul and before each run the script waits (`--idle-wait`,
up to 90 s) for a second in which other processes use under a quarter of a core, and it prints
the cores other processes used during each run (/proc/stat's busy time less the run's own), so
disturbed runs can be told apart.

Levers: `--runners` takes extra zoo variants as `zoo:KEY=VALUE,...`, KEY `spe` for
`--steps-per-execution` or an environment variable, e.g. `zoo:spe=1`,
`zoo:TF_ENABLE_ONEDNN_OPTS=0` (TensorFlow's Eigen kernels, what it picks itself on a CPU
without AVX-512 VNNI/BF16), `plain:TF_ENABLE_ONEDNN_OPTS=1` (the plain script given oneDNN),
`zoo:TF_NUM_INTEROP_THREADS=1`. `--decompose` times zoo's input pipeline alone, the training
step alone and the two together, in one process, and exits.
"""

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The environment the runners start from, taken before this script imports zoo (whose
# `import` asks TensorFlow for oneDNN, zoo.backend.prefer_onednn): plain and torch get the
# machine's own defaults, as a user's script would.
START_ENV = dict(os.environ)

LR, MOMENTUM, SEED = 0.01, 0.9, 1
MARK = "BENCH_JSON "


# ---------------------------------------------------------------------------------------------
# the machine


def sgemm_gflops(n: int = 4096, repeats: int = 5) -> tuple[float, list[float]]:
    """numpy float32 matmul rate (2 n^3 FLOPs), median of `repeats` after a warm-up."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates), rates


def cpu_model() -> str:
    """lscpu's model name and the widest vector instructions the CPU has."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name} ({isa})"


def load() -> str:
    return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def busy_seconds() -> float:
    """CPU-seconds the whole machine has spent busy since boot (/proc/stat), 0 elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(limit: float, threshold: float = 0.25) -> float:
    """Wait (at most `limit` seconds) until other processes use under `threshold` cores over
    a second; return the cores they used in the last second."""
    deadline = time.monotonic() + limit
    while True:
        before = busy_seconds()
        time.sleep(1)
        others = busy_seconds() - before
        if others < threshold or time.monotonic() > deadline:
            return others


# ---------------------------------------------------------------------------------------------
# data


def write_synthetic_cifar(root: Path, train: int, test: int, seed: int = 0) -> Path:
    """A CIFAR-10-shaped set in CIFAR-10's python layout (`cifar-10-batches-py/`): per class
    a smooth random template plus noise, so the networks have something to learn."""
    rng = np.random.default_rng(seed)
    templates = rng.normal(128, 40, (10, 3, 4, 4)).repeat(8, axis=2).repeat(8, axis=3)

    def images(count):
        labels = rng.integers(0, 10, count)
        x = templates[labels] + rng.normal(0, 50, (count, 3, 32, 32))
        return np.clip(x, 0, 255).astype(np.uint8).reshape(count, -1), labels.tolist()

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    per_batch = -(-train // 5)
    for i in range(5):
        data, labels = images(min(per_batch, train - i * per_batch))
        (folder / f"data_batch_{i + 1}").write_bytes(
            pickle.dumps({b"data": data, b"labels": labels}))
    data, labels = images(test)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    (folder / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [f"class{i}".encode() for i in range(10)]}))
    return root


def zoo_settings(args) -> dict:
    settings = {"model": "minivggnet", "dataset": args.dataset, "epochs": args.epochs,
                "batch_size": args.batch_size, "lr": LR, "momentum": MOMENTUM,
                "nesterov": True, "seed": SEED}
    if args.data_dir:
        settings["data_dir"] = args.data_dir
    if args.limit:
        settings["limit"] = args.limit
    return settings


def export_arrays(args, folder: Path) -> dict:
    """zoo's splits of the run's data as float32 arrays (what plain and torch train on), and
    the forward FLOPs of the model at that input."""
    from zoo.backend import load_keras

    load_keras()
    from zoo.config import resolve
    from zoo.data.pipeline import load_all
    from zoo.inputs import prepare
    from zoo.models import build_model
    from zoo.models.flops import count_flops

    prepared = prepare(resolve(None, zoo_settings(args)))
    splits = prepared.splits
    for name in ("train", "val", "test"):
        x, y = load_all(getattr(splits, name), prepared.eval_transform)
        np.save(folder / f"x_{name}.npy", x)
        np.save(folder / f"y_{name}.npy", y.astype(np.int64))
    model = build_model("minivggnet", input_shape=prepared.input_shape,
                        num_classes=splits.num_classes)
    return {"flops": count_flops(model), "shape": list(prepared.input_shape),
            "classes": splits.num_classes, "train": len(splits.train), "val": len(splits.val),
            "test": len(splits.test)}


def read_arrays(folder: str):
    return {f"{kind}_{name}": np.load(Path(folder) / f"{kind}_{name}.npy")
            for kind in ("x", "y") for name in ("train", "val", "test")}


# ---------------------------------------------------------------------------------------------
# workers: one process each


def use_keras_batch_norm() -> None:
    """Make zoo's builders train with Keras' own batch-normalisation arithmetic, op by op, as
    the script a user writes does: zoo's fused TensorFlow kernel is turned off in this
    process (`zoo.models.layers.BatchNormalization`)."""
    from zoo.models.layers import BatchNormalization

    BatchNormalization._fusable = lambda self, inputs: False


def epoch_clock():
    """A Keras callback whose `seconds` lists each epoch's wall seconds (with its validation)."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return Clock()


def plain_model(arrays: str, model_name: str = "minivggnet"):
    """What the plain script builds: the arrays, one-hot labels, and `model_name` compiled as a
    user would (Keras' own batch norm, SGD with Nesterov momentum). Returns
    `(arrays, y_train, y_val, model)`; bench_gpu's in-memory part builds the same."""
    import keras

    from zoo.models import build_model

    use_keras_batch_norm()
    a = read_arrays(arrays)
    classes = int(a["y_train"].max()) + 1
    y, yv = (keras.utils.to_categorical(a[k], classes) for k in ("y_train", "y_val"))
    keras.utils.set_random_seed(SEED)
    model = build_model(model_name, input_shape=a["x_train"].shape[1:], num_classes=classes)
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM, nesterov=True),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return a, y, yv, model


def worker_plain(args) -> dict:
    a, y, yv, model = plain_model(args.arrays)
    clock = epoch_clock()
    history = model.fit(a["x_train"], y, validation_data=(a["x_val"], yv),
                        batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                        callbacks=[clock])
    probs = model.predict(a["x_test"], batch_size=256, verbose=0)
    return {"epoch_seconds": clock.seconds, "val_accuracy": history.history["val_accuracy"][-1],
            "test_accuracy": float((probs.argmax(1) == a["y_test"]).mean())}


def worker_torch(args) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(SEED)
    a = read_arrays(args.arrays)
    x, xv, xt = (torch.from_numpy(np.ascontiguousarray(a[k].transpose(0, 3, 1, 2)))
                 for k in ("x_train", "x_val", "x_test"))
    y, yv = (torch.from_numpy(a[k]) for k in ("y_train", "y_val"))
    classes, channels, size = int(a["y_train"].max()) + 1, x.shape[1], x.shape[2]

    layers, c_in = [], channels
    for filters in (32, 64):  # zoo/models/minivggnet.py: (conv, ReLU, BN) x 2, pool, dropout
        for _ in (1, 2):
            layers += [nn.Conv2d(c_in, filters, 3, padding=1), nn.ReLU(),
                       nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01)]
            c_in = filters
        layers += [nn.MaxPool2d(2), nn.Dropout(0.25)]
    layers += [nn.Flatten(), nn.Linear(c_in * (size // 4) ** 2, 512), nn.ReLU(),
               nn.BatchNorm1d(512, eps=1e-3, momentum=0.01), nn.Dropout(0.5),
               nn.Linear(512, classes)]  # softmax: in CrossEntropyLoss
    model = nn.Sequential(*layers)
    for layer in model:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):  # Keras' glorot_uniform, zero bias
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)

    def predict(images, batch):
        model.eval()
        with torch.no_grad():
            return torch.cat([model(images[i : i + batch]) for i in range(0, len(images), batch)])

    seconds, val_accuracy = [], 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), args.batch_size):
            index = order[i : i + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        val_accuracy = float((predict(xv, args.batch_size).argmax(1) == yv).float().mean())
        seconds.append(time.perf_counter() - start)
    test = predict(xt, 256).argmax(1).numpy()
    return {"epoch_seconds": seconds, "val_accuracy": val_accuracy,
            "test_accuracy": float((test == a["y_test"]).mean()),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def decompose(args) -> None:
    """zoo's input pipeline alone, the training step alone and the two together (TensorFlow
    backend, no validation, no callbacks), on the first `--decompose-steps` batches of the
    training split; images/s, median of 3 timed passes after a tracing one."""
    from zoo.backend import load_keras

    keras = load_keras()
    import tensorflow as tf

    from zoo.config import resolve
    from zoo.data.pipeline import make_sequence
    from zoo.data.splits import Split
    from zoo.inputs import prepare
    from zoo.models import build_model
    from zoo.models.flops import count_flops

    prepared = prepare(resolve(None, zoo_settings(args)))
    splits = prepared.splits
    steps, batch = args.decompose_steps, args.batch_size
    n = steps * batch
    train = Split(splits.train.source, splits.train.indices[:n])
    classes = splits.num_classes
    print(f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads()} / inter-op "
          f"{tf.config.threading.get_inter_op_parallelism_threads()} (0: TensorFlow's "
          f"choice), TF_NUM_INTRAOP_THREADS={os.environ.get('TF_NUM_INTRAOP_THREADS')}, "
          f"TF_NUM_INTEROP_THREADS={os.environ.get('TF_NUM_INTEROP_THREADS')}; {steps} steps "
          f"of {batch}; {load()}", flush=True)

    def sequence():
        return make_sequence(train, prepared.train_transform, classes, batch, shuffle=True,
                             seed=SEED)

    def model_for(spe):
        keras.utils.set_random_seed(SEED)
        model = build_model("minivggnet", input_shape=prepared.input_shape,
                            num_classes=classes)
        model.compile(steps_per_execution=spe,
                      optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM, nesterov=True),
                      loss=keras.losses.CategoricalCrossentropy(),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"),
                               keras.metrics.TopKCategoricalAccuracy(k=5, name="top5")])
        return model

    flops = count_flops(model_for(1))

    def report(name, run, step=True):
        run()  # tracing, warm-up
        if args.idle_wait:
            wait_for_idle(args.idle_wait / 3)
        rates, start_all, busy = [], time.perf_counter(), busy_seconds()
        own = time.process_time()
        for _ in range(3):
            start = time.perf_counter()
            run()
            rates.append(n / (time.perf_counter() - start))
        wall = time.perf_counter() - start_all
        others = max(0.0, busy_seconds() - busy - (time.process_time() - own)) / wall
        rate = statistics.median(rates)
        work = f"{rate * 3 * flops / 1e9:4.0f} GFLOP/s" if step else "no model"
        print(f"{name:64s} {rate:7.0f} images/s, {1000 * batch / rate:6.2f} ms a batch, "
              f"{work} (runs {', '.join(f'{r:.0f}' for r in rates)}); others used {others:.2f} "
              f"cores", flush=True)

    parts = args.decompose_parts
    seq = sequence()
    if "pipeline" in parts:
        report("pipeline alone: zoo's PyDataset __getitem__, one thread",
               lambda: [seq[i] for i in range(len(seq))], step=False)
    x, y = seq[0]
    xt, yt = tf.constant(x), tf.constant(y)
    if "step" in parts:
        model = model_for(1)
        report("step alone: train_on_batch on one batch of tensors",
               lambda: [model.train_on_batch(xt, yt) for _ in range(steps)])
    if not {"repeated", "fit", "tfdata"} & set(parts):
        return

    def repeated(autotune):
        data = tf.data.Dataset.from_tensors((xt, yt)).repeat()
        if not autotune:  # what Keras does for a PyDataset with loader threads
            options = tf.data.Options()
            options.autotune.enabled = False
            options.threading.private_threadpool_size = 1
            data = data.with_options(options)
        return data

    for spe in args.decompose_spe if "repeated" in parts else []:
        for autotune in (False, True):
            model, data = model_for(spe), repeated(autotune)
            report(f"step alone: one batch repeated, tf.data autotune "
                   f"{'on ' if autotune else 'off'}, {spe} steps a call",
                   lambda m=model, d=data: m.fit(d, steps_per_epoch=steps, epochs=1, verbose=0))
    def uint8_dataset():
        """What a tf.data path for in-memory images without augmentation would feed: the
        uint8 images and labels as tensors, shuffled each pass, batched, scaled and one-hot
        encoded in the graph, no Python per batch."""
        images, ok = train.source.load(train.indices)
        labels = train.source.labels[train.indices]
        data = tf.data.Dataset.from_tensor_slices((images[ok], labels[ok]))
        data = data.shuffle(len(labels), seed=SEED, reshuffle_each_iteration=True).batch(batch)
        data = data.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0,
                                      tf.one_hot(y, classes, dtype=tf.float32)))
        options = tf.data.Options()
        options.autotune.enabled = False
        options.threading.private_threadpool_size = 1
        return data.prefetch(2).with_options(options)

    x_all = np.concatenate([seq[i][0] for i in range(len(seq))])
    y_all = np.concatenate([seq[i][1] for i in range(len(seq))])
    for spe in args.decompose_spe if "fit" in parts else []:
        model, data = model_for(spe), sequence()
        report(f"zoo's PyDataset + step, {spe} steps a call",
               lambda m=model, d=data: m.fit(d, epochs=1, verbose=0, shuffle=False))
        model = model_for(spe)
        report(f"float32 arrays (Keras' array adapter) + step, {spe} steps a call",
               lambda m=model: m.fit(x_all, y_all, batch_size=batch, epochs=1, verbose=0))
    for spe in args.decompose_spe if "tfdata" in parts else []:
        model, data = model_for(spe), uint8_dataset()
        report(f"tf.data of the uint8 images (scaled in the graph) + step, {spe} a call",
               lambda m=model, d=data: m.fit(d, epochs=1, verbose=0))


# ---------------------------------------------------------------------------------------------
# the driver


def parse_runner(name: str) -> tuple[str, list[str], dict]:
    """`zoo`, `plain`, `torch`, `zoo:spe=4,TF_NUM_INTEROP_THREADS=1` or
    `plain:TF_ENABLE_ONEDNN_OPTS=1` -> kind, extra zoo flags, extra environment."""
    kind, _, spec = name.partition(":")
    if kind not in ("zoo", "plain", "torch"):
        raise SystemExit(f"bench_fit: unknown runner {name!r}")
    return (kind, *runner_settings(spec, None if kind == "zoo" else name))


def runner_settings(spec: str, plain: str | None = None) -> tuple[list[str], dict]:
    """`spe=4,workers=2,TF_NUM_INTEROP_THREADS=1` -> extra `zoo train` flags and environment:
    `spe` is `--steps-per-execution`, `workers` the loader threads (ZOO_LOADER_WORKERS), any
    other key an environment variable of that process. `plain`: the runner's name when it is
    not zoo, which takes environment variables only."""
    flags, env = [], {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if plain and key in ("spe", "workers"):
            raise SystemExit(f"{Path(sys.argv[0]).stem}: {plain!r}: spe and workers are "
                             "zoo's settings")
        if key == "spe":
            flags += ["--steps-per-execution", value]
        elif key == "workers":
            env["ZOO_LOADER_WORKERS"] = value
        else:
            env[key] = value
    return flags, env


def zoo_executable() -> list[str]:
    """The `zoo` command beside this Python, or `python -m zoo`."""
    exe = Path(sys.executable).with_name("zoo")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "zoo"]


def zoo_command(args, flags, out: Path, name: str) -> list[str]:
    command = zoo_executable() + ["train", "--model", "minivggnet", "--dataset", args.dataset,
                "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                "--lr", str(LR), "--momentum", str(MOMENTUM), "--nesterov",
                "--seed", str(SEED), "--output", str(out), "--name", name]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if args.limit:
        command += ["--limit", str(args.limit)]
    return command + flags


def spawn(command, env):
    """Run `command`; its wall seconds, peak RSS (MiB), the cores it used on average, the
    cores every other process used meanwhile (/proc/stat's busy time less its own) and the
    completed process."""
    start, busy = time.perf_counter(), busy_seconds()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        own = usage.ru_utime + usage.ru_stime
        others = max(0.0, busy_seconds() - busy - own) / seconds
        out.seek(0)
        text = out.read()
    code = os.waitstatus_to_exitcode(status)
    return (seconds, usage.ru_maxrss / 1024, own / seconds, others,
            subprocess.CompletedProcess(command, code, text, ""))


def run_one(args, runner: str, repeat: int, work: Path) -> dict:
    kind, flags, extra_env = parse_runner(runner)
    env = {**START_ENV, **extra_env}
    if kind == "zoo":
        out, name = work / "runs", f"{runner.replace(':', '_').replace(',', '_')}-{repeat}"
        command = zoo_command(args, flags, out, name)
    else:
        command = [sys.executable, __file__, "--worker", kind, "--arrays", str(work / "arrays"),
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        if kind == "torch" and args.torch_path:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [args.torch_path, os.environ.get("PYTHONPATH")]))
    idle = wait_for_idle(args.idle_wait) if args.idle_wait else None
    seconds, rss, cores, others, done = spawn(command, env)
    if done.returncode:
        raise SystemExit(f"bench_fit: {runner} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    if kind == "zoo":
        history = json.loads((out / name / "history.json").read_text())
        metrics = json.loads((out / name / "metrics.json").read_text())
        result = {"epoch_seconds": [row["seconds"] for row in history],
                  "val_accuracy": history[-1]["val_accuracy"],
                  "test_accuracy": metrics["accuracy"]}
        shutil.rmtree(out / name)
    else:
        line = [t for t in done.stdout.splitlines() if t.startswith(MARK)][-1]
        result = json.loads(line[len(MARK):])
    return {**result, "process_seconds": seconds, "peak_rss_mib": rss, "cores": cores,
            "other_cores": others, "other_cores_before": idle}


def torch_available(path: str | None) -> bool:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", "import torch"], env=env,
                          capture_output=True).returncode == 0


def onednn_default() -> str:
    """Whether TensorFlow turns oneDNN on by itself on this CPU (it does only where the CPU
    has AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX), asked of a fresh process."""
    env = {k: v for k, v in START_ENV.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    code = ("from tensorflow.python.util import _pywrap_util_port as p; "
            "print(p.IsMklEnabled())")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return {"True": "on", "False": "off"}.get(done.stdout.strip(), "unknown")


def span(values, digits=1) -> str:
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-"
            f"{max(values):.{digits}f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10",
                        help="a zoo dataset; cifar10 without --data-dir: the synthetic set")
    parser.add_argument("--data-dir", help="where the dataset's files are (zoo's --data-dir)")
    parser.add_argument("--limit", type=int, help="zoo's --limit")
    parser.add_argument("--images", type=int, default=10_000,
                        help="synthetic set: training images before the 10%% validation")
    parser.add_argument("--test-images", type=int, default=1_000, help="synthetic set")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runners", nargs="+", default=["zoo", "plain", "torch"],
                        help="zoo, plain, torch, or zoo:KEY=VALUE,... (spe=N, workers=N or "
                        "ENV=VALUE)")
    parser.add_argument("--torch-path", help="a directory holding torch, prepended to "
                        "PYTHONPATH of the torch process only")
    parser.add_argument("--decompose", action="store_true",
                        help="time zoo's pipeline alone, the step alone and both, then exit")
    parser.add_argument("--idle-wait", type=float, default=90,
                        help="before each run, wait up to this many seconds for other "
                        "processes to use under a quarter of a core (0: don't)")
    parser.add_argument("--decompose-steps", type=int, default=48, help="batches timed")
    parser.add_argument("--decompose-spe", type=int, nargs="+", default=[1, 8],
                        help="steps per call tried by --decompose")
    parser.add_argument("--decompose-parts", nargs="+",
                        default=["pipeline", "step", "repeated", "fit", "tfdata"],
                        choices=["pipeline", "step", "repeated", "fit", "tfdata"],
                        help="what --decompose times")
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument("--worker", choices=("plain", "torch", "export"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        workers = {"plain": worker_plain, "torch": worker_torch,
                   "export": lambda a: export_arrays(a, Path(a.arrays))}
        result = workers[args.worker](args)
        print(MARK + json.dumps(result), flush=True)
        return
    if args.epochs < 2:
        parser.error("--epochs must be at least 2")

    with tempfile.TemporaryDirectory(prefix="bench_fit-") as tmp:
        work = Path(tmp)
        synthetic = args.dataset == "cifar10" and not args.data_dir
        if synthetic:
            args.data_dir = str(write_synthetic_cifar(work / "data", args.images,
                                                      args.test_images))
        if args.decompose:
            decompose(args)
            return
        (work / "arrays").mkdir()
        # in a process of its own: this one stays numpy-only, light beside the runs
        command = [sys.executable, __file__, "--worker", "export", "--arrays",
                   str(work / "arrays"), "--dataset", args.dataset, "--epochs",
                   str(args.epochs), "--batch-size", str(args.batch_size)]
        command += ["--data-dir", args.data_dir] if args.data_dir else []
        command += ["--limit", str(args.limit)] if args.limit else []
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"bench_fit: exporting the arrays failed:\n{done.stderr[-3000:]}")
        facts = json.loads([t for t in done.stdout.splitlines() if t.startswith(MARK)][-1]
                           [len(MARK):])
        runners = list(args.runners)
        if "torch" in runners and not torch_available(args.torch_path):
            print("torch is not installed: pip install -e '.[torch]' (or --torch-path DIR) "
                  "for the PyTorch eager row; skipping it")
            runners.remove("torch")
        if args.idle_wait:
            wait_for_idle(args.idle_wait)
        busy, start = busy_seconds(), time.perf_counter()
        own = time.process_time()
        peak, peaks = sgemm_gflops()
        others = max(0.0, busy_seconds() - busy - (time.process_time() - own)) / (
            time.perf_counter() - start)
        flops = facts["flops"]
        print(f"CPU: {cpu_model()}; ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '')}"
              f" OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')} "
              f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '')} (empty: native)"
              f"; TF_ENABLE_ONEDNN_OPTS={START_ENV.get('TF_ENABLE_ONEDNN_OPTS', '')} for plain "
              f"(empty: TensorFlow's default, {onednn_default()}), zoo "
              f"{START_ENV.get('TF_ENABLE_ONEDNN_OPTS', '1')}")
        print(f"{os.cpu_count()} CPUs; numpy float32 matmul 4096^2: {peak:.0f} GFLOP/s median "
              f"({', '.join(f'{p:.0f}' for p in peaks)}), other processes used {others:.2f} "
              f"cores meanwhile{' (so it is low)' if others > 0.25 else ''}; {load()}")
        print(f"minivggnet {'x'.join(map(str, facts['shape']))}: {flops / 1e6:.2f} MFLOPs "
              f"forward; {facts['train']} train / {facts['val']} val / {facts['test']} test "
              f"images of {args.dataset}{' (synthetic)' if synthetic else ''}"
              f"; batch {args.batch_size}, {args.epochs} epochs x {args.repeats}",
              flush=True)

        runs = {r: [] for r in runners}
        for repeat in range(args.repeats):
            order = runners[repeat % len(runners):] + runners[: repeat % len(runners)]
            for runner in order:
                result = run_one(args, runner, repeat, work)
                last = result["epoch_seconds"][-1]
                result["images_per_second"] = facts["train"] / last
                result["gflops"] = (facts["train"] * 3 + facts["val"]) * flops / last / 1e9
                result["load"] = os.getloadavg()[0]
                runs[runner].append(result)
                print(f"repeat {repeat + 1} {runner:>12s}: {result['images_per_second']:6.1f} "
                      f"images/s last epoch, {result['process_seconds']:5.1f} s process, "
                      f"{result['peak_rss_mib']:5.0f} MiB, val acc "
                      f"{result['val_accuracy']:.3f}, test acc {result['test_accuracy']:.3f}; "
                      f"cores used {result['cores']:.2f}, by others {result['other_cores']:.2f};"
                      f" {load()}", flush=True)

    print(f"\n| runner | images/s, last epoch | process s | GFLOP/s | % of sgemm "
          f"{peak:.0f} GFLOP/s | cores used by others |\n| --- | --- | --- | --- | --- | --- |")
    for runner, rows in runs.items():
        ips = [r["images_per_second"] for r in rows]
        gf = [r["gflops"] for r in rows]
        print(f"| {runner} | {span(ips)} | {span([r['process_seconds'] for r in rows])} | "
              f"{span(gf, 0)} | {span([100 * g / peak for g in gf])} | "
              f"{span([r['other_cores'] for r in rows], 2)} |")
    base = statistics.median(r["images_per_second"] for r in runs[runners[0]])
    base_s = statistics.median(r["process_seconds"] for r in runs[runners[0]])
    for runner in runners[1:]:
        other = statistics.median(r["images_per_second"] for r in runs[runner])
        other_s = statistics.median(r["process_seconds"] for r in runs[runner])
        print(f"ratio {runners[0]}/{runner}: images/s {base / other:.3f}, whole process "
              f"{other_s / base_s:.3f} ({runner}'s seconds / {runners[0]}'s)")
    print(load())
    if args.json:
        Path(args.json).write_text(json.dumps({"sgemm_gflops": peaks, "facts": facts,
                                               "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
