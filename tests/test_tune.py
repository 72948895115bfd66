"""zoo tune: the search space refused in one line, a study killed and continued, two processes
on one study, a study in a real PostgreSQL server. Trials are ShallowNet on 100 digits."""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml

from zoo.config import resolve
from zoo.errors import ZooError
from zoo.runs import scan
from zoo.tune import Param, TrialSeededTPE, check_space, read_space

BASE = {"model": "shallownet", "dataset": "digits", "limit": 100, "epochs": 2,
        "batch_size": 32, "monitor": "val_accuracy"}
SPACE = {"lr": {"low": 1.0e-3, "high": 0.3, "log": True},
         "weight_decay": {"low": 0, "high": 1.0e-3}}


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_trials(study: Path) -> list[dict]:
    with open(study / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def zoo_tune(*argv) -> list[str]:
    return [sys.executable, "-m", "zoo", "tune", *map(str, argv)]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Poll for `path`, which the process `proc` writes."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"zoo tune ended before writing {path}: {proc.returncode}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.05)  # polling a file another process writes


class PruneTrial(optuna.pruners.BasePruner):
    """Prunes trial `number` at its first report, no other."""

    def __init__(self, number: int):
        self.number = number

    def prune(self, study, trial) -> bool:
        return trial.number == self.number


# ---------------------------------------------------------------------------------------------
# the search space, refused before anything trains


@pytest.mark.parametrize("space, needle", [
    ({"weight_decai": {"low": 0, "high": 1}}, "unknown setting 'weight_decai' (did you mean "
                                              "weight_decay?)"),
    ({"lr": {"low": 0.3, "high": 0.001}}, "lr: low must not exceed high; got low=0.3, "
                                          "high=0.001"),
    ({"weight_decay": {"low": 0, "high": 1e-3, "log": True}}, "weight_decay: a log scale "
                                                              "needs low > 0; got low=0.0"),
    ({"optimizer": ["sgd", "lion"]}, "optimizer: 'lion' is not one of sgd, adam, rmsprop, "
                                     "nadam, adamw"),
    ({"batch_size": {"low": 16, "high": 64.5}}, "batch_size: high must be a whole number"),
    ({"optimizer": {"low": 1, "high": 2}}, "optimizer: not a number, so no range"),
    ({"label_smoothing": {"low": 0, "high": 1.0}}, "label_smoothing: 1.0 is refused with this "
                                                   "base config: label_smoothing must be in "
                                                   "[0, 1)"),
    ({"lr": 0.1}, "lr: give a range"),
    ({"output": ["a", "b"]}, "output is not tuned"),
    ({**SPACE, "fixed": {"val_splt": 0.2}}, "unknown setting 'val_splt' (did you mean "
                                            "val_split?)"),
    ({**SPACE, "fixed": 0.1}, "fixed: expected a mapping of settings to values"),
    ({**SPACE, "fixed": {"lr": 0.1}}, "lr is both searched and fixed"),
    ({"fixed": {"val_split": 0.2}}, "nothing to search"),
    ({**SPACE, "fixed": {"val_split": 1.5}}, "with fixed {'val_split': 1.5}: val_split must be "
                                             "in [0, 1)"),
    ({**SPACE, "fixed": {"monitor": "accuracy"}}, "monitor accuracy with val_split 0.1: a "
                                                  "search compares trials on held-out images"),
    ({**SPACE, "fixed": {"val_split": 0}}, "monitor val_accuracy with val_split 0: a search "
                                           "compares trials on held-out images"),
], ids=["unknown", "low-above-high", "log-from-zero", "choice", "int-range", "range-of-str",
        "refused-by-config", "scalar", "output", "fixed-unknown", "fixed-not-a-mapping",
        "fixed-and-searched", "only-fixed", "fixed-refused", "training-monitor",
        "no-held-out-split"])
def test_a_bad_space_is_one_line_before_anything_trains(zoo_cli, tmp_path, space, needle):
    base = write_yaml(tmp_path / "base.yaml", BASE)
    bad = write_yaml(tmp_path / "space.yaml", space)
    result = zoo_cli("tune", "--config", base, "--space", bad, "--output", tmp_path / "out")
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("zoo: error: "), result.err
    assert needle in result.err
    assert not (tmp_path / "out").exists()


