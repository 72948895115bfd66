"""`zoo tune`: hyper-parameter search with Optuna, each trial a zoo run.

    run_study(BASE.yaml, SPACE.yaml, trials=N)
        read_space, study_base (the base with the space's fixed settings, held out),
        check_space (every low, high and choice resolved with the base config)
        -> the study: Optuna's TPE sampler and median pruner, in a database
           (STUDY/study.log, Optuna's journal file, or --storage URL: PostgreSQL, SQLite)
        -> trials until N are complete or pruned: each resolves the base config with the
           sampled values and trains it into STUDY/trials/trial-NNNN (a zoo run directory)
        -> best.yaml, trials.csv, history.png, importances.png

The study lives in the database, so that it survives a killed process and is shared by every
process that runs the same `zoo tune` (on one machine through the journal file, on many
through PostgreSQL). A trial in flight when its process dies is left RUNNING by Optuna; the
next `zoo tune` marks it FAILED: at once when it ran on this machine (its process is gone),
through Optuna's heartbeat (`RDBStorage(heartbeat_interval, grace_period)`) when it ran on
another one.

A trial the pruner stops ends as an early-stopped run does: training stops at an epoch's end
(`model.stop_training`, after the epoch's checkpoint), the best model is evaluated, and
metrics.json says `"stopped": "pruned"`, so that `zoo runs STUDY/trials` lists it finished.
Raising `optuna.TrialPruned` through `model.fit` would instead leave the trainer a run that
failed (failed.json) and was never evaluated.

A trial that ends on a one-line error (a `ZooError`: sampled settings that the run
configuration refuses together, such as `lr_schedule: onecycle` with `warmup_epochs: 2`; a
rate that diverges to NaN in the first epoch, so that no model.keras is ever saved to
evaluate) is that trial's end, not the study's: one progress line says why, its run
directory (when it has one) gets failed.json, as the trainer's own failures do, so that `zoo
runs STUDY/trials` lists it failed, and Optuna marks it FAILED, with the reason in the
`error` column of trials.csv. Failed trials do not count toward `--trials` (as a killed
trial does not), so a process stops after `MAX_FAILED_IN_A_ROW` (3) of its trials failed one
after another: it writes trials.csv (and best.yaml, when a trial completed) and ends with one
line, `zoo: error: ...`, exit 1. Running the same command again tries 3 more. A study that
reaches `--trials` without a complete trial (all pruned or failed) ends the same way: there
is no best.yaml to write.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import re
import socket
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from zoo.choices import MONITOR_MODE
from zoo.config import FIELDS_BY_NAME, Config, resolve, validate
from zoo.errors import ZooError, ZooRuntimeError, first_line

optuna.logging.set_verbosity(optuna.logging.WARNING)  # zoo prints one line per trial

STUDY_LOG = "study.log"  # the journal of the default storage
TRIALS = "trials"  # the folder of the trials' run directories
BEST = "best.yaml"
TRIALS_CSV = "trials.csv"
HISTORY_PNG = "history.png"
IMPORTANCES_PNG = "importances.png"
ASK_LOCK = ".ask.lock"  # held by one process of this machine while it counts and asks

RANGE_KEYS = ("low", "high", "log", "step")
FIXED = "fixed"  # the space file's mapping of unsearched settings (`read_space`)
NOT_TUNED = {"output": "the trials go into the study's folder",
             "name": "each trial is named trial-NNNN"}
DIRECTION = {monitor: f"{mode}imize" for monitor, mode in MONITOR_MODE.items()}  # Optuna's

# Optuna's heartbeat (database storages): a trial whose process has not beaten for GRACE_S
# seconds is failed by the next process that starts a trial.
HEARTBEAT_S = 10
GRACE_S = 60
ORPHAN_S = 60  # a RUNNING trial still without an owner this long after it started is dead
POLL_S = 2.0  # how often a process waiting for the others' last trials looks again
OWNER = "zoo_owner"  # user attribute: where the trial runs (machine, process)
PRUNER_STARTUP = 5  # complete trials before the median pruner prunes (Optuna's default)
MAX_FAILED_IN_A_ROW = 3  # failed trials, one after another in one process, that stop it
DONE, TIMED_OUT, FAILING = "done", "timeout", "failing"  # how `_optimize` ended


# ---------------------------------------------------------------------------------------------
# the search space


@dataclass(frozen=True)
class Param:
    """One setting of the search space: a range (`low`..`high`, on a log scale or in steps)
    or a list of `choices`."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple | None = None

    @property
    def is_int(self) -> bool:
        return self.choices is None and FIELDS_BY_NAME[self.name].type is int

    def values(self) -> list:
        """The values `check_space` tries: the ends of a range, or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def suggest(self, trial) -> Any:
        """The value of this setting for the Optuna `trial`."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1,
                                     log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def to_json(self) -> dict:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}


