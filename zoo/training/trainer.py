"""`zoo train` and `zoo evaluate`: compile, fit, checkpoint, resume, evaluate.

Backend-agnostic: Keras and numpy only, except the optional determinism switch, which is a
TensorFlow-only call.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from zoo.errors import ZooError, ZooRuntimeError

log = logging.getLogger("zoo")


@dataclass
class Prepared:
    splits: object
    spec: object
    input_shape: tuple[int, int, int]
    train_transform: object
    eval_transform: object


def _set_seed(config: dict) -> None:
    import keras

    from zoo.backend import quiet_native_logs

    with quiet_native_logs():  # under jax/torch this imports TensorFlow, when installed
        keras.utils.set_random_seed(config["seed"])
    if config["deterministic"] and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the TensorFlow-only determinism switch

        tf.config.experimental.enable_op_determinism()


def prepare(config: dict, mean=None) -> Prepared:
    """Load the dataset and decide the input shape and the transforms for `config`."""
    from zoo.config import image_size
    from zoo.data.datasets import load_dataset
    from zoo.data.pipeline import Transform, channel_mean
    from zoo.data.preprocessing import AUGMENT_PRESETS
    from zoo.models.registry import check_input_shape, get_spec

    spec = get_spec(config["model"])
    size = image_size(config)
    folder_size = size or spec.input_shape[:2]
    splits = load_dataset(config["dataset"], config, image_size=folder_size, channels=3)
    for note in splits.notes:
        log.warning("%s: %s", splits.name, note)
    native = splits.image_shape
    channels = native[-1] if native[-1] in spec.channels else spec.channels[-1]
    shape = (*(size or native[:2]), channels)
    check_input_shape(spec, shape)
    if config["mean_subtract"] and mean is None:
        mean = channel_mean(splits.train, channels, seed=config["seed"])
    augment = AUGMENT_PRESETS[splits.kind] if config["augment"] else None
    common = dict(size=tuple(shape[:2]), channels=channels, mode=spec.preprocessing,
                  mean=tuple(mean) if mean else None)
    return Prepared(splits, spec, shape, Transform(**common, augment=augment), Transform(**common))


def _optimizer(config: dict, learning_rate):
    import keras

    name, wd = config["optimizer"], config["weight_decay"] or None
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=config["momentum"],
                                    nesterov=config["nesterov"], weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=config["weight_decay"] or 0.004)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, momentum=config["momentum"],
                                        weight_decay=wd)
    return keras.optimizers.Nadam(learning_rate, weight_decay=wd)


def steps_per_execution(config: dict, steps_per_epoch: int) -> int:
    """Training steps per compiled call. Eight amortise Keras' per-call overhead, which
    matters for small models: LeNet through zoo's pipeline trains 9% faster on the 2-core CPU,
    MiniVGGNet the same (BENCHMARKS.md). The steps, and so the weights, are unchanged; batch
    callbacks see every eighth batch. The torch backend runs one step per call only."""
    import keras

    if keras.backend.backend() == "torch":
        if config["steps_per_execution"] > 1:
            log.warning("the torch backend runs one step per call; ignoring "
                        "steps_per_execution=%d", config["steps_per_execution"])
        return 1
    return max(1, min(config["steps_per_execution"] or 8, steps_per_epoch))


def _compile(model, config: dict, steps_per_epoch: int, num_classes: int) -> None:
    import keras

    from zoo.training.schedules import build_schedule

    model.compile(
        steps_per_execution=steps_per_execution(config, steps_per_epoch),
        optimizer=_optimizer(config, build_schedule(config, steps_per_epoch)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config["label_smoothing"]),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5_accuracy"),
        ],
    )


def _run_dir(config: dict) -> Path:
    name = config["name"] or "{}-{}-{}".format(
        config["model"], config["dataset"].split(":")[0], datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    run_dir = Path(config["output"]) / name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ZooError(f"run directory {run_dir} already exists; continue it with "
                       f"'zoo train --resume {run_dir}' or choose another --name")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _load_state(run_dir: Path) -> dict:
    state_file = run_dir / "checkpoint" / "state.json"
    if not state_file.is_file():
        raise ZooError(f"{run_dir}: nothing to resume (no completed epoch in checkpoint/); "
                       "start the run again")
    return json.loads(state_file.read_text())


def train(config: dict, resume: str | Path | None = None, callbacks=None, console=None) -> Path:
    """Train per `config` (or continue the run in `resume`), evaluate, and return the run dir."""
    from zoo.backend import load_keras, load_saved_model

    keras = load_keras()
    from zoo.config import dump
    from zoo.data.pipeline import make_sequence
    from zoo.data.preprocessing import batches_per_epoch
    from zoo.io import remove_stale_temps, write_json, write_text
    from zoo.models.registry import build_model
    from zoo.training.callbacks import (
        MODE,
        EpochLogger,
        NaNGuard,
        RestoreRNG,
        ResumableEarlyStopping,
        ResumablePlateau,
        RunCheckpoint,
        seed_variables,
    )
    from zoo.training.schedules import build_schedule

    if config["tensorboard"]:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ZooError("--tensorboard needs the tensorboard package: pip install tensorboard")
    _set_seed(config)
    keras.config.set_dtype_policy(config["precision"])  # also resets an earlier run's policy

    if resume:
        run_dir = Path(resume)
        state = _load_state(run_dir)
        saved_mean = json.loads((run_dir / "labels.json").read_text()).get("mean")
        prepared = prepare(config, mean=saved_mean)
    else:
        prepared = prepare(config)
        state = None
    splits = prepared.splits
    if not len(splits.train):
        raise ZooError(f"{splits.name}: the training split is empty")
    monitor = config["monitor"]
    if monitor.startswith("val_") and splits.val is None:
        log.warning("no validation split: monitoring %s instead of %s", monitor[4:], monitor)
        monitor = monitor[4:]

    bs = config["batch_size"]
    steps = batches_per_epoch(len(splits.train), bs)
    if state is None:
        run_dir = _run_dir(config)
        saved = {**config, "name": None}  # reproducing the run makes a new directory
        write_text(run_dir / "config.yaml", dump(saved))
        write_json(run_dir / "labels.json", {
            "labels": splits.label_names,
            "input_shape": list(prepared.input_shape),
            "preprocessing": prepared.spec.preprocessing,
            "mean": list(prepared.eval_transform.mean) if prepared.eval_transform.mean else None,
            "dataset": splits.name,
        })
        model = build_model(prepared.spec.name, input_shape=prepared.input_shape,
                            num_classes=splits.num_classes)
        _compile(model, config, steps, splits.num_classes)
        _plot_quietly(model, run_dir / "model.png")
        history, best, initial_epoch = [], None, 0
    else:
        initial_epoch = state["epoch"]
        for folder in (run_dir, run_dir / "checkpoint"):
            remove_stale_temps(folder)  # files a killed run was writing
        if initial_epoch >= config["epochs"]:
            raise ZooError(f"{run_dir} already trained {initial_epoch} epochs; pass "
                           f"--epochs N with N > {initial_epoch} to continue")
        ckpt = run_dir / "checkpoint"
        model = load_saved_model(ckpt / state["model_file"])
        seeds = np.load(ckpt / state["seeds_file"])
        for i, variable in enumerate(seed_variables(model)):
            variable.assign(seeds[f"arr_{i}"])
        backend_rng = {key: seeds[key] for key in seeds.files if not key.startswith("arr_")}
        # The schedule follows the (possibly extended) epoch count; its position is the
        # optimizer's restored iteration count.
        schedule = build_schedule(config, steps)
        if not isinstance(schedule, float):  # a float rate lives on in the restored variable
            model.optimizer.learning_rate = schedule
        model.steps_per_execution = steps_per_execution(config, steps)
        history_file = run_dir / "history.json"
        history = json.loads(history_file.read_text())[:initial_epoch] \
            if history_file.is_file() else []
        best = state.get("best")
        write_text(run_dir / "config.yaml", dump({**config, "name": None}))  # new --epochs

    nan_guard = NaNGuard()
    checkpoint = RunCheckpoint(run_dir, monitor, history, best, config["checkpoint_every"],
                               nan_guard)
    cbs = [RestoreRNG(backend_rng)] if state is not None else []
    cbs += [EpochLogger(), nan_guard]
    if config["lr_schedule"] == "plateau":
        checkpoint.stateful["plateau"] = ResumablePlateau(
            monitor=monitor, mode=MODE[monitor], factor=config["lr_drop_factor"], patience=3,
            verbose=0, restore=(state or {}).get("plateau"))
    if config["early_stop"]:
        checkpoint.stateful["early_stop"] = ResumableEarlyStopping(
            monitor=monitor, mode=MODE[monitor], patience=config["early_stop"],
            restore=(state or {}).get("early_stop"))
    cbs += checkpoint.stateful.values()
    if config["tensorboard"]:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    cbs.append(checkpoint)
    cbs += list(callbacks or [])

    seq = make_sequence(splits.train, prepared.train_transform, splits.num_classes, bs,
                        shuffle=True, seed=config["seed"], epoch=initial_epoch)
    val_seq = (make_sequence(splits.val, prepared.eval_transform, splits.num_classes, bs)
               if splits.val is not None else None)
    if console is not None:
        console.print(f"training {prepared.spec.name} on {splits.name}: "
                      f"{len(splits.train)} train / {len(splits.val) if splits.val else 0} val "
                      f"images of {'x'.join(map(str, prepared.input_shape))}, "
                      f"epochs {initial_epoch + 1}-{config['epochs']}, run {run_dir}")
    model.fit(
        seq,
        validation_data=val_seq,
        epochs=config["epochs"],
        initial_epoch=initial_epoch,
        shuffle=False,  # the sequence shuffles by (seed, epoch); Keras' own would not resume
        callbacks=cbs,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    bad = {**splits.train.source.bad_files}
    if bad:
        names = ", ".join(Path(p).name for p in list(bad)[:5])
        log.warning("skipped %d unreadable image files: %s%s", len(bad), names,
                    " ..." if len(bad) > 5 else "")

    history = checkpoint.history
    early = "early_stop" in checkpoint.stateful and checkpoint.stateful["early_stop"].stopped_epoch
    if early:
        log.info("early stop after epoch %d: %s did not improve for %d epochs", len(history),
                    monitor, config["early_stop"])
    train_seconds = float(sum(row.get("seconds", 0.0) for row in history))
    epochs_done = len(history)
    images_seen = epochs_done * len(splits.train)
    extra = {
        "epochs": epochs_done,
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round(images_seen / train_seconds, 1) if train_seconds else None,
        "stopped": "nan_loss" if nan_guard.stopped else "early_stop" if early else None,
        "model": prepared.spec.name,
        "dataset": splits.name,
    }
    if nan_guard.stopped:
        log.warning("the loss became NaN; training stopped, the best model so far is kept")
    evaluate_run(run_dir, prepared=prepared, extra=extra, console=console)
    return run_dir


def _plot_quietly(model, path: Path) -> None:
    import importlib.util
    import shutil

    if importlib.util.find_spec("pydot") is None or shutil.which("dot") is None:
        log.info("model.png skipped: Graphviz or pydot is not installed")
        return
    from zoo.plots import plot_model_graph

    try:
        plot_model_graph(model, path)
    except Exception as exc:  # a graph is a nicety; never lose a run over it
        log.warning("model.png not drawn: %s", exc)


def evaluate_run(run_dir: str | Path, dataset: str | None = None, split: str = "test",
                 prepared: Prepared | None = None, extra: dict | None = None,
                 console=None) -> dict:
    """Evaluate the best model of `run_dir` and write metrics.json, the report and the matrix."""
    from zoo.backend import load_keras, load_saved_model

    load_keras()  # quietly, before anything below imports Keras
    from zoo.config import load_yaml, resolve
    from zoo.data.pipeline import load_all
    from zoo.evaluation import evaluate_predictions, print_summary, write_report

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ZooError(f"{run_dir} is not a run directory (no config.yaml)")
    labels_info = json.loads((run_dir / "labels.json").read_text())
    if prepared is None:
        config = resolve(None, load_yaml(run_dir / "config.yaml"))
        if dataset:
            config["dataset"] = dataset
        prepared = prepare(config, mean=labels_info.get("mean"))
        if prepared.splits.num_classes != len(labels_info["labels"]):
            raise ZooError(f"{prepared.splits.name} has {prepared.splits.num_classes} classes; "
                           f"the model was trained on {len(labels_info['labels'])}")
        metrics_file = run_dir / "metrics.json"
        extra = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        extra = {k: extra.get(k) for k in ("epochs", "train_seconds", "images_per_second",
                                           "stopped", "model", "dataset")}
        extra["dataset"] = prepared.splits.name
    best = run_dir / "model.keras"
    if not best.is_file():
        raise ZooRuntimeError(f"{run_dir} has no model.keras (no epoch finished with a finite "
                              "loss); try a lower --lr")
    model = load_saved_model(best, compile=False)  # predictions only
    which, chosen = prepared.splits.eval_split(split)
    x, y = load_all(chosen, prepared.eval_transform)
    if not len(y):
        raise ZooError(f"{prepared.splits.name}: no readable images in the {which} split")
    probs = np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float64)
    result = evaluate_predictions(probs, y, labels_info["labels"])
    metrics = write_report(run_dir, result, {**(extra or {}), "split": which},
                           labels_info["labels"])
    if console is not None:
        print_summary(metrics, console)
    if not math.isfinite(metrics["loss"]):
        log.warning("the evaluation loss is not finite")
    return metrics
