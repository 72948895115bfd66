"""Training callbacks, one job each, composed as a plain list (as Keras' own are).

At each epoch end, in list order (each file atomic):
  `AveragedWeights`    with `--ema`: the optimizer's moving averages into the model (also
                       around validation), so the writers up to `RawWeights` save them
  `BestModel`          `model.keras`, when the monitored metric improved
  `PeriodicCheckpoint` `checkpoint/periodic-NNNN.keras`, every N epochs
  `SkippedFiles`       `skipped_files.txt`, when more input files were skipped
  `HistoryMonitor`     `history.json`, `history.csv` and the curves in `monitor.png`
  `RawWeights`         with `--ema`: the trained weights back into the model
  `ResumeCheckpoint`   the epoch's model and seed states, then `checkpoint/state.json`: the
                       commit point. Resume reads `state.json` and trusts nothing newer.

A callback whose state must survive `--resume` is `Resumable`: it returns that state from
`resume_state()` (the resume checkpoint stores it under the callback's key) and takes it back
through its `restore=` argument. Nothing writes into another callback from outside.
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np

from zoo.backend import rng_state, set_rng_state
from zoo.choices import MONITOR_MODE
from zoo.io import atomic_path
from zoo.plots import plot_training_curves
from zoo.run import RunDir

MODE = MONITOR_MODE  # which way each monitor is better


def seed_variables(model) -> list:
    """The model's seed-generator states (dropout masks), in a fixed order. `model.save`
    omits them, so the checkpoint saves them beside it and resume assigns them back."""
    return [v for v in model.variables if "seed_generator" in v.path]


def applied_steps(optimizer):
    """The optimizer's step count; under mixed_float16 Keras wraps the optimizer in a
    LossScaleOptimizer, whose inner optimizer counts the steps applied (and the schedule)."""
    return getattr(optimizer, "inner_optimizer", optimizer).iterations


def current_lr(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def save_model(model, path) -> None:
    """`model.save`, atomically: the file is whole or absent. Outside any distribution, so
    that process 0 of a multi-process run saves alone (`distribution.local`)."""
    from zoo.training.distribution import local

    with atomic_path(path) as tmp, local():
        model.save(tmp)


def link_or_copy(source, path) -> None:
    """`path` as the same file as `source`: a hard link, or a copy where the file system
    has none; atomically (whole or absent). `source` is only ever replaced by a rename
    (`save_model`), never written in place, so the two stay what they were written as."""
    import shutil

    with atomic_path(path) as tmp:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


class Resumable:
    """The interface of a callback whose state a resumed run needs."""

    def resume_state(self) -> dict:
        raise NotImplementedError


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss. The epoch it happens in is not saved:
    the writers below skip it, so the best model and the last checkpoint stay finite."""

    def __init__(self):
        super().__init__()
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped = True
            self.model.stop_training = True