def read_space(path: str | Path) -> tuple[dict[str, Param], dict]:
    """Read a search space: a YAML mapping of `zoo.config.FIELDS` keys to a range
    (`{low: 1.0e-4, high: 0.3, log: true}`, `{low: 16, high: 128, step: 16}`) or a list
    of choices (`[sgd, adamw]`), and optionally `fixed:`, a mapping of settings every trial
    takes instead of the base config's, unsearched (`{val_split: 0.1, monitor:
    val_accuracy}`: a preset trained on all of its data, searched with a held-out split).

    Args:
        path: the YAML file.

    Returns:
        `({setting: Param}, {setting: value})`: the searched settings in the file's order,
        and the fixed ones.

    Raises:
        ZooError: in one line, for an unknown setting (with a did-you-mean), a bad range
            (low > high, a log scale from low <= 0, a step on a log scale, a range of a
            setting that is not a number) or a choice that the setting does not take.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"search space file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ZooError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict) or not data:
        raise ZooError(f"{path}: expected a mapping of settings to ranges or lists of choices, "
                       "e.g. 'lr: {low: 1.0e-4, high: 0.3, log: true}'")
    fixed = data.pop(FIXED, None) or {}
    if not isinstance(fixed, dict):
        raise ZooError(f"{path}: {FIXED}: expected a mapping of settings to values, e.g. "
                       "'fixed: {val_split: 0.1}'")
    unknown = [k for k in [*data, *fixed] if k not in FIELDS_BY_NAME]
    if unknown:
        import difflib

        hint = difflib.get_close_matches(str(unknown[0]), FIELDS_BY_NAME, n=1)
        raise ZooError(f"{path}: unknown setting {unknown[0]!r}"
                       + (f" (did you mean {hint[0]}?)" if hint else "")
                       + "; a search space names settings of 'zoo train' (config keys)")
    space = {}
    for name in [*data, *fixed]:
        if name in NOT_TUNED:
            raise ZooError(f"{path}: {name} is not tuned ({NOT_TUNED[name]})")
        if name in data and name in fixed:
            raise ZooError(f"{path}: {name} is both searched and fixed")
    if not data:
        raise ZooError(f"{path}: nothing to search: name a setting with a range or a list of "
                       "choices beside fixed:")
    for name, spec in data.items():
        space[name] = _param(name, spec, f"{path}: {name}")
    return space, fixed


def study_base(base_config_path: str | Path, fixed: dict) -> Config:
    """The base config with the space's fixed settings, refused in one line unless it
    compares trials on held-out images: a study that ranked them by a training figure would
    pick the one that overfits."""
    base = resolve(base_config_path)
    try:
        base = resolve(base_config_path, fixed) if fixed else base
    except ZooError as exc:
        raise ZooError(f"{base_config_path} with {FIXED} {fixed}: {exc}") from None
    if not base.monitor.startswith("val_") or base.val_split == 0:
        raise ZooError(f"{base_config_path}: monitor {base.monitor} with val_split "
                       f"{base.val_split:g}: a search compares trials on held-out images; "
                       f"monitor val_accuracy or val_loss with val_split above 0 (in the "
                       f"config, or the space's '{FIXED}: {{val_split: 0.1, monitor: "
                       f"val_accuracy}}')")
    return base


def _param(name: str, spec: Any, where: str) -> Param:
    field = FIELDS_BY_NAME[name]
    if isinstance(spec, list):
        return Param(name, choices=_choices(field, spec, where))
    if not isinstance(spec, dict):
        raise ZooError(f"{where}: give a range ({{low: A, high: B}}, optionally log: true or "
                       f"step: S) or a list of choices; got {spec!r}")
    extra = [k for k in spec if k not in RANGE_KEYS]
    if extra:
        raise ZooError(f"{where}: a range takes {', '.join(RANGE_KEYS)}; got {extra[0]!r}")
    if "low" not in spec or "high" not in spec:
        raise ZooError(f"{where}: a range needs both low and high; got {spec}")
    number = field.type is int or field.type is float or field.name == "lr"
    if not number or field.choices:
        raise ZooError(f"{where}: not a number, so no range: give a list of choices")
    kind = int if field.type is int else float
    low, high, step = (_number(spec.get(k), kind, f"{where}: {k}") for k in ("low", "high",
                                                                               "step"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ZooError(f"{where}: log must be true or false; got {log!r}")
    if low > high:
        raise ZooError(f"{where}: low must not exceed high; got low={low}, high={high}")
    if log and low <= 0:
        raise ZooError(f"{where}: a log scale needs low > 0; got low={low}")
    if step is not None and (log or step <= 0):
        raise ZooError(f"{where}: step must be positive and cannot go with log: true; got "
                       f"step={step}" + (", log: true" if log else ""))
    return Param(name, low=low, high=high, log=log, step=step)


def _number(value: Any, kind: type, where: str) -> float | int | None:
    if value is None:
        return None
    if kind is float and isinstance(value, str):  # YAML 1.1 reads 1.0e6 (no sign) as text
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            (kind is int and not isinstance(value, int)) or not math.isfinite(value):
        what = "a whole number" if kind is int else "a number"
        raise ZooError(f"{where} must be {what}; got {value!r}")
    return kind(value)


def _choices(field, values: list, where: str) -> tuple:
    if not values:
        raise ZooError(f"{where}: the list of choices is empty")
    chosen = []
    for value in values:
        if isinstance(value, dict | list):
            raise ZooError(f"{where}: a choice is one value; got {value!r}")
        if value is not None:
            try:
                value = field.type(value) if field.type is not bool else value
            except (TypeError, ValueError):
                raise ZooError(f"{where}: {value!r} is not a {field.type.__name__}") from None
            if field.type is bool and not isinstance(value, bool):
                raise ZooError(f"{where}: {value!r} is not true or false")
        if field.choices and value not in field.choices:
            raise ZooError(f"{where}: {value!r} is not one of {', '.join(field.choices)}")
        if value in chosen:
            raise ZooError(f"{where}: {value!r} is listed twice")
        chosen.append(value)
    return tuple(chosen)


def check_space(space: dict[str, Param], base: Config, where: str | Path) -> None:
    """Refuse, in one line, a value of `space` that the run configuration refuses: the base
    config with each setting at its low, its high and each of its choices (the others at the
    base's values) must validate, as `zoo train` would validate it.

    Args:
        space: the searched settings `read_space` read.
        base: the resolved base configuration.
        where: the space file, named in the message.
    """
    for name, param in space.items():
        for value in param.values():
            try:
                validate(base.replace(**{name: value}))
            except ZooError as exc:
                raise ZooError(f"{where}: {name}: {value!r} is refused with this base "
                               f"config: {exc}") from None


# ---------------------------------------------------------------------------------------------
# the study


def run_study(base_config_path: str | Path, space_path: str | Path, trials: int = 20,
              timeout: float | None = None, storage: str | None = None,
              name: str | None = None, output: str | Path | None = None,
              seed: int | None = None, console=None, pruner=None) -> Path:
    """Search `space_path`'s settings for the best `monitor` of `base_config_path`'s runs.

    Trials go on until `trials` of them are complete or pruned, in this process and any
    other working on the same study; a second call (after a kill, on another machine)
    continues the study. A trial that fails on a `ZooError` is marked FAILED and the study
    goes on; `MAX_FAILED_IN_A_ROW` failed trials in a row stop this process.

    Args:
        base_config_path: the YAML config every trial starts from (`zoo train --config`).
        space_path: the search space (`read_space`).
        trials: complete and pruned trials to reach. Defaults to 20.
        timeout: seconds after which this process starts no new trial (the one in flight
            finishes). Defaults to no limit.
        storage: a database URL (`postgresql://USER:PASSWORD@HOST/DB`, `sqlite:///FILE`);
            defaults to Optuna's journal file, STUDY/study.log.
        name: the study's name and folder (`OUTPUT/NAME`). Defaults to
            `tune-MODEL-DATASET-YYYYmmdd-HHMMSS`.
        output: the folder of studies. Defaults to the base config's `output`.
        seed: the sampler's seed (trial k draws from (seed, k)). Defaults to the base
            config's `seed`.
        console: a rich console for the progress lines (None: silent).
        pruner: an Optuna pruner, fed the monitored metric at each epoch's end. Defaults
            to `default_pruner(base)`.

    Returns:
        The study's folder.

    Raises:
        ZooError: in one line, for a bad space, base config or storage, before any trial.
        ZooRuntimeError: in one line, once the results are written, when this process
            stopped on `MAX_FAILED_IN_A_ROW` failed trials in a row, or when the study
            reached `trials` without a complete trial (no best.yaml).
    """
    space, fixed = read_space(space_path)
    base = study_base(base_config_path, fixed)
    check_space(space, base, space_path)
    if trials < 1:
        raise ZooError(f"--trials must be at least 1; got {trials}")
    if timeout is not None and not timeout > 0:
        raise ZooError(f"--timeout must be a positive number of seconds; got {timeout}")
    if storage is not None and "://" not in storage:
        raise ZooError(f"--storage takes a database URL (postgresql://USER:PASSWORD@HOST/DB "
                       f"or sqlite:///FILE); got {storage!r}. Without it the study lives in "
                       f"OUTPUT/NAME/{STUDY_LOG}")
    name = name or "tune-{}-{}-{}".format(base.model, base.dataset.split(":")[0],
                                          datetime.now().strftime("%Y%m%d-%H%M%S"))
    folder = Path(output if output is not None else base.output) / name
    if folder.exists() and not folder.is_dir():
        raise ZooError(f"{folder} is a file; choose another --name or --output")
    say = _Say(console)

    from zoo.io import make_dirs, remove_empty

    made = make_dirs(folder / TRIALS)
    try:
        study = _open_study(storage, folder, name, base, space,
                            seed=base.seed if seed is None else seed, pruner=pruner)
    except ZooError:  # a database out of reach, another study's name: leave no folder
        remove_empty(made)
        raise
    where = _describe_storage(storage, folder)
    say(f"study {name}: {trials} trials of {base.model} on {base.dataset}, "
        f"{DIRECTION[base.monitor][:3]}imising {base.monitor} over {', '.join(space)}; "
        f"study in {where}, runs in {folder / TRIALS}")
    say(f"continue it, or add a process (here or on a machine sharing --storage): zoo tune "
        f"--config {base_config_path} --space {space_path} --name {name}"
        + (f" --output {folder.parent}" if output is not None else "")
        + (f" --storage {_hide_password(storage)}" if storage else ""))
    objective = _Objective(base, space, folder, say)
    ended = _optimize(study, objective, trials, timeout, folder, say)
    written = _write_results(study, base, space, folder, say, over=ended != TIMED_OUT)
    _print_best(study, base, space, folder, written, say)
    _best_page(study, say)
    _check_end(study, objective, ended, name, folder)
    return folder


def _check_end(study, objective: _Objective, ended: str, name: str, folder: Path) -> None:
    """The one-line error of a study that ends without what it was for: this process
    stopped on failed trials, or every trial of a finished study failed or was pruned."""
    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    table = folder / TRIALS_CSV
    if ended == FAILING:
        number, reason = objective.failures[-1]
        outcome = (f"best.yaml holds the best of {complete} complete trial"
                   + ("s" if complete != 1 else "") if complete else
                   "no trial completed, so there is no best.yaml")
        raise ZooRuntimeError(
            f"study {name}: {MAX_FAILED_IN_A_ROW} trials failed in a row, so this process "
            f"stopped (the last, trial {number}: {reason}); {outcome}; {table} lists the "
            "trials and why they failed")
    if ended == DONE and not complete:
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        failed = sum(t.state == TrialState.FAIL for t in trials)
        raise ZooRuntimeError(
            f"study {name}: no trial completed ({pruned} pruned, {failed} failed), so there "
            f"is no best.yaml; {table} lists the trials and why they ended")


def _open_study(storage: str | None, folder: Path, name: str, base: Config,
                space: dict[str, Param], seed: int, pruner):
    """The study `name` (created, or loaded to continue), checked against this base config
    and space: a study is one search."""
    if storage is None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        backend = JournalStorage(JournalFileBackend(str(folder / STUDY_LOG)))
    else:
        backend = _rdb_storage(storage)
    if pruner is None:
        pruner = default_pruner(base)
    try:
        study = optuna.create_study(storage=backend, study_name=name,
                                    direction=DIRECTION[base.monitor],
                                    sampler=TrialSeededTPE(seed), pruner=pruner,
                                    load_if_exists=True)
    except ValueError as exc:  # e.g. a study of that name with another direction
        raise ZooError(f"study {name}: {first_line(exc)}; choose another --name") from None
    plan = {"base": _plan_config(base), "space": {k: p.to_json() for k, p in space.items()}}
    saved = study.user_attrs.get("zoo")
    if saved is None:
        study.set_user_attr("zoo", plan)
    elif saved != plan:
        raise ZooError(f"study {name} was started with {_difference(saved, plan)}; the same "
                       "--config and --space continue it, another search needs another --name")
    return study


def default_pruner(base: Config) -> optuna.pruners.BasePruner:
    """Optuna's median pruner: once 5 trials are complete, a trial whose monitored metric
    at an epoch is worse than the median of the others' at that epoch stops there; judged
    from a fifth of the epochs on (early epochs say little of a slower, better rate)."""
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP,
                                       n_warmup_steps=base.epochs // 5)


def _plan_config(base: Config) -> dict:
    """The base settings that make the search: not where runs go, nor the local data
    folder (which may differ between the machines of one study)."""
    return {k: v for k, v in base.items() if k not in ("output", "name", "data_dir")}


def _difference(saved: dict, plan: dict) -> str:
    for part, what in (("base", "base config"), ("space", "search space")):
        keys = sorted(set(saved.get(part, {})) | set(plan[part]))
        for key in keys:
            if saved.get(part, {}).get(key) != plan[part].get(key):
                return (f"another {what} ({key}: {saved.get(part, {}).get(key)!r} there, "
                        f"{plan[part].get(key)!r} here)")
    return "another plan"


def _rdb_storage(url: str):
    """Optuna's database storage at `url`, with its heartbeat: a trial whose process stops
    beating (a machine lost, a process killed elsewhere) is failed by the next process that
    starts a trial."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                _with_driver(url), heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                engine_kwargs={"pool_pre_ping": True})
    except ImportError as exc:  # the database's driver
        raise ZooError(f"--storage {_hide_password(url)} needs a database driver: "
                       f"{first_line(exc)}") from None
    except Exception as exc:  # sqlalchemy's: a wrong URL, no server, a refused login
        raise ZooError(f"cannot open the study's database {_hide_password(url)}: "
                       f"{first_line(exc)}") from None


def _with_driver(url: str) -> str:
    """`url` with the PostgreSQL driver that is installed: a bare `postgresql://` means
    psycopg2 to SQLAlchemy 2.0 but psycopg 3 to 2.1; zoo installs psycopg2."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme != "postgresql" or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        raise ZooError("--storage postgresql://... needs a PostgreSQL driver: pip install "
                       "psycopg2-binary")
    return f"postgresql+psycopg2{sep}{rest}"


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: said as given, less anything after a colon
        return url.split("@")[-1]


def _describe_storage(storage: str | None, folder: Path) -> str:
    return str(folder / STUDY_LOG) if storage is None else _hide_password(storage)


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """Optuna's TPE sampler whose random draws for trial k come from (seed, k): reproducible
    in one process, yet a study continued after a kill, or shared by several processes, never
    replays the draws of the trials it already has (as one `TPESampler(seed)` per process
    would). Every call goes to a `TPESampler` made afresh at each trial's start; the TPE's
    model itself is rebuilt from the study's trials at every sample anyway."""

    def __init__(self, seed: int | None = None):
        self._seed = seed
        self._tpe = self._make(0)

    def _make(self, number: int) -> optuna.samplers.TPESampler:
        import numpy as np

        state = None if self._seed is None else int(
            np.random.SeedSequence([self._seed, number]).generate_state(1)[0])
        return optuna.samplers.TPESampler(seed=state)

    def infer_relative_search_space(self, study, trial):
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._tpe = self._make(trial.number)
        self._tpe.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()


# ---------------------------------------------------------------------------------------------
# the processes that share a study


def _machine() -> str:
    """This machine and process namespace, as a process id is unique within it: the host
    name, the kernel's boot id and the pid namespace (containers that share a host name)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return "/".join(parts)


def _start_time(pid: int) -> str | None:
    """When process `pid` started (Linux: clock ticks since boot), which tells it from a
    later process given the same id; None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in (...) may hold spaces


def _owner() -> dict:
    return {"machine": _machine(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def _alive(owner: dict) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process of that id
        pass
    started = _start_time(pid)
    return owner.get("start") is None or started is None or started == owner["start"]


def _fail_dead_trials(study, say) -> None:
    """Mark FAILED the RUNNING trials whose process is gone: those of this machine whose
    process no longer runs, and those that never said where they run (their process died
    between creating them and starting). Trials of other machines are left to Optuna's
    heartbeat (database storages)."""
    here = _machine()
    now = datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER)
        if owner is None:
            started = trial.datetime_start
            if started is None or (now - started).total_seconds() < ORPHAN_S:
                continue
        elif owner.get("machine") != here or _alive(owner):
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        who = f"process {owner['pid']}" if owner else "its process"
        say(f"trial {trial.number}: marked failed ({who} ended while it ran)")
        run = trial.user_attrs.get("run")
        if run and Path(run).is_dir():
            _record_killed(Path(run), trial.number, who)
    # database storages: trials whose heartbeat stopped (nothing to do for the journal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _record_killed(run: Path, number: int, who: str) -> None:
    """failed.json in the run of a killed trial, so that `zoo runs` says what happened."""
    _record_failed(run, {
        "error": f"{who} ended during the trial; zoo tune marked trial {number} failed",
        "type": "TrialFailed", "time": datetime.now().isoformat(timespec="seconds")})


def _record_failed(run: Path, failure: dict) -> None:
    """failed.json (`RunDir.write_failed`) in a trial's run; best effort: a disk that
    refuses it leaves the trial failed in the study all the same."""
    from zoo.run import RunDir

    with contextlib.suppress(OSError):
        RunDir(run).write_failed(failure)


class _AskLock:
    """A lock file of the study's folder, held by one process of this machine from the
    moment it counts the trials to the moment its new trial exists, so that two processes
    never both start the last trial. Idempotent release: the objective releases it first."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def _counts(study) -> tuple[int, list[int]]:
    """(complete and pruned trials, numbers of the running ones)."""

    done, running = 0, []
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done += 1
        elif trial.state == TrialState.RUNNING:
            running.append(trial.number)
    return done, running


def _optimize(study, objective, trials: int, timeout: float | None, folder: Path,
              say) -> str:
    """Start trials, one at a time, until `trials` are complete or pruned; wait for the
    others' trials when they would reach the count (one that dies is failed, and then this
    process runs one more). Return how it ended: `DONE`, `TIMED_OUT`, or `FAILING` after
    `MAX_FAILED_IN_A_ROW` of this process's trials failed one after another."""
    start = time.monotonic()
    lock = _AskLock(folder / ASK_LOCK)
    objective.lock = lock
    waiting_for: list[int] | None = None
    optuna_log = logging.getLogger("optuna.study._optimize")
    quiet = _QuietFailures(objective)
    optuna_log.addFilter(quiet)  # each failed trial is said in one line, with no traceback
    try:
        while True:
            lock.acquire()
            try:
                _fail_dead_trials(study, say)
                done, running = _counts(study)
                if done >= trials:
                    return DONE
                if objective.failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                    return FAILING
                if timeout is not None and time.monotonic() - start >= timeout:
                    say(f"--timeout {timeout:g} s passed: {done} of {trials} trials done, "
                        "this process starts no more")
                    return TIMED_OUT
                if done + len(running) >= trials:
                    lock.release()
                    if running != waiting_for:
                        say(f"waiting for trial {', '.join(map(str, running))}, running in "
                            f"another process")
                        waiting_for = running
                    time.sleep(POLL_S)  # the others' trials end in their own time
                    continue
                waiting_for = None
                study.optimize(objective, n_trials=1, catch=(_TrialFailed,))
            finally:
                lock.release()
    finally:
        optuna_log.removeFilter(quiet)


class _TrialFailed(Exception):
    """A trial ended by a one-line error (`_Objective` said it): Optuna marks it FAILED."""


class _QuietFailures(logging.Filter):
    """Drops Optuna's warnings (one with a traceback) about the trials `_Objective` failed
    and said in one line; a trial failed by anything else is still told."""

    def __init__(self, objective: _Objective):
        super().__init__()
        self.objective = objective

    def filter(self, record: logging.LogRecord) -> bool:
        found = re.match(r"Trial (\d+) failed", str(record.msg))
        failed = {number for number, _ in self.objective.failures}
        return not (found and int(found.group(1)) in failed)


class _Objective:
    """One trial: the base config with the sampled settings, trained quietly into
    STUDY/trials/trial-NNNN; its value is the run's best monitored metric. A `ZooError` on
    the way (settings refused together, a run that cannot be evaluated) fails the trial
    alone (`_fail`)."""

    def __init__(self, base: Config, space: dict[str, Param], folder: Path, say):
        self.base = base
        self.space = space
        self.folder = folder
        self.say = say
        self.lock: _AskLock | None = None
        self.failures: list[tuple[int, str]] = []  # (trial number, why) of this process
        self.failed_in_a_row = 0

    def __call__(self, trial) -> float:
        trial.set_user_attr(OWNER, _owner())
        if self.lock is not None:
            self.lock.release()  # the trial exists: the others may count it now
        params = {name: param.suggest(trial) for name, param in self.space.items()}
        run_name = f"trial-{trial.number:04d}"
        run_path = self.folder / TRIALS / run_name
        started = time.monotonic()
        try:
            # A trial's report page (Grad-CAM of its worst images) costs seconds that many
            # trials add up; trials skip it unless the base config asks for it, and the best
            # trial gets its page at the end (_best_page).
            report = self.base.report if "report" in self.base.explicit else False
            config = self.base.replace(**params, output=str(self.folder / TRIALS),
                                       name=run_name, report=report)
            validate(config)
            trial.set_user_attr("run", str(run_path))
            pruning = _pruning_callback(trial, self.base.monitor)
            try:
                with _quiet():
                    run = _train(config, pruning)
            finally:
                _clear_keras()
        except ZooError as exc:  # ZooRuntimeError too: this trial's end, not the study's
            self._fail(trial, params, run_path, exc, time.monotonic() - started)
        self.failed_in_a_row = 0
        seconds = time.monotonic() - started
        return self._finish(trial, run, params, pruning, seconds)

    def _fail(self, trial, params: dict, run: Path, exc: ZooError, seconds: float) -> None:
        """Say why the trial failed, record it in its run directory (failed.json, as the
        trainer records its failures: `zoo runs` lists the run failed) and in the trial
        (trials.csv's `error`), then raise `_TrialFailed`: Optuna marks the trial FAILED."""
        reason = first_line(exc)
        trial.set_user_attr("error", reason)
        trial.set_user_attr("seconds", round(seconds, 1))
        if run.is_dir():  # settings refused before training leave no run directory
            _record_failed(run, {"error": reason, "type": type(exc).__name__,
                                 "time": datetime.now().isoformat(timespec="seconds")})
        self.failures.append((trial.number, reason))
        self.failed_in_a_row += 1
        shown = " ".join(f"{k}={_fmt(v)}" for k, v in params.items())
        self.say(f"trial {trial.number}: {shown}  failed: {reason}  {seconds:.1f} s")
        raise _TrialFailed(reason)

    def _finish(self, trial, run: Path, params: dict, pruning, seconds: float) -> float:
        from zoo.run import RunDir

        run_dir = RunDir(run)
        history = run_dir.read_history()
        metrics = run_dir.read_metrics()
        monitor = self.base.monitor
        values = [row.get(monitor, row.get(monitor[4:])) for row in history]
        values = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
        trial.set_user_attr("epochs", len(history))
        trial.set_user_attr("seconds", round(seconds, 1))
        if metrics.get("accuracy") is not None:
            trial.set_user_attr("test_accuracy", metrics["accuracy"])
        shown = " ".join(f"{k}={_fmt(v)}" for k, v in params.items())
        if pruning.pruned_at is not None:
            run_dir.write_metrics({**metrics, "stopped": "pruned"})
            last = pruning.last
            self.say(f"trial {trial.number}: {shown}  pruned at epoch {pruning.pruned_at} "
                     f"({monitor} {_fmt(last)})  {seconds:.1f} s")
            raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at}")
        if not values:  # diverged from the first epoch: hopeless, as a pruned trial is
            self.say(f"trial {trial.number}: {shown}  stopped: no finite {monitor} (the loss "
                     f"became NaN)  {seconds:.1f} s")
            raise optuna.TrialPruned("the loss became NaN")
        best = (max if DIRECTION[monitor] == "maximize" else min)(values)
        epochs = f"{len(history)} epoch" + ("s" if len(history) != 1 else "")
        self.say(f"trial {trial.number}: {shown}  {monitor} {_fmt(best)}  {epochs}  "
                 f"{seconds:.1f} s")
        return best


