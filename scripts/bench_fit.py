"""zoo's input pipeline against a plain Keras `model.fit` on the same MiniVGGNet and data.

Both train the same architecture (same seed, batch size, optimizer) on the same in-memory
CIFAR-shaped images, in one process, alternating, and the script prints images/s of each and
their ratio. zoo feeds uint8 images through its PyDataset (loader threads scale them beside
the training step); the plain script hands float32 arrays to `model.fit`, as the seed
scripts do.

    .venv/bin/python scripts/bench_fit.py --images 4096 --epochs 2 --repeats 2
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from zoo.backend import load_keras  # noqa: E402

keras = load_keras()

from zoo.config import resolve  # noqa: E402
from zoo.data.datasets import Split  # noqa: E402
from zoo.data.pipeline import Transform, make_sequence  # noqa: E402
from zoo.data.sources import ArraySource  # noqa: E402
from zoo.models import build_model  # noqa: E402
from zoo.training.trainer import _compile  # noqa: E402


def timed_fit(model, data, epochs, **kwargs):
    model.fit(data, epochs=1, verbose=0, **kwargs)  # warm-up: tracing and compilation
    start = time.perf_counter()
    model.fit(data, epochs=epochs, verbose=0, **kwargs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)
    config = resolve(None, {"model": "minivggnet", "batch_size": args.batch_size,
                            "lr": 0.01, "nesterov": True})
    steps = int(np.ceil(args.images / args.batch_size))
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, {args.images} images "
          f"32x32x3, batch {args.batch_size}, {args.epochs} timed epochs x {args.repeats}")
    results = {"zoo": [], "plain": []}
    for _ in range(args.repeats):
        keras.utils.set_random_seed(1)
        model = build_model("minivggnet")
        _compile(model, config, steps, 10)
        split = Split(ArraySource(images, labels), np.arange(args.images))
        seq = make_sequence(split, Transform(size=(32, 32), channels=3), 10, args.batch_size,
                            shuffle=True, seed=1)
        seconds = timed_fit(model, seq, args.epochs, shuffle=False)
        results["zoo"].append(args.images * args.epochs / seconds)

        keras.utils.set_random_seed(1)
        model = build_model("minivggnet")
        _compile(model, config, steps, 10)
        x = images.astype("float32") / 255.0
        y = keras.utils.to_categorical(labels, 10)
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        results["plain"].append(args.images * args.epochs / (time.perf_counter() - start))
    zoo, plain = max(results["zoo"]), max(results["plain"])
    print(f"zoo pipeline     {zoo:8.1f} images/s  (runs: "
          f"{', '.join(f'{v:.1f}' for v in results['zoo'])})")
    print(f"plain model.fit  {plain:8.1f} images/s  (runs: "
          f"{', '.join(f'{v:.1f}' for v in results['plain'])})")
    print(f"ratio zoo/plain  {zoo / plain:8.3f}")


if __name__ == "__main__":
    main()
