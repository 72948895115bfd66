"""zoo/training/callbacks.py: the callbacks of a fit, one job each: NaNGuard, the resumable
patience counters of early stopping and the plateau, PeriodicCheckpoint."""

import json
import os

import numpy as np
import pytest

from tests.training.helpers import Crash, checkpoint_weights, crash_after
from zoo.config import resolve


@pytest.mark.parametrize("schedule, early_stop, crash_at, expected", [
    # lr 1e-30 freezes the weights, so val_loss is the same every epoch: it "improves" once,
    # then never. Patience counters lost at the crash would count again from the resumed epoch.
    ("none", 2, 2, 3),      # stops at epoch 3; a reset counter would stop at 5
    ("plateau", 0, 2, 6),   # drops after epochs 4 (and 7); a reset one after epoch 6
])
def test_resume_keeps_early_stopping_and_plateau_counters(tmp_path, schedule, early_stop,
                                                          crash_at, expected):
    from zoo.training.trainer import train

    flags = {"model": "lenet", "dataset": "digits", "epochs": 6, "lr": 1e-30,
             "optimizer": "sgd", "momentum": 0.0, "lr_schedule": schedule, "lr_drop_factor": 0.5,
             "early_stop": early_stop, "monitor": "val_loss", "limit": 200,
             "output": str(tmp_path)}
    straight = train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[crash_after(crash_at)])
    crashed = tmp_path / "crashed"
    state = json.loads((crashed / "checkpoint" / "state.json").read_text())
    key = "early_stop" if early_stop else "plateau"
    assert state[key]["wait"] == crash_at - 1 and state[key]["best"] is not None
    train(resolve(None, {**flags, "name": "crashed"}), resume=crashed)

    runs = [json.loads((run / "history.json").read_text()) for run in (straight, crashed)]
    assert [len(h) for h in runs] == [expected, expected]
    assert [r["lr"] for r in runs[0]] == [r["lr"] for r in runs[1]]
    if early_stop:
        metrics = json.loads((crashed / "metrics.json").read_text())
        assert metrics["stopped"] == "early_stop" and metrics["epochs"] == expected
    else:  # halved after epoch 4, so epochs 5 and 6 start at half the rate
        assert [r["lr"] / 1e-30 for r in runs[1]] == pytest.approx([1, 1, 1, 1, 0.5, 0.5])


def test_periodic_checkpoints_tensorboard_and_loss_settings(zoo_cli, tmp_path):
    import keras

    result = zoo_cli("train", "--model", "lenet", "--dataset", "digits", "--epochs", "2",
                     "--limit", "200", "--checkpoint-every", "1", "--tensorboard",
                     "--label-smoothing", "0.1", "--optimizer", "adamw", "--weight-decay",
                     "0.01", "--lr", "0.001", "--output", tmp_path, "--name", "extras")
    assert result.code == 0, result.err
    run = tmp_path / "extras"
    first, second = (checkpoint_weights(run, epoch, "periodic") for epoch in (1, 2))
    for a, b in zip(second, checkpoint_weights(run, 2), strict=True):  # the epoch-2 snapshot
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    events = {p.parent.name for p in (run / "tensorboard").rglob("events.out.tfevents.*")}
    assert events == {"train", "validation"}
    # an epoch that wrote model.keras has that file as its checkpoint model, not a second save
    history = json.loads((run / "history.json").read_text())
    best_epoch = int(np.argmin([row["val_loss"] for row in history])) + 1
    same = os.path.samefile(run / "checkpoint" / "epoch-0002.keras", run / "model.keras")
    assert same == (best_epoch == 2)
    model = keras.saving.load_model(run / "checkpoint" / "epoch-0002.keras")
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.01)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)


def test_nan_loss_stops_cleanly_and_keeps_the_best_model(tmp_path):
    import keras

    from zoo.training.trainer import train

    class Explode(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # after the checkpoint of epoch 1: poison the weights
                kernel = self.model.get_layer("predictions").kernel
                kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    config = resolve(None, {"model": "lenet", "dataset": "digits", "epochs": 4,
                            "output": str(tmp_path), "name": "nan", "limit": 300})
    run = train(config, callbacks=[Explode()])
    history = json.loads((run / "history.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(history) == 1 and metrics["stopped"] == "nan_loss"
    assert np.isfinite(metrics["loss"])
    best = keras.saving.load_model(run / "model.keras")
    assert all(np.isfinite(w).all() for w in best.get_weights())
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1
