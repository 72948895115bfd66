"""The factories a fit calls, not writes: the optimizer, the steps per compiled call and
the compiled model (loss, metrics, the learning-rate schedule of `zoo.training.schedules`),
as timm's `create_optimizer_v2` and `create_scheduler` are called by its loop.

Backend-agnostic: Keras only.
"""

from __future__ import annotations

import logging

from zoo.backend import load_keras

keras = load_keras()

from zoo.errors import ZooError  # noqa: E402
from zoo.training.distribution import Distribution  # noqa: E402
from zoo.training.schedules import build_schedule  # noqa: E402

log = logging.getLogger("zoo")


def create_optimizer(config, learning_rate):
    """The optimizer `config.optimizer` names, with its settings (momentum, Nesterov, weight
    decay) and `learning_rate` (a float or a schedule)."""
    wd = config.weight_decay or None
    optimizers = {
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=config.momentum,
                                            nesterov=config.nesterov, weight_decay=wd),
        "adam": lambda: keras.optimizers.Adam(learning_rate, weight_decay=wd),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate,
                                                weight_decay=config.weight_decay or 0.004),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, momentum=config.momentum,
                                                    weight_decay=wd),
        "nadam": lambda: keras.optimizers.Nadam(learning_rate, weight_decay=wd),
    }
    if config.optimizer not in optimizers:
        raise ZooError(f"unknown optimizer '{config.optimizer}' (known: "
                       f"{', '.join(optimizers)})")
    return optimizers[config.optimizer]()


def steps_per_execution(config, steps_per_epoch: int, dist: Distribution | None = None) -> int:
    """Training steps per compiled call. Eight amortise Keras' per-call overhead, which
    matters for small models: LeNet through zoo's pipeline trains 9% faster on the 2-core CPU,
    MiniVGGNet the same (BENCHMARKS.md). The steps, and so the weights, are unchanged; batch
    callbacks see every eighth batch. The torch backend runs one step per call only, and so
    does TensorFlow's MirroredStrategy (`dist`) here (Keras' multi-step loop over a
    distributed PyDataset fails with "Graph execution error ... while/cond/Placeholder" in
    Keras 3.15)."""
    single = ("the torch backend" if keras.backend.backend() == "torch" else
              "TensorFlow's MirroredStrategy" if dist and dist.parallel
              and dist.backend == "tensorflow" else None)
    if single:
        if config.steps_per_execution > 1:
            log.warning("%s runs one step per call; ignoring steps_per_execution=%d", single,
                        config.steps_per_execution)
        return 1
    return max(1, min(config.steps_per_execution or 8, steps_per_epoch))


def compile_model(model, config, steps_per_epoch: int, num_classes: int,
                  dist: Distribution | None = None) -> None:
    """Compile `model` for `config`: its optimizer and schedule, the (label-smoothed)
    cross-entropy, accuracy and top-5 accuracy, and the steps per call under `dist`."""
    model.compile(
        steps_per_execution=steps_per_execution(config, steps_per_epoch, dist),
        optimizer=create_optimizer(config, build_schedule(config, steps_per_epoch)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5_accuracy"),
        ],
    )
