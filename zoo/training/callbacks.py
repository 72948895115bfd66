"""Training callbacks: the monitor that keeps history and curves current, and the checkpoints
that make a run resumable after SIGKILL at any moment.

Order of writes at each epoch end (each file atomic): the resumable model file for this
epoch, the best model if it improved, the history files and curves, and last
`checkpoint/state.json`, which names the model file and is the commit point. Resume reads
`state.json` and trusts nothing newer.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import keras
import numpy as np

from zoo.backend import rng_state, set_rng_state
from zoo.io import atomic_path, write_json, write_text

MODE = {"val_loss": "min", "loss": "min", "val_accuracy": "max", "accuracy": "max"}


def seed_variables(model) -> list:
    """The model's seed-generator states (dropout masks), in a fixed order. `model.save`
    omits them, so the checkpoint saves them beside it and resume assigns them back."""
    return [v for v in model.variables if "seed_generator" in v.path]


def applied_steps(optimizer):
    """The optimizer's step count; under mixed_float16 Keras wraps the optimizer in a
    LossScaleOptimizer, whose inner optimizer counts the steps applied (and the schedule)."""
    return getattr(optimizer, "inner_optimizer", optimizer).iterations


def current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss; the best model already saved is kept."""

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
        set_rng_state(self.state)


class _Resumable:
    """Mixin for a Keras callback whose counters must survive `--resume`.

    Keras resets `wait` and `best` in `on_train_begin`, so the saved values are put back
    after that reset, not before `fit`.
    """

    STATE = ("wait", "best")

    def __init__(self, *args, restore: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._restore = dict(restore or {})

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for key, value in self._restore.items():
            if key in self.STATE:
                setattr(self, key, value)

    def state(self) -> dict:
        out = {}
        for key in self.STATE:
            value = getattr(self, key)
            out[key] = None if value is None else float(value) if key == "best" else int(value)
        return out


class ResumablePlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    STATE = ("wait", "best", "cooldown_counter")


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    STATE = ("wait", "best", "best_epoch")


class RunCheckpoint(keras.callbacks.Callback):
    """Keeps `model.keras` (the best model), `checkpoint/` (what --resume needs), history
    files and `monitor.png` current at every epoch end."""

    def __init__(self, run_dir: Path, monitor: str, history: list[dict], best: float | None,
                 checkpoint_every: int = 0, nan_guard: NaNGuard | None = None,
                 on_epoch_saved=None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoint"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.monitor = monitor
        self.mode = MODE[monitor]
        self.history = list(history)
        self.best = best
        self.checkpoint_every = checkpoint_every
        self.nan_guard = nan_guard
        self.on_epoch_saved = on_epoch_saved
        self.stateful: dict[str, _Resumable] = {}  # callbacks whose counters we persist

    def _improved(self, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.nan_guard and self.nan_guard.stopped:
            return  # keep the last good checkpoint and best model; NaN weights are not saved
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
        self.history.append(row)

        # A file killed half-written here is harmless: state.json still names the previous one.
        model_file = f"epoch-{epoch + 1:04d}.keras"
        self.model.save(self.ckpt_dir / model_file)
        seeds = [keras.ops.convert_to_numpy(v) for v in seed_variables(self.model)]
        with atomic_path(self.ckpt_dir / f"epoch-{epoch + 1:04d}-seeds.npz") as tmp:
            np.savez(tmp, *seeds, **rng_state())

        value = logs.get(self.monitor)
        if self._improved(value):
            self.best = float(value)
            with atomic_path(self.run_dir / "model.keras") as tmp:
                self.model.save(tmp)
        if self.checkpoint_every and (epoch + 1) % self.checkpoint_every == 0:
            with atomic_path(self.ckpt_dir / f"periodic-{epoch + 1:04d}.keras") as tmp:
                self.model.save(tmp)

        write_history(self.run_dir, self.history)
        from zoo.plots import plot_training_curves

        plot_training_curves(self.history, self.run_dir / "monitor.png",
                             title=self.run_dir.name)
        state = {
            "epoch": epoch + 1,
            "model_file": model_file,
            "seeds_file": f"epoch-{epoch + 1:04d}-seeds.npz",
            "best": self.best,
            "monitor": self.monitor,
            "iterations": int(keras.ops.convert_to_numpy(applied_steps(self.model.optimizer))),
        }
        for key, callback in self.stateful.items():
            state[key] = callback.state()
        write_json(self.ckpt_dir / "state.json", state)  # the commit point
        for old in self.ckpt_dir.glob("epoch-*"):
            if not old.name.startswith(f"epoch-{epoch + 1:04d}"):
                old.unlink(missing_ok=True)
        if self.on_epoch_saved:
            self.on_epoch_saved(epoch + 1)


def write_history(run_dir: Path, history: list[dict]) -> None:
    write_json(run_dir / "history.json", history)
    keys = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    write_text(run_dir / "history.csv", buffer.getvalue())
