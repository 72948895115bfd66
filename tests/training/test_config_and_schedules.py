import math

import pytest

from zoo.config import drop_epochs, resolve
from zoo.errors import ZooError
from zoo.training.schedules import EpochSchedule, build_schedule


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


def _per_epoch(config, steps=10):
    schedule = build_schedule(config, steps)
    return [float(schedule(e * steps)) for e in range(config["epochs"])]


BASE = dict(resolve(None, {"model": "lenet"}), lr=0.1, epochs=8)


def test_time_decay_is_per_iteration():
    lrs = _per_epoch({**BASE, "lr_schedule": "time", "lr_decay": 0.01})
    assert lrs == pytest.approx([0.1 / (1 + 0.01 * e * 10) for e in range(8)], rel=1e-5)


def test_step_decay():
    lrs = _per_epoch({**BASE, "lr_schedule": "step", "lr_drop_factor": 0.5, "lr_drop_every": "3"})
    assert lrs == pytest.approx([0.1 * 0.5 ** math.floor(e / 3) for e in range(8)], rel=1e-5)


def test_step_decay_at_percentages_like_he_et_al():
    config = {**BASE, "lr_schedule": "step", "lr_drop_every": "50%,75%"}
    assert drop_epochs(config) == [4, 6]
    assert _per_epoch(config) == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2, rel=1e-5)


def test_polynomial_decay():
    lrs = _per_epoch({**BASE, "lr_schedule": "poly", "lr_power": 2.0})
    assert lrs == pytest.approx([0.1 * (1 - e / 8) ** 2 for e in range(8)], rel=1e-5)


def test_cosine_with_warmup():
    config = {**BASE, "lr_schedule": "cosine", "warmup_epochs": 2}
    schedule = build_schedule(config, 10)
    assert float(schedule(0)) == pytest.approx(0.1 * 1 / 20, rel=1e-5)  # warming up
    assert float(schedule(19)) == pytest.approx(0.1, rel=1e-5)  # warm-up done, cosine starts
    assert float(schedule(50)) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert float(schedule(80)) == pytest.approx(0.0, abs=1e-7)


def test_constant_rate_is_a_float_and_schedules_serialize():
    assert build_schedule({**BASE, "lr_schedule": "none"}, 10) == 0.1
    schedule = build_schedule({**BASE, "lr_schedule": "poly"}, 10)
    clone = EpochSchedule(**schedule.get_config())
    assert float(clone(30)) == float(schedule(30))
