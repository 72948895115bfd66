"""One training step of zoo's trainer on one JAX device, then on two, as JSON on stdout.

Run by tests/training/test_distribution.py under
`XLA_FLAGS=--xla_force_host_platform_device_count=2`: `python jax_one_step.py OUTPUT_DIR`.
Both runs go through `zoo.training.trainer.train` (the same seed, so the same initial weights,
and the same first batch of `make_sequence`), one with `--distribute none`, one with
`data-parallel`; a callback records every weight before and after the step. Printed, per
weight tensor: the largest update |w1 - w0|, the largest difference between the two updates
and the largest |w1|; and each run's devices and files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from zoo.backend import load_keras  # noqa: E402

keras = load_keras()

from zoo.config import Config  # noqa: E402
from zoo.training.trainer import train  # noqa: E402

PLAN = dict(model="minivggnet", dataset="digits", image_size="16,16", limit=32, batch_size=32,
            epochs=1, lr=0.001, report=False)


class Capture(keras.callbacks.Callback):
    """The weights before the first step and after the last, and the number of steps."""

    def on_train_begin(self, logs=None):
        self.before = [np.array(v.value) for v in self.model.weights]
        self.names = [v.path for v in self.model.weights]
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_train_end(self, logs=None):
        self.after = [np.array(v.value) for v in self.model.weights]


def one_step(output: Path, distribute: str) -> tuple[Capture, dict]:
    capture = Capture()
    config = Config({**PLAN, "output": str(output), "name": distribute,
                     "distribute": distribute}, explicit=set(PLAN))
    run = train(config, callbacks=[capture])
    devices = json.loads((run / "metrics.json").read_text())["distribution"]["devices"]
    return capture, {"devices": devices,
                     "files": sorted(str(p.relative_to(run)) for p in run.rglob("*"))}


def main() -> None:
    output = Path(sys.argv[1])
    (single, single_run), (parallel, parallel_run) = (
        one_step(output, "none"), one_step(output, "data-parallel"))
    weights = {}
    for name, w0, w1, v0, v1 in zip(single.names, single.before, single.after,
                                    parallel.before, parallel.after, strict=True):
        weights[name] = {
            "same_start": bool(np.array_equal(w0, v0)),
            "size": int(w0.size),
            "update": float(np.max(np.abs(w1 - w0))),
            "difference": float(np.max(np.abs((w1 - w0) - (v1 - v0)))),
            "weight": float(np.max(np.abs(w1))),
        }
    print(json.dumps({"steps": [single.steps, parallel.steps], "weights": weights,
                      "runs": [single_run, parallel_run]}))


if __name__ == "__main__":
    main()
