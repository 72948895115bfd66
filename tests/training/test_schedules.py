import math

import keras
import numpy as np
import pytest
from keras.optimizers.schedules import CosineDecay, InverseTimeDecay, PiecewiseConstantDecay

from zoo.config import drop_epochs
from zoo.errors import ZooError
from zoo.training.schedules import (
    EpochPolynomialDecay,
    EpochSchedule,
    LinearWarmup,
    build_schedule,
)

# The schedule settings at their defaults, with lr 0.1 over 8 epochs.
BASE = {
    "lr_schedule": "none",
    "lr": 0.1,
    "epochs": 8,
    "lr_decay": 0.0,
    "lr_drop_factor": 0.1,
    "lr_drop_every": "10",
    "lr_power": 1.0,
    "warmup_epochs": 0,
}


def _per_epoch(config, steps=10):
    schedule = build_schedule(config, steps)
    return [float(schedule(e * steps)) for e in range(config["epochs"])]


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
    clone = EpochPolynomialDecay(**schedule.get_config())
    assert float(clone(30)) == float(schedule(30))


# Every kind, with and without warm-up: (settings, the class build_schedule returns).
KINDS = {
    "time": ({"lr_schedule": "time", "lr_decay": 0.01}, InverseTimeDecay),
    "step": (
        {"lr_schedule": "step", "lr_drop_factor": 0.5, "lr_drop_every": "3"},
        PiecewiseConstantDecay,
    ),
    "step_percent": (
        {"lr_schedule": "step", "lr_drop_every": "50%,75%"},
        PiecewiseConstantDecay,
    ),
    "poly": ({"lr_schedule": "poly", "lr_power": 2.0}, EpochPolynomialDecay),
    "cosine": ({"lr_schedule": "cosine"}, CosineDecay),
}
CASES = [
    pytest.param({**BASE, **settings, "warmup_epochs": warmup}, cls, id=f"{kind}-warmup{warmup}")
    for kind, (settings, cls) in KINDS.items()
    for warmup in (0, 2)
] + [pytest.param({**BASE, "warmup_epochs": 3}, LinearWarmup, id="none-warmup3")]

STEPS_PER_EPOCH = 7  # not a round number, so epoch boundaries fall between the tens
ALL_STEPS = np.arange(BASE["epochs"] * STEPS_PER_EPOCH + 5)  # a few steps past the end too


def _values(schedule, steps=ALL_STEPS) -> np.ndarray:
    return np.array([float(schedule(int(s))) for s in steps])


def _legacy(config) -> EpochSchedule:
    """The schedule older versions built for `config` (the numbers zoo has always given)."""
    return EpochSchedule(
        kind=config["lr_schedule"],
        initial_learning_rate=config["lr"],
        steps_per_epoch=STEPS_PER_EPOCH,
        epochs=config["epochs"],
        decay=config["lr_decay"],
        factor=config["lr_drop_factor"],
        drop_epochs=tuple(drop_epochs(config)),
        power=config["lr_power"],
        warmup_epochs=config["warmup_epochs"],
    )


@pytest.mark.parametrize("config, cls", CASES)
def test_keras_schedules_give_the_numbers_zoo_always_gave(config, cls):
    schedule = build_schedule(config, STEPS_PER_EPOCH)
    inner = schedule.schedule if isinstance(schedule, LinearWarmup) else schedule
    assert isinstance(schedule, LinearWarmup) == bool(config["warmup_epochs"])
    assert isinstance(inner, cls) or (cls is LinearWarmup and isinstance(inner, float))
    expected = _values(_legacy(config))
    np.testing.assert_allclose(_values(schedule), expected, rtol=1e-6, atol=1e-9)


def test_step_decay_drops_at_the_first_step_of_the_drop_epoch():
    # PiecewiseConstantDecay keeps a value while step <= boundary: the boundaries must be
    # the last steps before each drop, or the drop would come one step late.
    schedule = build_schedule({**BASE, "lr_schedule": "step", "lr_drop_every": "3"}, 10)
    assert float(schedule(29)) == pytest.approx(0.1)
    assert float(schedule(30)) == pytest.approx(0.01)
    assert float(schedule(59)) == pytest.approx(0.01)
    assert float(schedule(60)) == pytest.approx(0.001)


def test_a_drop_epoch_listed_twice_drops_twice():
    # With 2 epochs, 50% and 60% both round to epoch 1, as the legacy schedule counts them.
    config = {**BASE, "lr_schedule": "step", "epochs": 2, "lr_drop_every": "50%,60%"}
    assert drop_epochs(config) == [1, 1]
    assert _values(build_schedule(config, 10), [9, 10]) == pytest.approx([0.1, 0.001])


