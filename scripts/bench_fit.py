"""`zoo train` against a plain Keras `model.fit` script: same MiniVGGNet, same in-memory data.

Both train the same architecture (same seed, batch size and optimizer: SGD 0.01, momentum 0.9,
Nesterov) on the same images, in one process, alternating, and the script prints the images
per second of each and their ratio.

- zoo: `zoo.training.trainer.train`, the function behind `zoo train`, with everything it does
  every epoch (checkpoints, best model, history, monitor.png). Its pipeline keeps images as
  uint8 and scales them in loader threads; it runs 8 steps per compiled call.
- plain: the seed scripts' way, float32 arrays scaled up front, `model.compile(...)` with
  Keras' defaults and `model.fit(x, y, validation_data=..., batch_size=64, epochs=N)`.

Both validate on the same held-out images every epoch. Throughput counts the training images
of epochs 2..N over the time from the end of epoch 1 to the end of epoch N, so start-up,
tracing and the final evaluation are left out of both.

    .venv/bin/python scripts/bench_fit.py --dataset fashion_mnist --limit 8192 --epochs 3
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.backend import load_keras  # noqa: E402

keras = load_keras()

from zoo.config import resolve  # noqa: E402
from zoo.data.pipeline import load_all  # noqa: E402
from zoo.inputs import prepare  # noqa: E402
from zoo.models import build_model  # noqa: E402
from zoo.training.trainer import train  # noqa: E402


class EpochClock(keras.callbacks.Callback):
    """Records the time at each epoch end; last in the list, so after zoo's own callbacks."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())

    def images_per_second(self, images: int) -> float:
        return images * (len(self.ends) - 1) / (self.ends[-1] - self.ends[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--limit", type=int, default=8192, help="images per split")
    parser.add_argument("--epochs", type=int, default=3, help="at least 2; the first is untimed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps-per-execution", type=int, default=0,
                        help="zoo's setting (0: its default); plain keeps Keras' default of 1")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2")

    config = resolve(None, {"model": "minivggnet", "dataset": args.dataset, "limit": args.limit,
                            "epochs": args.epochs, "batch_size": args.batch_size, "lr": 0.01,
                            "momentum": 0.9, "nesterov": True, "seed": 1,
                            "steps_per_execution": args.steps_per_execution})
    prepared = prepare(config)
    splits = prepared.splits
    x, y = load_all(splits.train, prepared.eval_transform)
    xv, yv = load_all(splits.val, prepared.eval_transform)
    y, yv = (keras.utils.to_categorical(t, splits.num_classes) for t in (y, yv))
    n = len(x)
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, {args.dataset}: {n} train "
          f"/ {len(xv)} val images of {'x'.join(map(str, prepared.input_shape))}, batch "
          f"{args.batch_size}, {args.epochs} epochs (1 untimed) x {args.repeats}", flush=True)

    results = {"zoo": [], "plain": []}
    with tempfile.TemporaryDirectory() as out:
        for repeat in range(args.repeats):
            clock = EpochClock()
            train(config.replace(output=out, name=f"run{repeat}"), callbacks=[clock])
            results["zoo"].append(clock.images_per_second(n))

            keras.utils.set_random_seed(1)
            model = build_model("minivggnet", input_shape=prepared.input_shape,
                                num_classes=splits.num_classes)
            model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                          loss="categorical_crossentropy", metrics=["accuracy"])
            clock = EpochClock()
            model.fit(x, y, validation_data=(xv, yv), batch_size=args.batch_size,
                      epochs=args.epochs, verbose=0, callbacks=[clock])
            results["plain"].append(clock.images_per_second(n))
            print(f"repeat {repeat + 1}: zoo {results['zoo'][-1]:.1f}, plain "
                  f"{results['plain'][-1]:.1f} images/s", flush=True)
    zoo, plain = statistics.median(results["zoo"]), statistics.median(results["plain"])
    print(f"zoo train        {zoo:8.1f} images/s, median (runs: "
          f"{', '.join(f'{v:.1f}' for v in results['zoo'])})")
    print(f"plain model.fit  {plain:8.1f} images/s, median (runs: "
          f"{', '.join(f'{v:.1f}' for v in results['plain'])})")
    print(f"ratio zoo/plain  {zoo / plain:8.3f}")


if __name__ == "__main__":
    main()
