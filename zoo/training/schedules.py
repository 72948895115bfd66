"""Learning-rate schedules: Keras' own where they compute zoo's formulas, zoo's where they don't.

Every schedule reads the optimizer's iteration count, which the checkpoint saves with the
optimizer state, so a resumed run continues the schedule where it stopped. All are
serializable (`keras.optimizers.schedules.serialize`) and written with `keras.ops`, so they
run on every backend.

- time:   lr0 / (1 + decay * iteration)       `keras.optimizers.schedules.InverseTimeDecay`
  (Keras 2's `decay` argument, which Keras 3 removed)
- step:   lr0 * factor ** (drop epochs passed) `keras.optimizers.schedules.PiecewiseConstantDecay`
- poly:   lr0 * (1 - epoch / epochs) ** power  `EpochPolynomialDecay` (per epoch, which Keras'
  per-step `PolynomialDecay` is not)
- cosine: lr0 * (1 + cos(pi * progress)) / 2   `keras.optimizers.schedules.CosineDecay`, over
  the steps after the warm-up
- onecycle: up from lr0 / 25 to lr0 over the first 30% of the steps, then down to
  lr0 / 25e4 by the last, both halves cosine       `OneCycle` (Smith & Topin 2019; PyTorch's
  `OneCycleLR` with its defaults)
- warm-up: any of them (or a constant rate) times `min(1, (iteration + 1) / warmup_steps)`,
  `LinearWarmup`, only when `warmup_epochs > 0` (onecycle warms up by itself).

With `--accumulate N` the optimizer still hands the schedule its count of batches (Keras'
`_iterations`, not the `iterations // N` of updates), so `steps_per_epoch` stays the batches
of an epoch and every plan, per epoch, is the one of `--accumulate 1`; an update takes the
rate at the last batch it averages.

`EpochSchedule`, the one class that older versions used for every kind, stays registered so
that their runs (`zoo>EpochSchedule` in `model.keras`) load and resume.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from zoo.errors import ZooError


@keras.saving.register_keras_serializable(package="zoo")
class EpochPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Polynomial decay by whole epochs: `lr0 * max(1 - epoch / epochs, 0) ** power`.

    The rate is constant within an epoch (`epoch = floor(step / steps_per_epoch)`), and
    reaches 0 after `epochs` epochs.

    Args:
        initial_learning_rate: the rate of the first epoch.
        steps_per_epoch: the optimizer steps in one epoch.
        epochs: the epochs over which the rate decays to 0.
        power: the exponent. Defaults to `1.0` (linear).
    """

    def __init__(
        self,
        initial_learning_rate: float,
        steps_per_epoch: int,
        epochs: int,
        power: float = 1.0,
    ):
        if steps_per_epoch < 1 or epochs < 1:
            raise ValueError(
                "steps_per_epoch and epochs must be at least 1. Received: "
                f"steps_per_epoch={steps_per_epoch}, epochs={epochs}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.power = float(power)

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / self.steps_per_epoch)
        remaining = ops.maximum(1.0 - epoch / self.epochs, 0.0)
        return self.initial_learning_rate * ops.power(remaining, self.power)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "power": self.power,
        }


@keras.saving.register_keras_serializable(package="zoo")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle policy (Smith & Topin 2019, "Super-Convergence"), per step, as PyTorch's
    `torch.optim.lr_scheduler.OneCycleLR` computes it with its defaults (`pct_start=0.3`,
    `anneal_strategy="cos"`, `div_factor=25`, `final_div_factor=1e4`, `three_phase=False`).

    The rate climbs from `max_learning_rate / div_factor` to `max_learning_rate` at step
    `pct_start * total_steps - 1`, then anneals to `max_learning_rate / (div_factor *
    final_div_factor)` at step `total_steps - 1`, both halves along a half cosine
    (`end + (start - end) * (1 + cos(pi * pct)) / 2`); it stays there after the last step.

    The momentum is not cycled (PyTorch's `cycle_momentum`, 0.95 down to 0.85 and back): a
    Keras optimizer's `momentum` (and Adam's `beta_1`) is a Python float baked into the
    compiled step, not a schedule, so cycling it would take an optimizer subclass of zoo's own
    for each optimizer, saved into every model file. The momentum stays `--momentum`.

    Args:
        max_learning_rate: the peak rate (zoo's `--lr`).
        total_steps: the optimizer steps of the whole plan (epochs times steps per epoch).
        pct_start: the fraction of the steps spent climbing. Defaults to `0.3`.
        div_factor: the first rate is `max_learning_rate / div_factor`. Defaults to `25.0`.
        final_div_factor: the last rate is the first one divided by this. Defaults to
            `1e4`.
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ):
        if total_steps < 1 or not 0 < pct_start < 1:
            raise ValueError(
                "total_steps must be at least 1 and pct_start in (0, 1). Received: "
                f"total_steps={total_steps}, pct_start={pct_start}"
            )
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        peak = self.max_learning_rate
        first = peak / self.div_factor
        last = first / self.final_div_factor
        step = ops.cast(step, "float32")
        # PyTorch's phase ends: the climb ends at step pct_start * total - 1, the descent at
        # the last step; each phase runs from the previous end.
        top = self.pct_start * self.total_steps - 1.0
        end = float(self.total_steps - 1)

        # PyTorch's cosine annealing, `stop + (start - stop) * (1 + cos(pi * pct)) / 2`, is
        # `stop + (start - stop) * cos(pi * pct / 2) ** 2`; the descent is written with the
        # fraction left, `sin(pi * (1 - pct) / 2) ** 2`, so that its tail, rates near lr/25e4,
        # keeps float32's relative precision where `1 + cos` would cancel to a few digits.
        # A plan too short to climb (top <= 0: under 4 steps at pct_start 0.3) only descends,
        # as PyTorch's phase test `step <= top` has it.
        if top > 0:
            climbed = ops.clip(step / top, 0.0, 1.0)
            up = peak - (peak - first) * ops.square(ops.cos(0.5 * math.pi * climbed))
        else:
            up = peak
        left = ops.clip((end - step) / (end - top), 0.0, 1.0)  # (1 - pct_start) * total > 0
        down = last + (peak - last) * ops.square(ops.sin(0.5 * math.pi * left))
        return ops.where(step <= top, up, down)

    def get_config(self) -> dict:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


