"""Learning-rate schedules, as serializable `keras.optimizers.schedules.LearningRateSchedule`s.

They read the optimizer's iteration count, which the checkpoint saves with the optimizer
state, so a resumed run continues the schedule where it stopped. Written with `keras.ops`
to run on every backend.

- time:   lr0 / (1 + decay * iteration)   (Keras 2's `decay` argument, which Keras 3 removed)
- step:   lr0 * factor ** (number of drop epochs passed)
- poly:   lr0 * (1 - epoch / epochs) ** power
- cosine: lr0 * (1 + cos(pi * progress)) / 2
Each may start with a linear warm-up over `warmup_epochs`.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """One schedule class for all kinds; `kind` picks the formula."""

    def __init__(self, kind: str, initial_learning_rate: float, steps_per_epoch: int,
                 epochs: int, decay: float = 0.0, factor: float = 0.1,
                 drop_epochs: tuple[int, ...] = (), power: float = 1.0, warmup_epochs: int = 0):
        if kind not in ("none", "time", "step", "poly", "cosine"):
            raise ValueError(f"Unknown schedule. Received: kind={kind}")
        self.kind = kind
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.decay = float(decay)
        self.factor = float(factor)
        self.drop_epochs = tuple(int(e) for e in drop_epochs)
        self.power = float(power)
        self.warmup_epochs = int(warmup_epochs)

    def __call__(self, step):
        lr0 = self.initial_learning_rate
        step = ops.cast(step, "float32")
        epoch = ops.floor(step / self.steps_per_epoch)
        if self.kind == "time":
            lr = lr0 / (1.0 + self.decay * step)
        elif self.kind == "step":
            drops = sum(ops.cast(epoch >= e, "float32") for e in self.drop_epochs) \
                if self.drop_epochs else 0.0
            lr = lr0 * ops.power(self.factor, drops)
        elif self.kind == "poly":
            lr = lr0 * ops.power(ops.maximum(1.0 - epoch / self.epochs, 0.0), self.power)
        elif self.kind == "cosine":
            warm = self.warmup_epochs * self.steps_per_epoch
            total = max(self.epochs * self.steps_per_epoch - warm, 1)
            progress = ops.clip((step - warm) / total, 0.0, 1.0)
            lr = lr0 * 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            lr = lr0 + 0.0 * step
        if self.warmup_epochs:
            warm_steps = float(self.warmup_epochs * self.steps_per_epoch)
            lr = lr * ops.minimum(1.0, (step + 1.0) / warm_steps)
        return lr

    def get_config(self):
        return {
            "kind": self.kind,
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "decay": self.decay,
            "factor": self.factor,
            "drop_epochs": list(self.drop_epochs),
            "power": self.power,
            "warmup_epochs": self.warmup_epochs,
        }


def build_schedule(config: dict, steps_per_epoch: int):
    """The schedule for `config`, or the plain float for `none`/`plateau` without warm-up."""
    from zoo.config import drop_epochs

    kind = config["lr_schedule"]
    if kind == "plateau" or (kind == "none" and not config["warmup_epochs"]):
        return float(config["lr"])
    return EpochSchedule(
        kind=kind,
        initial_learning_rate=config["lr"],
        steps_per_epoch=steps_per_epoch,
        epochs=config["epochs"],
        decay=config["lr_decay"],
        factor=config["lr_drop_factor"],
        drop_epochs=tuple(drop_epochs(config)),
        power=config["lr_power"],
        warmup_epochs=config["warmup_epochs"],
    )
