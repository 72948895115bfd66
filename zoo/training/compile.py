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


def recipe_settings(config) -> dict:
    """The keyword arguments every Keras optimizer takes for zoo's `--clip-norm`,
    `--accumulate` and `--ema` (absent settings read as off, so older configs work).

    Args:
        config: the run configuration, read as attributes.

    Returns:
        `global_clipnorm`, `gradient_accumulation_steps` (None for 1: Keras wants 2 or more),
        and `use_ema` with `ema_momentum`. Keras updates the average after every batch, also
        the batches of an accumulation that leave the weights as they are, so over the `N`
        batches of one update the average decays by `ema_momentum ** N`; zoo's `--ema` is
        the decay per update (the same averaging horizon, in updates, whatever `N` is), and
        so `ema_momentum` is its `N`-th root.
    """
    accumulate = int(getattr(config, "accumulate", 1) or 1)
    ema = getattr(config, "ema", None)
    return {
        "global_clipnorm": getattr(config, "clip_norm", None) or None,
        "gradient_accumulation_steps": accumulate if accumulate > 1 else None,
        "use_ema": bool(ema),
        "ema_momentum": float(ema) ** (1.0 / accumulate) if ema else 0.99,  # Keras' default
    }


def check_recipe(config, dist: Distribution | None) -> None:
    """Refuse, in one line, the settings Keras computes otherwise than zoo says under `dist`.

    TensorFlow's MirroredStrategy (Keras 3.15) clips each device's share of the gradient
    before the shares are summed, not the global gradient (a clip to 1e-3 of a step on two
    devices moved the weights 1.4 times as far as on one), and its gradient accumulation
    fails inside the replicated step ("Exception encountered when calling Cond.call()").
    JAX's data parallelism computes the global gradient in one program: both work there.
    `--ema` works on both (the averages of two devices agree with one device's).

    Raises:
        ZooError: `--clip-norm` or `--accumulate` above 1 with TensorFlow's data parallelism.
    """
    if not (dist and dist.parallel and dist.backend == "tensorflow"):
        return
    refused = (("clip_norm", None, "--clip-norm", "clips each device's share of the gradient, "
                "not the whole"),
               ("accumulate", 1, "--accumulate", "cannot accumulate gradients in Keras 3.15"))
    for key, off, flag, reason in refused:
        if getattr(config, key, off) not in (off, None):
            raise ZooError(f"{flag} does not work with --distribute data-parallel on "
                           f"TensorFlow (its MirroredStrategy {reason}); leave {flag} out, "
                           "or train on JAX (KERAS_BACKEND=jax)")


def create_optimizer(config, learning_rate):
    """The optimizer `config.optimizer` names, with its settings (momentum, Nesterov, weight
    decay; the global gradient clip, gradient accumulation and the moving average of the
    weights of `recipe_settings`) and `learning_rate` (a float or a schedule)."""
    wd = config.weight_decay or None
    extra = recipe_settings(config)
    optimizers = {
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=config.momentum,
                                            nesterov=config.nesterov, weight_decay=wd,
                                            **extra),
        "adam": lambda: keras.optimizers.Adam(learning_rate, weight_decay=wd, **extra),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate,
                                                weight_decay=config.weight_decay or 0.004,
                                                **extra),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, momentum=config.momentum,
                                                    weight_decay=wd, **extra),
        "nadam": lambda: keras.optimizers.Nadam(learning_rate, weight_decay=wd, **extra),
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