@keras.saving.register_keras_serializable(package="zoo")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up on top of another schedule.

    The rate is `schedule(step) * min(1, (step + 1) / warmup_steps)`: it climbs from
    `1 / warmup_steps` of the schedule's rate to all of it over the first `warmup_steps`.

    Args:
        schedule: the schedule warmed up, a `LearningRateSchedule` or a constant float rate.
        warmup_steps: the optimizer steps the warm-up lasts; the rate is full from step
            `warmup_steps - 1` on.
        delay: whether `schedule` starts after the warm-up (it sees step
            `max(step - warmup_steps, 0)`, as zoo's cosine does) instead of running on the
            optimizer's own step from the start (time, step and poly). Defaults to `False`.
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule | float,
        warmup_steps: int,
        delay: bool = False,
    ):
        if warmup_steps < 1:
            raise ValueError(
                f"warmup_steps must be at least 1. Received: warmup_steps={warmup_steps}"
            )
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)
        self.delay = bool(delay)

    def __call__(self, step):
        if not isinstance(self.schedule, keras.optimizers.schedules.LearningRateSchedule):
            lr = float(self.schedule)  # a constant rate
        else:
            inner = ops.maximum(step - self.warmup_steps, 0) if self.delay else step
            lr = self.schedule(inner)
        ramp = (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps)
        return lr * ops.minimum(1.0, ramp)

    def get_config(self) -> dict:
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "warmup_steps": self.warmup_steps,
            "delay": self.delay,
        }

    @classmethod
    def from_config(cls, config: dict) -> LinearWarmup:
        config = dict(config)
        config["schedule"] = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="zoo")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Legacy: the single schedule class of older zoo versions; `kind` picks the formula.

    `build_schedule` no longer makes it. It stays registered, unchanged in what it
    computes, so that runs saved with `zoo>EpochSchedule` in their `.keras` files still load
    and `zoo train --resume` continues them.
    """

    def __init__(
        self,
        kind: str,
        initial_learning_rate: float,
        steps_per_epoch: int,
        epochs: int,
        decay: float = 0.0,
        factor: float = 0.1,
        drop_epochs: tuple[int, ...] = (),
        power: float = 1.0,
        warmup_epochs: int = 0,
    ):
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
            drops = (
                sum(ops.cast(epoch >= e, "float32") for e in self.drop_epochs)
                if self.drop_epochs
                else 0.0
            )
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


def _step_decay(lr0: float, factor: float, drops: list[int], steps_per_epoch: int):
    """`lr0 * factor ** (drop epochs passed)`, or `lr0` itself when there are no drops."""
    if not drops:
        return lr0
    # The rate drops at the first step of each drop epoch, `e * steps_per_epoch`.
    # `PiecewiseConstantDecay` keeps `values[i]` while `step <= boundaries[i]`, so the
    # boundary is the step before. A drop epoch listed twice drops the rate twice.
    epochs = sorted(set(drops))
    boundaries = [e * steps_per_epoch - 1 for e in epochs]
    values = [lr0] + [lr0 * factor ** sum(d <= e for d in drops) for e in epochs]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def build_schedule(config, steps_per_epoch: int):
    """The learning rate (schedule) that `config` asks for.

    Args:
        config: the run configuration: a dict, or any object read as `config["key"]`. Reads
            `lr_schedule`, `lr`, `epochs`, `warmup_epochs`, and the keys of the chosen
            kind (`lr_decay`; `lr_drop_factor` and `lr_drop_every`; `lr_power`).
        steps_per_epoch: the optimizer steps in one epoch: its batches, with or without
            `--accumulate` (the schedule counts batches).

    Returns:
        A `keras.optimizers.schedules.LearningRateSchedule`, or the float `lr` where the
        rate is constant (`none`, `step` without drops) or belongs to a callback
        (`plateau`) and there is no warm-up.
    """
    from zoo.config import drop_epochs

    kind = config["lr_schedule"]
    lr0 = float(config["lr"])
    spe = int(steps_per_epoch)
    warm = int(config["warmup_epochs"] or 0) * spe
    if kind == "plateau":  # ReduceLROnPlateau changes a constant rate (config refuses a warm-up)
        return lr0
    if kind == "none":
        schedule = lr0
    elif kind == "time":
        schedule = keras.optimizers.schedules.InverseTimeDecay(
            lr0, decay_steps=1, decay_rate=float(config["lr_decay"])
        )
    elif kind == "step":
        schedule = _step_decay(lr0, float(config["lr_drop_factor"]), drop_epochs(config), spe)
    elif kind == "poly":
        schedule = EpochPolynomialDecay(lr0, spe, int(config["epochs"]), config["lr_power"])
    elif kind == "cosine":
        total = max(int(config["epochs"]) * spe - warm, 1)
        schedule = keras.optimizers.schedules.CosineDecay(lr0, decay_steps=total)
    elif kind == "onecycle":  # config refuses a warm-up: the cycle has its own
        return OneCycle(lr0, int(config["epochs"]) * spe)
    else:
        raise ZooError(f"unknown lr_schedule '{kind}'")
    if warm:
        return LinearWarmup(schedule, warm, delay=kind == "cosine")
    return schedule
