"""zoo/config.py: defaults declared once, merged from YAML then flags into a frozen,
typed `Config` that knows what was given; `resume_config`: a resumed run continues its own
saved plan, flags change only what they name, and only what may change half-way."""

import pytest

from zoo.config import RESUMABLE, Config, resolve, resume_config
from zoo.errors import ZooError


def test_precedence_defaults_then_file_then_flags(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("model: lenet\nepochs: 7\nlr: 0.5\n")
    config = resolve(file, {"lr": 0.1, "epochs": None})
    assert config["epochs"] == 7  # from the file
    assert config["lr"] == 0.1  # the flag wins
    assert config["batch_size"] == 64  # the default


def test_config_errors_are_one_line(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("model: lenet\nepohcs: 3\n")
    with pytest.raises(ZooError, match="did you mean epochs"):
        resolve(file, {})
    file.write_text("model: lenet\nepochs: many\n")
    with pytest.raises(ZooError, match="epochs must be a int"):
        resolve(file, {})
    with pytest.raises(ZooError, match="no model"):
        resolve(None, {})


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


@pytest.mark.parametrize("flags, needle", [
    ({"monitor": "val_iou"}, "--monitor val_iou is the IoU of --task boxes"),
    ({"task": "boxes", "dataset": "boxes:a.csv", "monitor": "val_accuracy"},
     "--monitor val_accuracy: a box model is picked by val_iou"),
])
def test_a_monitor_of_the_other_task_is_one_line(flags, needle):
    with pytest.raises(ZooError, match=needle.replace("-", "\\-")):
        resolve(None, {"model": "lenet", **flags})