def test_time_decay_with_warmup_is_not_delayed():
    # Time decay runs on the optimizer's step from the start; warm-up only scales it.
    config = {**BASE, "lr_schedule": "time", "lr_decay": 0.1, "warmup_epochs": 1}
    schedule = build_schedule(config, 10)
    assert float(schedule(4)) == pytest.approx(0.1 / (1 + 0.1 * 4) * 5 / 10, rel=1e-6)
    assert float(schedule(20)) == pytest.approx(0.1 / (1 + 0.1 * 20), rel=1e-6)


def test_step_without_drops_is_a_constant_float():
    # 10 epochs between drops and 8 epochs in all: the rate never drops.
    assert build_schedule({**BASE, "lr_schedule": "step"}, 10) == 0.1


def test_plateau_is_a_float_and_cannot_be_warmed_up():
    from zoo.config import resolve

    assert build_schedule({**BASE, "lr_schedule": "plateau"}, 10) == 0.1
    with pytest.raises(ZooError, match="warm"):  # refused where settings are validated
        resolve(None, {"model": "lenet", "lr_schedule": "plateau", "warmup_epochs": 1})


def test_unknown_kind_fails_loudly():
    with pytest.raises(ZooError, match="exponential"):
        build_schedule({**BASE, "lr_schedule": "exponential"}, 10)


class _Config:
    """A configuration that is read as `config["key"]` but is not a dict."""

    def __init__(self, values: dict):
        self._values = values

    def __getitem__(self, key):
        return self._values[key]


def test_config_may_be_any_object_read_by_key():
    config = {**BASE, "lr_schedule": "step", "lr_drop_every": "50%,75%", "warmup_epochs": 1}
    from_dict = build_schedule(config, 10)
    from_object = build_schedule(_Config(config), 10)
    np.testing.assert_array_equal(_values(from_object, range(90)), _values(from_dict, range(90)))


@pytest.mark.parametrize("config, cls", CASES)
def test_serialize_then_deserialize_gives_the_same_rates(config, cls):
    schedule = build_schedule(config, STEPS_PER_EPOCH)
    serialized = keras.optimizers.schedules.serialize(schedule)
    clone = keras.optimizers.schedules.deserialize(serialized)
    assert type(clone) is type(schedule)
    assert keras.optimizers.schedules.serialize(clone) == serialized
    np.testing.assert_array_equal(_values(clone), _values(schedule))


def _save_and_load(schedule, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    model.save(tmp_path / "model.keras")
    return keras.saving.load_model(tmp_path / "model.keras")


def _optimizer_rates(optimizer, steps) -> np.ndarray:
    rates = []
    for step in steps:
        optimizer.iterations.assign(int(step))
        rates.append(float(optimizer.learning_rate))
    return np.array(rates)


@pytest.mark.parametrize("config, cls", CASES)
def test_schedules_survive_model_save_and_load(config, cls, tmp_path):
    schedule = build_schedule(config, STEPS_PER_EPOCH)
    loaded = _save_and_load(schedule, tmp_path)
    np.testing.assert_allclose(_optimizer_rates(loaded.optimizer, ALL_STEPS), _values(schedule))


@pytest.mark.parametrize("kind", ["time", "step", "poly", "cosine", "none"])
def test_runs_saved_with_the_legacy_epoch_schedule_still_load(kind, tmp_path):
    # Older versions saved `zoo>EpochSchedule` in model.keras; --resume must still load it.
    config = {**BASE, **KINDS.get(kind, ({"lr_schedule": "none"}, None))[0], "warmup_epochs": 2}
    legacy = _legacy(config)
    loaded = _save_and_load(legacy, tmp_path)
    assert loaded.optimizer.get_config()["learning_rate"]["registered_name"] == "zoo>EpochSchedule"
    np.testing.assert_allclose(_optimizer_rates(loaded.optimizer, ALL_STEPS), _values(legacy))


@pytest.mark.parametrize("config, cls", CASES)
def test_schedules_run_inside_a_compiled_train_step(config, cls):
    # fit() hands the schedule the optimizer's int64 iteration variable, inside a traced
    # (XLA-compiled where the backend does) function.
    schedule = build_schedule(config, STEPS_PER_EPOCH)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse", jit_compile="auto"
    )
    x, y = np.ones((16, 3), "float32"), np.zeros((16, 2), "float32")
    model.fit(x, y, batch_size=1, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 16
    assert float(model.optimizer.learning_rate) == pytest.approx(float(schedule(16)), rel=1e-6)
