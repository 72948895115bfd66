"""`zoo train`: a new run or a resumed one becomes one `TrainingState`, then one fit.

    train(config)                  -> _open_new     -> _new_run     \
                                                                      -> TrainingState -> _fit
    train(config, resume=RUN_DIR)  -> _open_resumed -> _resumed_run /

    _fit: _monitor, _callbacks, _sequences, _announce, then _run_phases (model.fit, once or
          per transfer phase), _record_skipped, and on process 0 _evaluate (metrics.json)

The optimizer and the compiled model come from `zoo.training.compile`; the distribution is
set up once by `train` (`zoo.training.distribution.setup`) and passed to every step. Under
`--distribute data-parallel` the model is built, loaded and trained in the distribution's
scope; every process trains, process 0 alone writes the run directory and evaluates the best
model, on one device.

Backend-agnostic: Keras and numpy only, except the optional determinism switch, which is a
TensorFlow-only call.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from zoo.backend import load_keras, quiet_native_logs

keras = load_keras()  # quietly, before the modules below import it

from zoo.card import ModelCard  # noqa: E402
from zoo.config import Config  # noqa: E402
from zoo.data.pipeline import make_sequence  # noqa: E402
from zoo.data.preprocessing import batches_per_epoch  # noqa: E402
from zoo.errors import ZooError, first_line, os_problem  # noqa: E402
from zoo.evaluation import evaluate_run  # noqa: E402
from zoo.inputs import Inputs, prepare  # noqa: E402
from zoo.models.registry import build_model  # noqa: E402
from zoo.run import RunDir, load_model  # noqa: E402
from zoo.training import distribution, transfer  # noqa: E402
from zoo.training.callbacks import (  # noqa: E402
    MODE,
    AveragedWeights,
    BestModel,
    EpochLogger,
    HistoryMonitor,
    NaNGuard,
    PeriodicCheckpoint,
    RestoreRNG,
    Resumable,
    ResumableCounters,
    ResumableEarlyStopping,
    ResumablePlateau,
    ResumeCheckpoint,
    SkippedFiles,
    seed_variables,
)
from zoo.training.compile import (  # noqa: E402
    check_recipe,
    compile_model,
    steps_per_execution,
)
from zoo.training.distribution import Distribution  # noqa: E402
from zoo.training.launch import Launch  # noqa: E402
from zoo.training.schedules import build_schedule  # noqa: E402

log = logging.getLogger("zoo")


@dataclass
class TrainingState:
    """Where a fit starts: the run directory, the compiled model, the epochs already done and
    what the resumable callbacks need back (empty for a new run)."""

    run: RunDir
    model: object
    initial_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    restore: dict[str, dict] = field(default_factory=dict)
    backend_rng: dict | None = None
    phase: str | None = None  # transfer runs: the phase the model is compiled for


@dataclass
class FitCallbacks:
    """The callbacks of a fit, in order, and those the steps after it read."""

    all: list
    guard: NaNGuard
    history: HistoryMonitor
    early: ResumableEarlyStopping | None
    tracker: PhaseTracker
    best: BestModel | None = None  # process 0's


def train(config: Config, resume: str | Path | None = None, callbacks=None,
          console=None, launch: Launch | None = None) -> Path:
    """Train per `config`, or continue the run in `resume` (whose saved plan `config` is),
    then evaluate the best model; return the run directory. `launch`: how this process joins
    the others of a multi-process data-parallel run."""
    _check_tensorboard(config)
    transfer.check(config)
    distribution.reset()
    # first: JAX joins the other processes before its first computation
    dist = distribution.setup(config.distribute, config.batch_size, launch)
    check_recipe(config, dist)  # before the data loads; a resume may add --distribute
    _set_seed(config)
    keras.config.set_dtype_policy(config.precision)  # also resets an earlier run's policy
    lr_finding = None
    if resume is None:
        if config.lr == "auto":  # Smith's range test picks the rate config.yaml then holds
            from zoo.training.lr_finder import choose_lr

            # the name first: a taken --name is one line now, not after ~100 steps of test
            RunDir.check_new(config.output, _run_name(config, dist))
            config, lr_finding = choose_lr(config, dist, console)
            _set_seed(config)  # the run starts as one given this rate would: --config repeats it
        run, inputs, model, phase = _open_new(config, dist)
        saved = None
    else:
        run, saved, inputs = _open_resumed(resume, config, dist)
    try:
        if lr_finding is not None and dist.is_writer:  # lr_find.json and .png, in the run
            lr_finding.save(run.path, title=run.path.name)
        with dist.scope():
            if saved is None:
                state = _new_run(run, config, inputs, model, phase, dist)
            else:
                state = _resumed_run(run, saved, config, inputs, dist)
            _fit(state, config, inputs, callbacks, console, dist)
    except OSError as exc:  # a full disk, a lost share: one line, and resume where it can
        run.discard_if_empty()
        raise _write_failure(exc, run) from None
    except ZooError:  # the user's data or settings refused: the run is as it was
        raise
    except Exception as exc:  # a bug's exception; a KeyboardInterrupt is no failure either
        _record_failure(run, exc, dist)
        raise
    return run.path


def _open_new(config: Config, dist: Distribution):
    """A new run's inputs, its compiled model (and the phase it is compiled for) and its run
    directory, made by process 0 once the model is built."""
    # Every process checks the name first: before the data loads (a taken name or a file in
    # the way is one line at once, not after a download) and before the model is built (whose
    # variables the processes create together), so none sees process 0's new directory as
    # taken.
    run = RunDir.check_new(config.output, _run_name(config, dist))
    source = transfer.Source(config).labels() if config.pretrained else None
    inputs = prepare(config, mean=source.mean if source else None,
                     preprocessing=source.preprocessing if source else None)
    if not len(inputs.splits.train):
        raise ZooError(f"{inputs.splits.name}: the training split is empty")
    # the model before the run directory: a bad source or layer leaves no directory
    with dist.scope():
        model, phase = _build(config, inputs, dist)
    if dist.is_writer:
        run = RunDir.create(run.path.parent, run.path.name)
    return run, inputs, model, phase


def _open_resumed(resume: str | Path, config: Config, dist: Distribution):
    """The run to resume, its saved state and its inputs, each checked before the model
    loads (and the finished run refused before its dataset is read)."""
    run = RunDir.open(resume)
    saved = run.read_state()
    if saved is None:
        raise ZooError(f"{run}: nothing to resume (no completed epoch in checkpoint/); "
                       "start the run again")
    distribution.check_resume(dist, saved.get("distribution", {}).get("processes", 1),
                              str(run))
    if saved["epoch"] >= config.epochs:  # before the dataset loads
        raise ZooError(f"{run} already trained {saved['epoch']} of its {config.epochs} "
                       f"epochs; pass --epochs N with N > {saved['epoch']} to train on")
    card = run.read_card()
    inputs = prepare(config, mean=card.mean, preprocessing=card.preprocessing)
    return run, saved, inputs


def _run_name(config: Config, dist: Distribution) -> str:
    if config.name:
        return config.name
    # the processes of a distributed run agree on process 0's clock
    stamp = datetime.fromtimestamp(
        distribution.broadcast_int(dist, int(datetime.now().timestamp())))
    return "{}-{}-{}".format(config.model, config.dataset.split(":")[0],
                             stamp.strftime("%Y%m%d-%H%M%S"))


def _build(config: Config, inputs: Inputs, dist: Distribution):
    """The compiled model of a new run, and the phase it is compiled for (transfer runs)."""
    splits = inputs.splits
    if config.get("task") == "boxes":  # issue 19: zoo.boxes' head, loss and metrics
        from zoo.boxes.model import build_box_model

        model = build_box_model(config, inputs.input_shape, splits.num_classes)
        phase = transfer.HEAD if config.pretrained else None
        _compile(model, transfer.phase_config(config, phase) if phase else config,
                 _steps(config, inputs), splits.num_classes, dist)
        return model, phase
    if config.pretrained:
        model = transfer.build_transfer_model(config, inputs.input_shape, splits.num_classes)
        phase = transfer.HEAD
        compile_model(model, transfer.phase_config(config, phase), _steps(config, inputs),
                      splits.num_classes, dist)
    else:
        model = build_model(inputs.spec.name, input_shape=inputs.input_shape,
                            num_classes=splits.num_classes)
        phase = None
        compile_model(model, config, _steps(config, inputs), splits.num_classes, dist)
    return model, phase


def _new_run(run: RunDir, config: Config, inputs: Inputs, model, phase,
             dist: Distribution) -> TrainingState:
    if not dist.is_writer:
        return TrainingState(run, model, phase=phase)
    splits = inputs.splits
    run.write_config(config.replace(name=None))  # reproducing the run makes a new directory
    run.write_card(ModelCard(
        names=splits.label_names,
        input_shape=inputs.input_shape,
        preprocessing=inputs.eval_transform.mode,  # a fine-tuned run's is its source's
        mean=inputs.eval_transform.mean,
        dataset=splits.name,
        task="boxes" if config.get("task") == "boxes" else "classification",  # issue 19
    ))
    _plot_quietly(model, run.graph_png)
    return TrainingState(run, model, phase=phase)


def _resumed_run(run: RunDir, saved: dict, config: Config, inputs: Inputs,
                 dist: Distribution) -> TrainingState:
    inputs.check_classes(run.read_card(), str(run))
    if dist.is_writer:
        run.remove_stale_temps()  # files a killed run was writing
        run.remove_failed()  # this attempt's own ending will say how it went
    if config.get("task") == "boxes":
        import zoo.boxes.model  # noqa: F401  (registers the box loss and metrics: issue 19)
    model = load_model(run.checkpoint_dir / saved["model_file"])
    seeds = np.load(run.checkpoint_dir / saved["seeds_file"])
    for i, variable in enumerate(seed_variables(model)):
        variable.assign(seeds[f"arr_{i}"])
    backend_rng = {key: seeds[key] for key in seeds.files if not key.startswith("arr_")}
    steps = _steps(config, inputs)
    phase = saved.get("transfer", {}).get("phase")
    if run.read_config()["epochs"] != config.epochs:
        # --epochs moved the end: re-plan the schedule (step at percentages, poly and cosine
        # depend on it). Its position is the optimizer's restored iteration count. Otherwise
        # the checkpoint's own schedule goes on, exactly as saved.
        schedule = build_schedule(transfer.phase_config(config, phase) if phase else config,
                                  steps)
        if not isinstance(schedule, float):  # a float rate lives on in the restored variable
            model.optimizer.learning_rate = schedule
    model.steps_per_execution = steps_per_execution(config, steps, dist)
    if dist.is_writer:
        run.write_config(config.replace(name=None))  # the plan, with any extension
    restore = {k: v for k, v in saved.items() if isinstance(v, dict)}
    if "best_model" not in restore and "best" in saved:  # state.json of zoo before 0.2
        restore["best_model"] = {"best": saved["best"]}
    return TrainingState(run, model, saved["epoch"], run.read_history()[:saved["epoch"]],
                         restore, backend_rng, phase)


def _fit(state: TrainingState, config: Config, inputs: Inputs, callbacks, console,
         dist: Distribution) -> None:
    """Train from `state` to the end of the plan, then (process 0) evaluate the best model."""
    monitor = _monitor(config, inputs)
    fit = _callbacks(state, config, inputs, monitor, PhaseTracker(state.phase), dist)
    fit.all += list(callbacks or [])
    seq, val_seq = _sequences(config, inputs, state.initial_epoch, dist)
    _announce(console, state, config, inputs, dist)
    try:
        _run_phases(state, config, inputs, fit, seq, val_seq, dist)
    finally:  # whatever stopped the fit, the files it skipped are listed
        _record_skipped(state.run, inputs, dist)
    if dist.is_writer:  # process 0 evaluates and writes the metrics
        _evaluate(state.run, config, inputs, monitor, fit, dist, console)


def _monitor(config: Config, inputs: Inputs) -> str:
    """The metric that picks the best model: `config.monitor`, or its training twin when
    there is no validation split."""
    monitor = config.monitor
    if monitor.startswith("val_") and inputs.splits.val is None:
        log.warning("no validation split: monitoring %s instead of %s", monitor[4:], monitor)
        monitor = monitor[4:]
    return monitor


def _sequences(config: Config, inputs: Inputs, initial_epoch: int, dist: Distribution):
    """The training and validation batches; each process reads its share of every global
    batch (all of it, in one process)."""
    splits = inputs.splits
    if config.get("task") == "boxes":  # issue 19: images with their boxes
        from zoo.boxes.pipeline import make_box_sequence

        seq = make_box_sequence(splits.train, inputs.train_transform, splits.num_classes,
                                config.batch_size, shuffle=True, seed=config.seed,
                                epoch=initial_epoch)
        val_seq = (make_box_sequence(splits.val, inputs.eval_transform, splits.num_classes,
                                     config.batch_size) if splits.val is not None else None)
        return seq, val_seq
    sharding = dict(shard=dist.shard(), multiple=dist.batch_multiple())
    seq = make_sequence(splits.train, inputs.train_transform, splits.num_classes,
                        config.batch_size, shuffle=True, seed=config.seed,
                        epoch=initial_epoch, sampler=config.sampler, **sharding)
    val_seq = (make_sequence(splits.val, inputs.eval_transform, splits.num_classes,
                             config.batch_size, **sharding) if splits.val is not None else None)
    return seq, val_seq


def _announce(console, state: TrainingState, config: Config, inputs: Inputs,
              dist: Distribution) -> None:
    """What trains on what, where: the lines a run starts with."""
    splits = inputs.splits
    if console is not None:
        console.print(f"training {inputs.spec.name} on {splits.name}: "
                      f"{len(splits.train)} train / {len(splits.val) if splits.val else 0} val "
                      f"images of {'x'.join(map(str, inputs.input_shape))}, "
                      f"epochs {state.initial_epoch + 1}-{config.epochs}, run {state.run}")
        console.print(dist.describe() if dist.parallel or dist.num_processes > 1
                      else f"on {dist.devices[0]}, batch {config.batch_size}")
        if dist.process_id:
            console.print(f"process {dist.process_id} of {dist.num_processes}: process 0 "
                          "writes the run directory")
    if dist.devices[0].startswith("gpu") and "precision" not in config.explicit:
        log.info("training on a GPU in float32: --precision mixed_bfloat16 (Ampere or newer; "
                 "mixed_float16 before) computes on its tensor cores")


def _run_phases(state: TrainingState, config: Config, inputs: Inputs, fit: FitCallbacks,
                seq, val_seq, dist: Distribution) -> None:
    """One `model.fit`, or one per phase of a transfer run (each phase compiles its own
    optimizer), from the epoch the state is at."""
    stages = transfer.phases(config) if config.pretrained else [(None, config.epochs)]
    start = state.initial_epoch
    for phase, end in stages:
        if start >= end:
            continue
        if phase != fit.tracker.phase:
            _enter_phase(state.model, config, inputs, phase, fit, dist)
        seq.epoch = start  # the order of the epoch the fit starts at
        seq.reorder()
        state.model.fit(
            seq,
            validation_data=val_seq,
            epochs=end,
            initial_epoch=start,
            shuffle=False,  # the sequence shuffles by (seed, epoch); Keras' would not resume
            class_weight=inputs.class_weight,  # --class-weight, resolved by zoo.inputs
            callbacks=fit.all,
            verbose=(1 if sys.stdout.isatty() else 2) if dist.is_writer else 0,
        )
        start = end
        if fit.guard.stopped:  # an early stop of the head phase still fine-tunes
            break


def _enter_phase(model, config: Config, inputs: Inputs, phase: str, fit: FitCallbacks,
                 dist: Distribution) -> None:
    """Freeze or unfreeze the layers of `phase` and compile its optimizer; its patience
    starts afresh, resumed or not."""
    if getattr(model.optimizer, "built", False):  # --ema: from the last phase's averages, as
        # the end of its fit left a straight run (Keras' finalize_variable_values); a resumed
        # one loaded the trained weights
        model.optimizer.finalize_variable_values(model.trainable_weights)
    transfer.set_phase(model, config, phase)
    _compile(model, transfer.phase_config(config, phase), _steps(config, inputs),
             inputs.splits.num_classes, dist)
    fit.tracker.phase = phase
    for callback in fit.all:
        if isinstance(callback, ResumableCounters):
            callback.discard_restore()


def _record_skipped(run: RunDir, inputs: Inputs, dist: Distribution) -> None:
    skipped = inputs.skipped_files()
    if skipped and dist.is_writer:
        run.write_skipped({**run.read_skipped(), **skipped})


def _evaluate(run: RunDir, config: Config, inputs: Inputs, monitor: str, fit: FitCallbacks,
              dist: Distribution, console) -> None:
    """Say how the fit ended, then evaluate the best model into metrics.json with the facts
    of the training."""
    splits, rows = inputs.splits, fit.history.history
    stopped_early = fit.early is not None and fit.early.stopped_epoch
    if stopped_early:
        log.info("early stop after epoch %d: %s did not improve for %d epochs", len(rows),
                 monitor, config.early_stop)
    if fit.guard.stopped:
        log.warning("the loss became NaN; training stopped, the best model so far is kept")
    train_seconds = float(sum(row.get("seconds", 0.0) for row in rows))
    extra = {
        "epochs": len(rows),
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round(len(rows) * len(splits.train) / train_seconds, 1)
        if train_seconds else None,
        "stopped": "nan_loss" if fit.guard.stopped else "early_stop" if stopped_early else None,
        "model": inputs.spec.name,
        "dataset": splits.name,
        "distribution": dist.record(),
        "class_weight": ({splits.label_names[c]: w for c, w in inputs.class_weight.items()}
                         if inputs.class_weight else None),
    }
    # the trained model when it holds model.keras's weights on one device (not the averages
    # of --ema); otherwise the best model, freshly loaded (4.7 s for MiniVGGNet at 224x224)
    in_memory = (fit.best is not None and fit.best.holds_best() and not config.ema
                 and not dist.parallel)
    with distribution.local():
        evaluate_run(run, inputs=inputs, extra=extra, console=console, page=config.report,
                     tta=config.tta, model=fit.best.model if in_memory else None)


def _callbacks(state: TrainingState, config: Config, inputs: Inputs, monitor: str,
               tracker: PhaseTracker, dist: Distribution) -> FitCallbacks:
    """The callbacks of a fit, in the order their epoch-end writes must happen. In a
    multi-process run the others train with the callbacks that decide (NaN, early stop,
    plateau), which see the same global metrics; only process 0 writes."""
    run, restore = state.run, state.restore
    guard = NaNGuard()
    best = BestModel(run, monitor, guard, restore=restore.get("best_model"))
    resumables = {"best_model": best, "distribution": DistributionRecord(dist)}
    if tracker.phase is not None:
        resumables["transfer"] = tracker
    cbs = [RestoreRNG(state.backend_rng)] if state.backend_rng is not None else []
    cbs += [EpochLogger(), guard]
    if config.lr_schedule == "plateau":
        resumables["plateau"] = ResumablePlateau(
            monitor=monitor, mode=MODE[monitor], factor=config.lr_drop_factor, patience=3,
            verbose=0, restore=restore.get("plateau"))
    early = None
    if config.early_stop:
        early = resumables["early_stop"] = ResumableEarlyStopping(
            monitor=monitor, mode=MODE[monitor], patience=config.early_stop,
            restore=restore.get("early_stop"))
    cbs += [cb for key, cb in resumables.items()
            if key not in ("best_model", "transfer", "distribution")]
    # --ema: every process validates the averaged weights; from `ema` to `ema.raw` at an
    # epoch's end they are in the model, so model.keras (and periodic copies) hold them and
    # the resume checkpoint, after `ema.raw`, the trained weights (with the averages).
    ema = [AveragedWeights()] if config.ema else []
    cbs += ema
    history = HistoryMonitor(run, state.history, guard)
    if not dist.is_writer:
        return FitCallbacks(cbs + [e.raw for e in ema], guard, history, early, tracker)
    if config.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard_dir)))
    cbs += [best, SkippedFiles(run, inputs.skipped_files)]
    if config.checkpoint_every:
        cbs.append(PeriodicCheckpoint(run, config.checkpoint_every, guard))
    cbs += [history, *[e.raw for e in ema]]
    # the commit point last; with --ema model.keras holds the averages, not the weights
    cbs += [ResumeCheckpoint(run, resumables, guard, best=None if ema else best)]
    return FitCallbacks(cbs, guard, history, early, tracker, best)


class DistributionRecord(Resumable):
    """How many processes trained the run, saved with each checkpoint: a resume must bring
    as many."""

    def __init__(self, dist: Distribution):
        self.dist = dist

    def resume_state(self) -> dict:
        return {"processes": self.dist.num_processes, "devices": self.dist.devices}


class PhaseTracker(Resumable):
    """The phase of a transfer run, saved with each checkpoint."""

    def __init__(self, phase: str | None):
        self.phase = phase

    def resume_state(self) -> dict:
        return {"phase": self.phase}


def _record_failure(run: RunDir, exc: BaseException, dist: Distribution) -> None:
    """Write failed.json (`zoo runs` shows its error line) into `run`, when process 0 left a
    run directory; best effort: the exception on its way out is never masked."""
    if not dist.is_writer or not run.path.is_dir():
        return
    try:
        run.write_failed({"error": first_line(exc), "type": type(exc).__name__,
                          "time": datetime.now().isoformat(timespec="seconds")})
    except Exception as failure:  # a full disk, say: the original error says it already
        log.debug("failed.json not written: %s", failure)


def _write_failure(exc: OSError, run: RunDir) -> ZooError:
    """`exc`, met while training into `run`, in zoo's words (`zoo.errors.os_problem`), with
    how to go on: resume from the saved epoch, or start again."""
    problem = os_problem(exc)
    where = f"writing {exc.filename}" if exc.filename else f"writing into {run}"
    state = run.read_state() if run.path.is_dir() else None
    if state is None:
        left = "remove it and " if run.path.exists() else ""
        return ZooError(f"{problem.text} {where}; no epoch of {run} was saved: "
                        f"{problem.remedy}, then {left}start the run again", problem.exit_code)
    return ZooError(f"{problem.text} {where}; epoch {state['epoch']} is saved: "
                    f"{problem.remedy}, then 'zoo train --resume {run}' continues the run",
                    problem.exit_code)


# ---------------------------------------------------------------------------------------------
# before the first step


def _check_tensorboard(config: Config) -> None:
    import importlib.util

    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ZooError("--tensorboard needs the tensorboard package: pip install tensorboard")


def _set_seed(config: Config) -> None:
    with quiet_native_logs():  # under jax/torch this imports TensorFlow, when installed
        keras.utils.set_random_seed(config.seed)
    if config.deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the TensorFlow-only determinism switch

        tf.config.experimental.enable_op_determinism()


def _compile(model, config: Config, steps: int, num_classes: int, dist: Distribution) -> None:
    """`compile_model`, or for `--task boxes` (issue 19) the box loss and metrics."""
    if config.get("task") == "boxes":
        from zoo.boxes.model import compile_box_model

        compile_box_model(model, config, steps, num_classes, dist)
    else:
        compile_model(model, config, steps, num_classes, dist)


def _steps(config: Config, inputs: Inputs) -> int:
    return batches_per_epoch(len(inputs.splits.train), config.batch_size)


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
