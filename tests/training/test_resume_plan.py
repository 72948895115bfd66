"""`zoo train --resume RUN` continues the run's own saved plan; flags change only what they
name, and only the settings that may change half-way."""

import json
import math

import pytest
import yaml

from tests.training.test_train import Crash, _crash_after
from zoo.config import RESUMABLE, Config, resolve, resume_config
from zoo.errors import ZooError


def test_config_knows_which_settings_were_given(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("model: lenet\nepochs: 7\n")
    config = resolve(file, {"lr": 0.1, "batch_size": None})
    assert config.explicit == {"model", "epochs", "lr"}
    assert config.epochs == 7 and config["lr"] == 0.1 and config.batch_size == 64
    with pytest.raises(AttributeError):
        config.epochs = 3  # frozen
    longer = config.replace(epochs=9)
    assert longer.epochs == 9 and "epochs" in longer.explicit and config.epochs == 7


def test_a_flag_given_with_its_default_still_counts_as_given():
    # the root of the resume bug: --epochs 10 and no --epochs looked the same
    assert "epochs" in resolve(None, {"model": "lenet", "epochs": 10}).explicit
    assert "epochs" not in resolve(None, {"model": "lenet", "epochs": None}).explicit


SAVED = {**Config({"model": "lenet"}), "epochs": 40, "lr_schedule": "cosine", "lr": 0.05}


def test_resume_without_flags_keeps_the_saved_plan():
    flags = dict.fromkeys(SAVED)  # argparse leaves every flag that was not given as None
    config = resume_config(SAVED, flags, where="run")
    assert config.epochs == 40 and config.lr == 0.05 and config.lr_schedule == "cosine"


def test_resume_flags_change_only_what_they_name():
    config = resume_config(SAVED, {"epochs": 60, "early_stop": 5, "lr": 0.05}, where="run")
    assert (config.epochs, config.early_stop, config.lr) == (60, 5, 0.05)  # same lr is fine


@pytest.mark.parametrize("flag, value", [("model", "alexnet"), ("dataset", "mnist"),
                                         ("batch_size", 32), ("lr", 0.5),
                                         ("lr_schedule", "step"), ("optimizer", "adam"),
                                         ("seed", 3), ("augment", True)])
def test_resume_refuses_a_change_of_plan_naming_it(flag, value):
    with pytest.raises(ZooError) as caught:
        resume_config(SAVED, {flag: value}, where="output/r")
    message = str(caught.value)
    assert message.startswith("--" + flag.replace("_", "-") + " cannot change when resuming")
    assert "output/r" in message and "\n" not in message


def test_what_resume_may_change_are_flags():
    assert RESUMABLE <= set(Config({}))


def test_plateau_with_warmup_is_refused_not_dropped():
    with pytest.raises(ZooError, match="plateau takes no --warmup-epochs"):
        resolve(None, {"model": "lenet", "lr_schedule": "plateau", "warmup_epochs": 2})


def test_unknown_optimizer_is_an_error_not_nadam():
    from types import SimpleNamespace

    from zoo.training.compile import create_optimizer

    settings = SimpleNamespace(optimizer="adagrad", weight_decay=0.0, momentum=0.9,
                               nesterov=False)  # what validation would have refused
    with pytest.raises(ZooError, match="unknown optimizer 'adagrad'"):
        create_optimizer(settings, 0.01)


def test_config_copies_pickles_and_coerces():
    import copy
    import pickle

    config = resolve(None, {"model": "lenet", "lr": 0.5})
    for clone in (copy.copy(config), copy.deepcopy(config), pickle.loads(pickle.dumps(config))):
        assert dict(clone) == dict(config) and clone.explicit == config.explicit
    assert config.replace(epochs="7").epochs == 7
    with pytest.raises(ZooError, match="optimizer must be one of"):
        config.replace(optimizer="adagrad")


def test_an_older_plateau_plan_with_warmup_still_resumes():
    saved = {**SAVED, "lr_schedule": "plateau", "warmup_epochs": 3}
    config = resume_config(saved, {}, where="run")
    assert config.lr_schedule == "plateau" and config.warmup_epochs == 0


def test_resume_without_epochs_finishes_the_runs_own_epochs(zoo_cli, tmp_path):
    """A 12-epoch cosine run killed after epoch 11 resumes, with no flags, to epoch 12 (the
    flag default of 10 said 'already trained'), on the schedule it was planned with."""
    from zoo.training.trainer import train

    flags = {"model": "shallownet", "dataset": "digits", "epochs": 12, "limit": 40,
             "batch_size": 64, "lr": 0.1, "lr_schedule": "cosine", "output": str(tmp_path),
             "name": "long"}
    with pytest.raises(Crash):
        train(resolve(None, flags), callbacks=[_crash_after(11)])
    run = tmp_path / "long"
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 11

    result = zoo_cli("train", "--resume", run)
    assert result.code == 0, result.err
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 13))
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 12
    # one step per epoch: the cosine of the 12-epoch plan, not of 10 epochs
    planned = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 12)) for e in range(12)]
    assert [row["lr"] for row in history] == pytest.approx(planned, rel=1e-5, abs=1e-9)

    result = zoo_cli("train", "--resume", run, "--epochs", "14")  # --epochs extends
    assert result.code == 0, result.err
    assert len(json.loads((run / "history.json").read_text())) == 14
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 14


def test_resume_refuses_config_and_changed_settings_on_the_command_line(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "lenet", "--epochs", "2", "--limit", "100", "--output",
            tmp_path, "--name", "r")
    before = (tmp_path / "r" / "config.yaml").read_text()
    for argv, needle in ((["--batch-size", "32"], "--batch-size cannot change"),
                         (["--model", "alexnet"], "--model cannot change"),
                         (["--config", tmp_path / "r" / "config.yaml"], "--config starts a new")):
        result = zoo_cli("train", "--resume", tmp_path / "r", *argv)
        assert result.code == 2 and needle in result.err and result.err.count("\n") == 1
    assert (tmp_path / "r" / "config.yaml").read_text() == before  # nothing rewritten


def test_a_run_written_by_zoo_0_1_resumes_with_its_best_value(tmp_path):
    """state.json of zoo 0.1 held `"best": float` and `"monitor"`; the best value must carry
    over (here an unbeatable -1.0, so no epoch after the resume may replace model.keras)."""
    from zoo.training.trainer import train

    flags = {"model": "lenet", "dataset": "digits", "epochs": 3, "limit": 100,
             "output": str(tmp_path), "name": "old"}
    with pytest.raises(Crash):
        train(resolve(None, flags), callbacks=[_crash_after(1)])
    run = tmp_path / "old"
    state_file = run / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    state.pop("best_model")
    state_file.write_text(json.dumps({**state, "best": -1.0, "monitor": "val_loss"}))
    best_before = (run / "model.keras").read_bytes()

    train(resolve(None, flags), resume=run)
    state = json.loads(state_file.read_text())
    assert state["epoch"] == 3 and state["best_model"]["best"] == -1.0
    assert (run / "model.keras").read_bytes() == best_before


def test_a_finished_run_is_refused_before_its_data_is_read(zoo_cli, tmp_path):
    from tests.fixtures import write_folder

    root, _ = write_folder(tmp_path / "animals", broken=False)
    zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}", "--image-size",
            "16,16", "--epochs", "1", "--output", tmp_path, "--name", "done")
    import shutil

    shutil.rmtree(root)  # the data is gone; the answer does not need it
    result = zoo_cli("train", "--resume", tmp_path / "done")
    assert result.code == 2 and "already trained 1 of its 1 epochs" in result.err
