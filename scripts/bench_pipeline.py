"""zoo's input pipeline alone against Keras' array input: the same MiniVGGNet steps fed from
zoo's PyDataset (uint8 images, scaled in loader threads) or from float32 arrays.

No validation, no callbacks: only the feeding differs. Runs alternate in one process; the
script prints the median images/s of each (the first epoch of every run is untimed).

    .venv/bin/python scripts/bench_pipeline.py --model minivggnet --repeats 3
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from zoo.backend import load_keras  # noqa: E402

keras = load_keras()

from zoo.data.pipeline import Transform, make_sequence  # noqa: E402
from zoo.data.sources import ArraySource  # noqa: E402
from zoo.data.splits import Split  # noqa: E402
from zoo.models import build_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minivggnet")
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--shape", default="28,28,1")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps-per-execution", type=int, default=1, help="for both paths")
    args = parser.parse_args()

    shape = tuple(int(v) for v in args.shape.split(","))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, *shape), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)
    x = images.astype("float32") / 255.0
    y = keras.utils.to_categorical(labels, 10)
    split = Split(ArraySource(images, labels), np.arange(args.images))
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, {args.model}, "
          f"{args.images} images {'x'.join(map(str, shape))}, batch {args.batch_size}, "
          f"{args.steps_per_execution} steps per call", flush=True)

    def timed(kind):
        keras.utils.set_random_seed(1)
        model = build_model(args.model, input_shape=shape, num_classes=10)
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=args.steps_per_execution)
        if kind == "arrays":
            def fit():
                model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        else:
            seq = make_sequence(split, Transform(size=shape[:2], channels=shape[2]), 10,
                                args.batch_size, shuffle=True, seed=1)

            def fit():
                model.fit(seq, epochs=1, verbose=0, shuffle=False)
        fit()  # tracing
        start = time.perf_counter()
        fit()
        return args.images / (time.perf_counter() - start)

    results = {"zoo PyDataset (uint8)": [], "float32 arrays": []}
    for _ in range(args.repeats):
        results["zoo PyDataset (uint8)"].append(timed("zoo"))
        results["float32 arrays"].append(timed("arrays"))
    for name, values in results.items():
        print(f"{name:22s} {statistics.median(values):8.1f} images/s, median (runs: "
              f"{', '.join(f'{v:.1f}' for v in values)})")
    zoo, arrays = (statistics.median(v) for v in results.values())
    print(f"ratio zoo/arrays       {zoo / arrays:8.3f}")


if __name__ == "__main__":
    main()