class EpochLogger(keras.callbacks.Callback):
    """Adds the learning rate each epoch started with, and the seconds it took, to the logs
    (and so to the history)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._lr = current_lr(self.model.optimizer)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self._lr
            logs["seconds"] = time.perf_counter() - self._start


class RestoreRNG(keras.callbacks.Callback):
    """Puts back the backend random state of a checkpoint when training begins: after `fit`
    has built the model (which, under torch, draws from the global generator), before the
    first batch."""

    def __init__(self, state: dict):
        super().__init__()
        self.state = state

    def on_train_begin(self, logs=None):
        if self.state is not None:  # once: a second fit (a transfer run's phase) goes on
            set_rng_state(self.state)
            self.state = None


class AveragedWeights(keras.callbacks.Callback):
    """With `--ema`: the optimizer's exponential moving average of the weights in the model
    while validation runs and, from this callback's place in the list at an epoch's end, for
    the callbacks after it (`BestModel` saves the averages) until `raw` puts the trained
    weights back, before the resume checkpoint saves them (the averages go with it, as the
    optimizer's variables) and before training goes on.

    Keras' `SwapEMAWeights` does not serve here. On TensorFlow it swaps by sums and
    differences (`a += b; b = a - b; a -= b`), which round: every validation would nudge the
    trained weights. With `swap_on_epoch=True` the averages stay in the model through every
    later callback (the resume checkpoint would save them as the trained weights), and after
    the last epoch it overwrites the trained weights with the averages, so an extended run
    could not resume. Here the trained weights wait in a host copy and come back as they
    were, bit for bit; the averages are only read.

    Only the trainable variables are averaged (Keras' `use_ema`); batch-norm statistics are
    the training's own.
    """

    def __init__(self):
        super().__init__()
        self._trained = None  # the trained weights while the averages are in the model
        self.raw = RawWeights(self)

    @staticmethod
    def _pairs(optimizer) -> list:
        """(model variable, its average) for every averaged variable of `optimizer`."""
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        averages = getattr(inner, "_model_variables_moving_average", None)
        if averages is None:
            raise ValueError("AveragedWeights needs an optimizer built with use_ema=True; got "
                             f"use_ema={getattr(inner, 'use_ema', None)}")
        return [(v, a) for v, a in zip(inner._trainable_variables, averages, strict=True)
                if a is not None]

    def average_in(self) -> None:
        """Put the moving averages into the model (nothing when they are in already)."""
        if self._trained is not None:
            return
        pairs = self._pairs(self.model.optimizer)
        self._trained = [keras.ops.convert_to_numpy(v) for v, _ in pairs]
        for variable, average in pairs:
            # a copy: under JAX, a variable assigned another's array shares its buffer, which
            # the next step donates twice ("Array has been deleted")
            variable.assign(keras.ops.convert_to_numpy(average))

    def raw_back(self) -> None:
        """Put the trained weights back (nothing when they are in already)."""
        if self._trained is None:
            return
        for (variable, _), value in zip(self._pairs(self.model.optimizer), self._trained,
                                        strict=True):
            variable.assign(value)
        self._trained = None

    def on_test_begin(self, logs=None):
        self.average_in()

    def on_test_end(self, logs=None):
        self.raw_back()

    def on_epoch_end(self, epoch, logs=None):
        self.average_in()


class RawWeights(keras.callbacks.Callback):
    """The end of `AveragedWeights`' span at an epoch's end: the trained weights back."""

    def __init__(self, averaged: AveragedWeights):
        super().__init__()
        self.averaged = averaged

    def on_epoch_end(self, epoch, logs=None):
        self.averaged.raw_back()


class _EpochWriter(keras.callbacks.Callback):
    """A callback that writes into the run at each epoch end, except after a NaN loss."""

    def __init__(self, run: RunDir, guard: NaNGuard | None = None):
        super().__init__()
        self.run = run
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if self.guard is not None and self.guard.stopped:
            return  # NaN weights are never saved
        self.write(epoch + 1, dict(logs or {}))

    def write(self, epoch: int, logs: dict) -> None:
        raise NotImplementedError


class BestModel(_EpochWriter, Resumable):
    """Saves `model.keras` whenever `monitor` improves on the best value so far."""

    def __init__(self, run: RunDir, monitor: str, guard: NaNGuard | None = None,
                 restore: dict | None = None):
        super().__init__(run, guard)
        self.monitor = monitor
        self.mode = MODE[monitor]
        self.best = (restore or {}).get("best")
        self.saved_epoch = None  # the epoch whose model model.keras holds, from this process
        self.ended_epoch = None  # the last epoch that ended in this process, NaN or not

    def on_epoch_end(self, epoch, logs=None):
        self.ended_epoch = epoch + 1
        super().on_epoch_end(epoch, logs)

    def holds_best(self) -> bool:
        """Whether the model's weights now are those model.keras holds: its last epoch was
        the best, saved by this process (not after a NaN, whose epoch writes nothing)."""
        return self.saved_epoch is not None and self.saved_epoch == self.ended_epoch

    def _improved(self, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def write(self, epoch, logs):
        value = logs.get(self.monitor)
        if self._improved(value):
            self.best = float(value)
            save_model(self.model, self.run.best_model)
            self.saved_epoch = epoch

    def resume_state(self) -> dict:
        return {"best": self.best, "monitor": self.monitor}


class PeriodicCheckpoint(_EpochWriter):
    """Keeps a copy of the model every `every` epochs: `checkpoint/periodic-NNNN.keras`."""

    def __init__(self, run: RunDir, every: int, guard: NaNGuard | None = None):
        super().__init__(run, guard)
        self.every = every

    def write(self, epoch, logs):
        if epoch % self.every == 0:
            save_model(self.model, self.run.periodic_model(epoch))


class HistoryMonitor(_EpochWriter):
    """Appends each epoch's metrics to `history.json`/`history.csv` and redraws
    `monitor.png`, the loss and accuracy curves."""

    def __init__(self, run: RunDir, history: list[dict], guard: NaNGuard | None = None):
        super().__init__(run, guard)
        self.history = list(history)

    def write(self, epoch, logs):
        self.history.append({"epoch": epoch, **{k: float(v) for k, v in logs.items()}})
        self.run.write_history(self.history)
        plot_training_curves(self.history, self.run.monitor_png, title=self.run.name)


class SkippedFiles(keras.callbacks.Callback):
    """Keeps `skipped_files.txt` current at each epoch end: every input file skipped so far,
    with its reason, as `skipped()` returns them. Written only when the list grew."""

    def __init__(self, run: RunDir, skipped):
        super().__init__()
        self.run = run
        self.skipped = skipped
        self._written = 0

    def on_epoch_end(self, epoch, logs=None):
        files = self.skipped()
        if len(files) > self._written:
            self.run.write_skipped({**self.run.read_skipped(), **files})
            self._written = len(files)


class ResumeCheckpoint(_EpochWriter):
    """What `--resume` needs, committed by `checkpoint/state.json`: the epoch's model (with
    its optimizer state), the dropout seed states and backend random state, and the state of
    every `Resumable` callback in `resumables`. Older epochs' files go once it is written."""

    def __init__(self, run: RunDir, resumables: dict[str, Resumable],
                 guard: NaNGuard | None = None, best: BestModel | None = None):
        """`best`: the `BestModel` of this fit when nothing between its write and this one
        changes the model (no `--ema`, whose averages `BestModel` saves): an epoch whose
        model.keras it has just written then gets that file as its checkpoint model (a hard
        link, else a copy), not a second `model.save` of the same weights and optimizer
        state (MiniVGGNet at 224x224, 103 M weights: 5.5 s an epoch)."""
        super().__init__(run, guard)
        self.resumables = dict(resumables)
        self.best = best
        run.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def write(self, epoch, logs):
        run = self.run
        if self.best is not None and self.best.saved_epoch == epoch:
            link_or_copy(run.best_model, run.epoch_model(epoch))
        else:
            save_model(self.model, run.epoch_model(epoch))
        seeds = [keras.ops.convert_to_numpy(v) for v in seed_variables(self.model)]
        with atomic_path(run.epoch_seeds(epoch)) as tmp:
            np.savez(tmp, *seeds, **rng_state())
        state = {
            "epoch": epoch,
            "model_file": run.epoch_model(epoch).name,
            "seeds_file": run.epoch_seeds(epoch).name,
            "iterations": int(keras.ops.convert_to_numpy(applied_steps(self.model.optimizer))),
        }
        for key, callback in self.resumables.items():
            state[key] = callback.resume_state()
        run.write_state(state)  # the commit point
        run.remove_older_epochs(epoch)


class ResumableCounters(Resumable):
    """Mixin for a Keras callback whose patience counters must survive `--resume`.

    Keras resets `wait` and `best` in `on_train_begin`, so the saved values are put back
    after that reset, not before `fit`.
    """

    STATE = ("wait", "best")

    def __init__(self, *args, restore: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._restore = {k: v for k, v in (restore or {}).items() if k in self.STATE}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for key, value in self._restore.items():
            setattr(self, key, value)
        self._restore = {}  # once: a later fit of the same run starts its phase afresh

    def discard_restore(self) -> None:
        """Forget the saved counters: the next fit starts them afresh."""
        self._restore = {}

    def resume_state(self) -> dict:
        out = {}
        for key in self.STATE:
            value = getattr(self, key)
            out[key] = None if value is None else float(value) if key == "best" else int(value)
        return out


class ResumablePlateau(ResumableCounters, keras.callbacks.ReduceLROnPlateau):
    STATE = ("wait", "best", "cooldown_counter")


class ResumableEarlyStopping(ResumableCounters, keras.callbacks.EarlyStopping):
    STATE = ("wait", "best", "best_epoch")