def test_a_good_space_reads_as_ranges_and_choices(tmp_path):
    path = write_yaml(tmp_path / "space.yaml", {
        **SPACE, "batch_size": [32, 64, 128], "optimizer": ["sgd", "adamw"],
        "epochs": {"low": 10, "high": 40, "step": 10}})
    space, fixed = read_space(path)
    assert fixed == {}
    assert list(space) == ["lr", "weight_decay", "batch_size", "optimizer", "epochs"]
    assert space["lr"] == Param("lr", low=1e-3, high=0.3, log=True)
    assert space["weight_decay"] == Param("weight_decay", low=0.0, high=1e-3)
    assert space["batch_size"].choices == (32, 64, 128)
    assert space["epochs"] == Param("epochs", low=10, high=40, step=10) and space["epochs"].is_int
    check_space(space, resolve(write_yaml(tmp_path / "base.yaml", BASE)), path)  # no error
    with pytest.raises(ZooError, match="epochs: 0 is refused"):
        check_space({"epochs": Param("epochs", low=0, high=3)}, resolve(tmp_path / "base.yaml"),
                    path)


def test_fixed_settings_replace_the_base_configs_unsearched(tmp_path):
    from zoo.tune import read_space, study_base

    preset = write_yaml(tmp_path / "base.yaml", {**BASE, "val_split": 0, "monitor": "accuracy"})
    path = write_yaml(tmp_path / "space.yaml", {
        **SPACE, "fixed": {"val_split": 0.2, "monitor": "val_loss"}})
    space, fixed = read_space(path)
    assert list(space) == ["lr", "weight_decay"] and fixed == {"val_split": 0.2,
                                                               "monitor": "val_loss"}
    base = study_base(preset, fixed)
    assert (base.val_split, base.monitor, base.model, base.epochs) == (0.2, "val_loss",
                                                                       "shallownet", 2)
    with pytest.raises(ZooError, match="a search compares trials on held-out images"):
        study_base(preset, {})  # the preset as it is: trained on all its data


def test_the_sampler_draws_trial_k_from_the_seed_and_k():
    """Two processes (or a continued study) never replay the draws of the trials before."""

    def draws(seed, trials):
        study = optuna.create_study(sampler=TrialSeededTPE(seed))
        out = []
        for _ in range(trials):
            trial = study.ask()
            out.append(trial.suggest_float("lr", 1e-3, 0.3, log=True))
            study.tell(trial, 0.5)
        return out

    first = draws(7, 4)
    assert draws(7, 4) == first  # reproducible
    assert len(set(first)) == 4  # trial k's draw is not trial 0's
    assert draws(8, 4) != first


# ---------------------------------------------------------------------------------------------
# a study killed in a trial, continued (with one trial pruned): its files


