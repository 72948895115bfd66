"""zoo/training/compile.py: the optimizer, the steps per compiled call, the compiled model."""

import pytest

from zoo.config import resolve
from zoo.errors import ZooError


def test_unknown_optimizer_is_an_error_not_nadam():
    from types import SimpleNamespace

    from zoo.training.compile import create_optimizer

    settings = SimpleNamespace(optimizer="adagrad", weight_decay=0.0, momentum=0.9,
                               nesterov=False)  # what validation would have refused
    with pytest.raises(ZooError, match="unknown optimizer 'adagrad'"):
        create_optimizer(settings, 0.01)


@pytest.mark.parametrize("name, cls, extra", [
    ("sgd", "SGD", {"momentum": 0.9, "nesterov": True}),
    ("adam", "Adam", {}),
    ("adamw", "AdamW", {}),
    ("rmsprop", "RMSprop", {"momentum": 0.9}),
    ("nadam", "Nadam", {}),
])
def test_optimizers_take_their_settings(name, cls, extra):
    import keras

    from zoo.training.compile import create_optimizer

    config = resolve(None, {"model": "lenet", "optimizer": name, "momentum": 0.9,
                            "nesterov": True, "weight_decay": 5e-4})
    optimizer = create_optimizer(config, 0.02)
    assert type(optimizer) is getattr(keras.optimizers, cls)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.02)
    assert optimizer.weight_decay == pytest.approx(5e-4)
    for key, value in extra.items():
        assert getattr(optimizer, key) == value


def test_steps_per_execution_is_eight_at_most_and_one_under_mirrored_strategy(caplog):
    from zoo.training.compile import steps_per_execution
    from zoo.training.distribution import Distribution

    config = resolve(None, {"model": "lenet"})
    assert steps_per_execution(config, 100) == 8
    assert steps_per_execution(config, 3) == 3  # never more than an epoch
    assert steps_per_execution(config.replace(steps_per_execution=2), 100) == 2
    mirrored = Distribution("data-parallel", "tensorflow", ["cpu:0", "cpu:1"], 32)
    assert steps_per_execution(config.replace(steps_per_execution=4), 100, mirrored) == 1
    assert "TensorFlow's MirroredStrategy runs one step per call" in caplog.text
    one_device = Distribution("none", "tensorflow", ["cpu:0"], 32)
    assert steps_per_execution(config, 100, one_device) == 8