def _train(config: Config, pruning) -> Path:
    from zoo.training.trainer import train

    return Path(train(config, callbacks=[pruning]))


def _clear_keras() -> None:
    """Free the trial's model and graphs before the next trial builds its own."""
    from zoo.backend import load_keras

    load_keras().backend.clear_session()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A trial's run without Keras' per-epoch lines (stdout), zoo's notes (INFO) and
    TensorFlow's warning that each trial's new model traces new functions; zoo's warnings
    (a NaN loss, skipped files) still show."""
    import logging

    levels = {"zoo": logging.WARNING, "tensorflow": logging.ERROR}
    saved = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _pruning_callback(trial, monitor: str):
    """A Keras callback that reports the monitored metric to `trial` at each epoch's end
    and, when the pruner says so, stops the fit there (`model.stop_training`: the epoch's
    checkpoint is already written, zoo's callbacks run first) and remembers the epoch."""
    from zoo.backend import load_keras

    keras = load_keras()

    class Pruning(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.pruned_at: int | None = None
            self.last: float | None = None

        def on_train_begin(self, logs=None):
            if self.pruned_at is not None:  # a transfer run's next phase: no more training
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            value = logs.get(monitor, logs.get(monitor[4:]))
            if value is None or not math.isfinite(float(value)):
                return  # a NaN epoch: zoo's NaN guard stops the fit
            self.last = float(value)
            trial.report(self.last, epoch + 1)  # the step is the number of epochs done
            if trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return Pruning()


# ---------------------------------------------------------------------------------------------
# what a study leaves


def _write_results(study, base: Config, space: dict[str, Param], folder: Path,
                  say, over: bool = False) -> list[Path]:
    """trials.csv, best.yaml (when a trial is complete), history.png and importances.png
    (when Optuna can rank the settings) in `folder`; return the files written. `over`: this
    process ends the study (no later trial of its own may complete)."""
    from zoo.io import write_text

    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    written = [folder / TRIALS_CSV]
    write_text(folder / TRIALS_CSV, _trials_csv(trials, space))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        say("no trial completed: no best.yaml, no plots" if over else
            "no trial is complete yet: best.yaml and the plots are left for later")
        return written
    write_text(folder / BEST, _best_yaml(study, base, space, len(trials)))
    written.append(folder / BEST)
    written += _plots(study, folder, base.monitor, len(complete), len(space), say)
    return written


def _trials_csv(trials: list, space: dict[str, Param]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = ("epochs", "seconds", "test_accuracy", "run", "error")
    writer.writerow(["number", "state", "value", *space, *extra])
    for t in trials:
        value = t.values[0] if t.values else ""
        writer.writerow([t.number, t.state.name, value,
                         *(t.params.get(k, "") for k in space),
                         *(t.user_attrs.get(k, "") for k in extra)])
    return buffer.getvalue()


def _best_yaml(study, base: Config, space: dict[str, Param], count: int) -> str:
    """The config of the best complete trial, as `zoo train --config` takes it (the base
    config with the trial's values; its runs go to the base's `output`)."""
    from zoo.config import dump

    best = study.best_trial
    config = base.replace(**best.params, name=None)
    header = (f"# zoo tune: study {study.study_name}, the best of {count} trials: trial "
              f"{best.number}, {base.monitor} {best.value:.6g}\n"
              f"# tuned: {', '.join(space)}. Train it: zoo train --config best.yaml\n")
    return header + dump(config)


def _plots(study, folder: Path, monitor: str, complete: int, params: int,
           say) -> list[Path]:
    """Optuna's optimisation history and parameter importances (matplotlib), each written
    atomically; a plot that cannot be drawn is said and skipped, never a lost study."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    from zoo.io import atomic_path

    jobs = [(HISTORY_PNG, vis.plot_optimization_history)]
    if complete >= 2 and params > 1:
        jobs.append((IMPORTANCES_PNG, vis.plot_param_importances))
    else:
        say(f"{IMPORTANCES_PNG} skipped: the importances need 2 complete trials and 2 tuned "
            f"settings (here {complete} and {params})")
    written = []
    for file, plot in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's experimental-feature notes
                axes = plot(study, target_name=monitor)
            figure = axes.figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            with atomic_path(folder / file) as tmp:
                figure.savefig(tmp, dpi=100)
            plt.close(figure)
            written.append(folder / file)
        except Exception as exc:  # e.g. importances of values that never changed
            say(f"{file} not drawn: {first_line(exc)}")
    return written


def _print_best(study, base: Config, space: dict[str, Param], folder: Path,
                written: list[Path], say) -> None:
    trials = study.get_trials(deepcopy=False)
    states = {s: sum(t.state == s for t in trials) for s in TrialState}
    say(f"{states[TrialState.COMPLETE]} complete, {states[TrialState.PRUNED]} pruned, "
        f"{states[TrialState.FAIL]} failed, {states[TrialState.RUNNING]} running")
    if states[TrialState.COMPLETE]:
        best = study.best_trial
        shown = " ".join(f"{k}={_fmt(best.params[k])}" for k in space)
        say(f"best: trial {best.number}, {base.monitor} {_fmt(best.value)}: {shown} "
            f"({best.user_attrs.get('run', '')})")
    say("wrote " + ", ".join(str(p) for p in written))


def _best_page(study, say) -> None:
    """The best complete trial's report page (trials are run without one), unless it has
    one; a page that cannot be made is a warning, not the study's failure."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return
    run = study.best_trial.user_attrs.get("run")
    if not run or not Path(run).is_dir() or (Path(run) / "report.html").exists():
        return
    from zoo.report import report_run

    try:
        with _quiet():
            page = report_run(run)
    except Exception as exc:  # noqa: BLE001 - the study's results are written already
        logging.getLogger("zoo").warning("the best trial's report page was not written "
                                         "(%s); 'zoo report %s' writes it", first_line(exc), run)
        return
    say(f"best trial's report: {page}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _Say:
    """One progress line to the console (none without one)."""

    def __init__(self, console):
        self.console = console

    def __call__(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