@pytest.fixture(scope="module")
def continued_study(tmp_path_factory):
    """`zoo tune --trials 2` SIGKILLed during trial 0 (epoch 1 of 2 saved), then the same
    command again, in this process, with a pruner that prunes trial 2 at epoch 1; returns
    (study folder, its stdout, the base config)."""
    import contextlib
    import io

    from zoo.cli import main

    root = tmp_path_factory.mktemp("tune")
    base = write_yaml(root / "base.yaml", BASE)
    space = write_yaml(root / "space.yaml", SPACE)
    argv = ["--config", base, "--space", space, "--trials", 2, "--output", root,
            "--name", "study"]
    study = root / "study"
    proc = subprocess.Popen(zoo_tune(*argv), cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(study / "trials" / "trial-0000" / "checkpoint" / "state.json", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = io.StringIO(), io.StringIO()
    patch = pytest.MonkeyPatch()
    patch.setattr("zoo.tune.default_pruner", lambda base: PruneTrial(2))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["tune", *map(str, argv)])
    finally:
        patch.undo()
    assert code == 0, err.getvalue()
    return study, out.getvalue(), base


def test_a_killed_trial_is_failed_and_the_study_continues_to_n(continued_study):
    study, out, _ = continued_study
    rows = read_trials(study)
    assert [(r["number"], r["state"]) for r in rows] == [
        ("0", "FAIL"), ("1", "COMPLETE"), ("2", "PRUNED")]
    assert "trial 0: marked failed (process " in out
    runs = {r.name: r for r in scan(study / "trials")}
    assert runs["trial-0000"].status == "failed"
    assert "zoo tune marked trial 0 failed" in runs["trial-0000"].error


def test_a_pruned_trial_is_a_finished_run_stopped_early(continued_study):
    study, out, _ = continued_study
    pruned = scan(study / "trials" / "trial-0002")[0]
    assert (pruned.status, pruned.epochs, pruned.planned) == ("finished", 1, 2)
    assert not (study / "trials" / "trial-0002" / "failed.json").exists()
    metrics = json.loads((study / "trials" / "trial-0002" / "metrics.json").read_text())
    assert metrics["stopped"] == "pruned"
    assert "trial 2: lr=" in out and " pruned at epoch 1 (val_accuracy " in out
    row = read_trials(study)[2]
    assert float(row["value"]) == pytest.approx(pruned.val_accuracy)  # its last report


def test_the_study_writes_best_yaml_trials_csv_and_the_history(continued_study):
    study, out, base = continued_study
    for name in ("study.log", "trials.csv", "best.yaml", "history.png"):
        assert (study / name).stat().st_size > 0, name
    assert not (study / "importances.png").exists()  # one complete trial ranks nothing
    assert "importances.png skipped: the importances need 2 complete trials and 2 tuned " \
        "settings (here 1 and 2)" in out
    rows = read_trials(study)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    best = max(complete, key=lambda r: float(r["value"]))
    config = resolve(study / "best.yaml")  # as `zoo train --config best.yaml` reads it
    assert config.lr == float(best["lr"]) and config.weight_decay == float(best["weight_decay"])
    assert {k: config[k] for k in BASE} == {k: resolve(base)[k] for k in BASE}
    assert config.output == "output" and config.name is None
    for row in complete:
        history = json.loads((Path(row["run"]) / "history.json").read_text())
        assert float(row["value"]) == max(e["val_accuracy"] for e in history)
        assert int(row["epochs"]) == 2
    assert out.splitlines()[-1] == str(study)
    assert f"best: trial {best['number']}, val_accuracy " in out
    # trials run without a report page; the best one gets its page at the end
    pages = {r["number"]: (Path(r["run"]) / "report.html").is_file() for r in rows}
    assert pages == {r["number"]: r["number"] == best["number"] for r in rows}
    assert "best trial's report: " in out
    assert config.report is True  # the trials' no-page setting stays out of best.yaml


# ---------------------------------------------------------------------------------------------
# trials that fail: each one the trial's end, never the study's traceback


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("zoo: error: ")]


def test_a_diverging_space_fails_its_trials_and_stops_in_one_line(zoo_cli, tmp_path,
                                                                  monkeypatch):
    """No epoch has a finite loss, so no model.keras to evaluate: each trial fails (its run
    failed in `zoo runs`), and 3 failures in a row stop the study, trials.csv written.

    Whether an lr of 1e6 reaches NaN within the trial's 4 steps is chaotic: with TensorFlow's
    Eigen kernels it did, with its oneDNN kernels the loss ends at ~1e28, finite. So the NaN
    guard is made to see a non-finite loss at the first batch, on every machine."""
    from zoo.training.callbacks import NaNGuard

    def diverged(self, batch, logs=None):
        self.stopped = True
        self.model.stop_training = True

    monkeypatch.setattr(NaNGuard, "on_train_batch_end", diverged)
    base = write_yaml(tmp_path / "base.yaml", {**BASE, "model": "lenet", "epochs": 1,
                                               "optimizer": "sgd", "momentum": 0.9})
    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 1.0e6, high: 1.0e7, log: true}\n")  # YAML 1.1: text, read
    result = zoo_cli("tune", "--config", base, "--space", space, "--trials", 2,
                     "--output", tmp_path, "--name", "nan")
    assert result.code == 1, result.err
    assert "Traceback" not in result.err and "Trial 0 failed" not in result.err
    assert error_lines(result.err) == [result.err.splitlines()[-1]]  # one, and the last
    assert "3 trials failed in a row" in result.err
    assert "no trial completed, so there is no best.yaml" in result.err
    study = tmp_path / "nan"
    rows = read_trials(study)
    assert [(r["number"], r["state"]) for r in rows] == [("0", "FAIL"), ("1", "FAIL"),
                                                         ("2", "FAIL")]
    assert all("has no model.keras" in r["error"] for r in rows)
    for number in range(3):
        assert f"trial {number}: lr=" in result.out and "  failed: " in result.out
    assert "no trial completed: no best.yaml" in result.out
    assert not (study / "best.yaml").exists()
    runs = scan(study / "trials")
    assert [(r.name, r.status) for r in runs] == [
        (f"trial-000{n}", "failed") for n in range(3)]
    assert all(r.error.startswith("ZooRuntimeError: ") and "has no model.keras" in r.error
               for r in runs)


def test_settings_refused_in_every_trial_stop_the_study_in_one_line(zoo_cli, tmp_path):
    """Each value is good alone (check_space passes) but the pair is refused: no run."""
    base = write_yaml(tmp_path / "base.yaml", BASE)
    space = write_yaml(tmp_path / "space.yaml", {"lr_schedule": ["onecycle"],
                                                 "warmup_epochs": [2]})
    result = zoo_cli("tune", "--config", base, "--space", space, "--trials", 5,
                     "--output", tmp_path, "--name", "refused")
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    assert len(error_lines(result.err)) == 1 and result.err.count("\n") == 1, result.err
    assert "onecycle warms up by itself" in result.err
    rows = read_trials(tmp_path / "refused")
    assert [r["state"] for r in rows] == ["FAIL"] * 3
    assert all("onecycle warms up by itself" in r["error"] and r["run"] == "" for r in rows)
    assert not any((tmp_path / "refused" / "trials").iterdir())


def test_a_refused_combination_fails_one_trial_and_the_study_goes_on(zoo_cli, tmp_path):
    """Trial 0 draws a refused pair, trial 1 a good one: one failure does not count toward
    --trials, the study completes and writes best.yaml."""
    base = write_yaml(tmp_path / "base.yaml", {**BASE, "epochs": 1})
    space = write_yaml(tmp_path / "space.yaml", {"lr_schedule": ["cosine", "onecycle"],
                                                 "warmup_epochs": [0, 2]})
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    (tmp_path / "mixed").mkdir()
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "mixed" / "study.log")))
    planned = optuna.create_study(storage=storage, study_name="mixed", direction="maximize")
    planned.enqueue_trial({"lr_schedule": "onecycle", "warmup_epochs": 2})  # refused
    planned.enqueue_trial({"lr_schedule": "cosine", "warmup_epochs": 2})
    result = zoo_cli("tune", "--config", base, "--space", space, "--trials", 1,
                     "--output", tmp_path, "--name", "mixed")
    assert result.code == 0, result.err
    assert result.err == ""
    assert "trial 0: lr_schedule=onecycle warmup_epochs=2  failed: --lr-schedule onecycle " \
        "warms up by itself" in result.out
    rows = read_trials(tmp_path / "mixed")
    assert [(r["number"], r["state"]) for r in rows] == [("0", "FAIL"), ("1", "COMPLETE")]
    assert rows[1]["error"] == ""
    config = resolve(tmp_path / "mixed" / "best.yaml")
    assert (config.lr_schedule, config.warmup_epochs) == ("cosine", 2)


def test_a_study_without_a_complete_trial_ends_in_one_line(tmp_path):
    """Every trial pruned: the study reached --trials, yet there is no best.yaml to write."""
    from zoo.errors import ZooRuntimeError
    from zoo.tune import run_study

    class PruneAll(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return True

    base = write_yaml(tmp_path / "base.yaml", {**BASE, "epochs": 2})
    space = write_yaml(tmp_path / "space.yaml", SPACE)
    with pytest.raises(ZooRuntimeError, match=r"study pruned: no trial completed \(1 pruned, "
                       r"0 failed\), so there is no best.yaml; "):
        run_study(base, space, trials=1, output=tmp_path, name="pruned", pruner=PruneAll())
    assert [r["state"] for r in read_trials(tmp_path / "pruned")] == ["PRUNED"]
    assert not (tmp_path / "pruned" / "best.yaml").exists()


# ---------------------------------------------------------------------------------------------
# two processes on one study


def test_two_processes_share_one_journal_study(zoo_cli, tmp_path):
    base = write_yaml(tmp_path / "base.yaml", {**BASE, "epochs": 1})
    space = write_yaml(tmp_path / "space.yaml", SPACE)
    argv = ["--config", base, "--space", space, "--trials", 3, "--output", tmp_path,
            "--name", "shared"]
    study = tmp_path / "shared"
    proc = subprocess.Popen(zoo_tune(*argv), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(study / "trials" / "trial-0000", proc)  # the other is in its first trial
        result = zoo_cli("tune", *argv)
        other_out, other_err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert result.code == 0 and proc.returncode == 0, result.err + other_err
    rows = read_trials(study)
    assert sorted(int(r["number"]) for r in rows) == [0, 1, 2]
    assert {r["state"] for r in rows} == {"COMPLETE"}
    ran_here = {line.split(":")[0] for line in result.out.splitlines() if
                line.startswith("trial ") and " val_accuracy " in line}
    ran_there = {line.split(":")[0] for line in other_out.splitlines() if
                 line.startswith("trial ") and " val_accuracy " in line}
    assert ran_here and ran_there and not ran_here & ran_there
    assert ran_here | ran_there == {"trial 0", "trial 1", "trial 2"}
    for name in ("history.png", "importances.png"):  # 3 complete trials of 2 settings
        assert (study / name).stat().st_size > 0, name


# ---------------------------------------------------------------------------------------------
# a study in PostgreSQL


def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL cluster on a free port of 127.0.0.1 (as the postgres user when
    this runs as root: the server refuses root), stopped and removed at the end."""
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install "
                        "psycopg2-binary)")
    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install "
                    "postgresql; make install does)")
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="zoo-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root and there is no postgres user to run the server")
        shutil.chown(folder, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"

    def pg(*argv):
        return subprocess.run([*run_as, *map(str, argv)], capture_output=True, text=True,
                              timeout=120)

    started = False
    try:
        made = pg(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "zoo", "--no-sync")
        assert made.returncode == 0, made.stderr
        up = pg(bin_dir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off", "start")
        assert up.returncode == 0, up.stderr + (folder / "server.log").read_text()
        started = True
        yield f"postgresql://zoo@127.0.0.1:{port}/postgres"
    finally:
        if started:
            pg(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_study_in_postgresql(zoo_cli, tmp_path, postgres_url):
    base = write_yaml(tmp_path / "base.yaml", {**BASE, "epochs": 1})
    space = write_yaml(tmp_path / "space.yaml", SPACE)
    argv = ["tune", "--config", base, "--space", space, "--trials", 1, "--output", tmp_path,
            "--name", "pg", "--storage", postgres_url]
    result = zoo_cli(*argv)
    assert result.code == 0, result.err
    assert f"study in {postgres_url}" in result.out
    assert not (tmp_path / "pg" / "study.log").exists()
    database = postgres_url.replace("postgresql://", "postgresql+psycopg2://")  # SQLAlchemy
    stored = optuna.load_study(study_name="pg", storage=database)  # 2.1's default: psycopg 3
    (trial,) = stored.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert read_trials(tmp_path / "pg")[0]["lr"] == repr(trial.params["lr"])
    again = zoo_cli(*argv)  # the study is complete: nothing trains, the results are rewritten
    assert again.code == 0 and not any(line.startswith("trial ") for line in
                                       again.out.splitlines())
    assert len(optuna.load_study(study_name="pg", storage=database).trials) == 1
