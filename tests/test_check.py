"""`zoo check`: a broken softmax and a train/test leak are caught, a model that can learn
memorises two batches and one fed contradictory labels cannot, and the command's JSON, exit
codes and refusals."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from zoo import check
from zoo.commands import check as check_command
from zoo.config import resolve
from zoo.data.datasets import load_dataset

CLASSES = 10


def head(activations: tuple[str | None, ...], seed: int = 0):
    """A tiny classifier of 8x8x1 images: Flatten, then Dense(10) and `activations`."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(CLASSES, activation=activations[0])(x)
    for activation in activations[1:]:
        x = keras.layers.Activation(activation)(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (rng.uniform(0, 1, (64, 8, 8, 1)).astype("float32"),
            rng.integers(0, CLASSES, 64))


def test_a_proper_softmax_starts_at_ln_k(batch):
    result = check.initial_loss(head(("softmax",)), batch, CLASSES)
    assert result.passed, result.summary
    assert result.line().startswith("PASS initial_loss: loss ")
    figures = result.figures
    assert figures["expected"] == pytest.approx(math.log(10))
    # Glorot weights (variance 2 / 74) on 64 inputs in [0, 1] (mean square 1/3): logits
    # spread about sqrt(64 / 3 * 2 / 74) = 0.76, so the loss is ln 10 plus about
    # 0.76^2 / 2 * 0.9 = 0.26 (0.2 with TensorFlow's draw, 0.33 with JAX's)
    assert 0 < figures["loss"] - math.log(10) < 0.6
    assert figures["saturated_top_probability"] > 0.99
    assert figures["row_sum_min"] == pytest.approx(1, abs=1e-5)


def test_a_last_layer_without_softmax_is_caught(batch):
    result = check.initial_loss(head((None,)), batch, CLASSES)
    assert not result.passed
    assert result.line().startswith("FAIL initial_loss: the outputs are not probabilities")
    assert "end the model with a softmax" in result.summary
    assert result.figures["output_min"] < 0  # a linear layer's outputs go negative


def test_a_softmax_applied_twice_is_caught_though_its_loss_is_ln_k(batch):
    result = check.initial_loss(head(("softmax", "softmax")), batch, CLASSES)
    assert not result.passed
    assert "a softmax applied twice?" in result.summary
    # the loss alone cannot tell: the outer softmax's logits are probabilities about 0.1
    # apart, so the loss is ln k to a few hundredths (0.001 with TensorFlow's draw, 0.013
    # with JAX's), far inside the bound
    assert abs(result.figures["loss"] - math.log(10)) < 0.05 < result.figures["tolerance"]
    # however the logits are scaled, a softmax of [0, 1] stays below e / (e + k - 1)
    assert result.figures["saturated_top_probability"] <= math.e / (math.e + 9) + 1e-6


def test_the_check_leaves_the_model_as_it_was(batch):
    model = head(("softmax",))
    before = [w.copy() for w in model.get_weights()]
    check.initial_loss(model, batch, CLASSES)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# overfitting


def _digits_batches(count: int = 32):
    from zoo.inputs import prepare

    config = resolve(None, {"model": "shallownet", "dataset": "digits", "seed": 1})
    inputs = prepare(config)
    x, y = check.sample_batch(inputs.splits.train, inputs.eval_transform, count, config.seed)
    return config, inputs, x, y


def test_shallownet_memorises_two_batches_of_digits_within_the_bound():
    import keras

    from zoo.models.registry import build_model

    config, inputs, x, y = _digits_batches()
    keras.utils.set_random_seed(config.seed)
    model = build_model("shallownet", input_shape=inputs.input_shape, num_classes=10)
    result = check.overfit_two_batches(model, config, [(x[:16], y[:16]), (x[16:], y[16:])])
    assert result.passed, result.summary
    figures = result.figures
    assert figures["reached"] and figures["accuracy"] == 1.0
    # measured 43-69 steps over seeds (README); the bound leaves 4x
    assert 2 <= figures["steps"] <= check.OVERFIT_STEPS // 2
    assert len(figures["losses"]) == figures["steps"]
    assert figures["losses"][-1] < figures["losses"][0]
    assert figures["lr"] == 0.01 and figures["batch_sizes"] == [16, 16]
    assert "memorised (100% training accuracy) in" in result.summary


def test_contradictory_labels_cannot_be_memorised():
    import keras

    from zoo.models.registry import build_model

    config, inputs, x, y = _digits_batches(16)
    # each batch: 8 images twice, the second time labelled as another digit
    batches = [(np.concatenate([x[i:i + 8]] * 2),
                np.concatenate([y[i:i + 8], (y[i:i + 8] + 1) % 10])) for i in (0, 8)]
    keras.utils.set_random_seed(config.seed)
    model = build_model("shallownet", input_shape=inputs.input_shape, num_classes=10)
    result = check.overfit_two_batches(model, config, batches, max_steps=60)
    assert not result.passed
    assert result.figures["steps"] == 60 and not result.figures["reached"]
    assert result.figures["accuracy"] <= 0.5  # one label of each pair at best
    assert result.line().startswith("FAIL overfit: 2 batches of 16 not memorised in 60 steps")
    assert "the model or the labels are broken" in result.summary


# ---------------------------------------------------------------------------------------------
# the data


def write_split_folder(root, leaked: int):
    """train/ (8 images of each of 2 classes) and test/ (4 of each), PNGs; `leaked` test
    images are byte-identical copies of training images."""
    import cv2

    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 4)):
        for c, name in enumerate(("cats", "dogs")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
                image[: 3 * (c + 1)] = 255  # a visible class
                cv2.imwrite(str(root / split / name / f"{split}{i}.png"), image)
    for i in range(leaked):
        name = ("cats", "dogs", "cats")[i]
        shutil.copy(root / "train" / name / f"train{i}.png", root / "test" / name / f"copy{i}.png")
    return root


def _splits(root, val_split: float = 0.0):
    return load_dataset(f"folder:{root}", seed=0, val_split=val_split, image_size=None)


def test_a_train_test_leak_is_caught_and_named(tmp_path):
    result = check.data_report(_splits(write_split_folder(tmp_path, leaked=3)))
    assert not result.passed
    assert result.line().startswith("FAIL data: 3 test images also in train")
    leak = result.figures["leaks"]["test"]
    assert leak["count"] == 3 and leak["conflicting_labels"] == 0
    pairs = {(Path(a).name, Path(b).name) for a, b in leak["examples"]}
    assert pairs == {("copy0.png", "train0.png"), ("copy1.png", "train1.png"),
                     ("copy2.png", "train2.png")}
    assert result.figures["counts"]["test"] == {"cats": 6, "dogs": 5}


def test_a_clean_split_folder_passes_with_its_counts_and_shapes(tmp_path):
    result = check.data_report(_splits(write_split_folder(tmp_path, leaked=0), 0.25))
    assert result.passed, result.summary
    figures = result.figures
    assert figures["leaks"]["test"]["count"] == 0
    assert figures["leaks"]["val"]["count"] == 0
    # 8 per class, a quarter held out for validation
    assert figures["counts"]["train"] == {"cats": 6, "dogs": 6}
    assert figures["counts"]["val"] == {"cats": 2, "dogs": 2}
    assert figures["imbalance"] == 1.0
    assert figures["image_shape"] == [12, 10, 3]
    assert figures["file_shapes"]["test"] == {"12x10x3": 8}
    assert "no test image in train" in result.summary


def test_imbalance_above_ten_warns_and_passes():
    from zoo.data.sources import ArraySource
    from zoo.data.splits import Split, Splits

    rng = np.random.default_rng(0)
    labels = np.array([0] * 44 + [1] * 4)
    source = ArraySource(rng.integers(0, 255, (48, 4, 4), dtype=np.uint8), labels)
    splits = Splits("arrays", "arrays", Split(source, np.arange(48)), None, None, ["a", "b"],
                    (4, 4, 1), "memory", {})
    result = check.data_report(splits)
    assert result.passed
    assert result.figures["imbalance"] == 11.0
    assert "warning: imbalance 11.0" in result.summary


# ---------------------------------------------------------------------------------------------
# the command


TINY = ("--model", "shallownet", "--dataset", "digits", "--limit", "200")


def test_json_holds_the_four_checks_in_order(zoo_cli, tmp_path):
    result = zoo_cli("check", *TINY, "--json", "--output", tmp_path)
    assert result.code == 0, result.err
    report = json.loads(result.out)  # the whole of stdout is one object
    assert [c["name"] for c in report["checks"]] == list(check.CHECKS)
    assert report["passed"] is True
    for item in report["checks"]:
        assert set(item) == {"name", "passed", "summary", "figures"} and item["passed"]
    figures = {c["name"]: c["figures"] for c in report["checks"]}
    assert abs(figures["initial_loss"]["loss"] - math.log(10)) < 0.5 * math.log(10)
    assert figures["overfit"]["reached"]
    assert sum(figures["data"]["counts"]["test"].values()) == 200  # --limit 200
    assert figures["lr_range"]["steps"] == check.LR_STEPS
    assert not any(tmp_path.iterdir())  # writes nothing


def test_a_failed_check_exits_1_with_its_line(zoo_cli, tmp_path):
    root = write_split_folder(tmp_path / "data", leaked=3)
    result = zoo_cli("check", "--model", "shallownet", "--dataset", f"folder:{root}",
                     "--val-split", "0", "--skip", "initial_loss,overfit,lr_range")
    assert result.code == 1
    assert result.out.startswith("FAIL data: 3 test images also in train")
    assert result.out.count("\n") == 1
    assert "1 check failed: data" in result.err


@pytest.mark.parametrize("flags, needle", [
    (("--model", "shallownet", "--bogus"), "unrecognized arguments: --bogus"),
    (("--model", "shallownet", "--skip", "overfitting"),
     "--skip overfitting: no such check; did you mean 'overfit'?"),
    (("--model", "shallownet", "--overfit-steps", "1"), "--overfit-steps must be at least 2"),
    (("--model", "shallownet", "--lr-steps", "3"), "--lr-steps must be at least 5"),
    (("--model", "nosuchnet"), "nosuchnet"),
])
def test_bad_input_exits_2_in_one_line(zoo_cli, flags, needle):
    result = zoo_cli("check", *flags, "--dataset", "digits")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("zoo: error: ") and needle in result.err
    assert result.err.count("\n") == 1


def test_the_commands_defaults_are_the_librarys():
    assert check_command.CHECK_NAMES == check.CHECKS
    assert check_command.DEFAULT_OVERFIT_STEPS == check.OVERFIT_STEPS
    assert check_command.DEFAULT_LR_STEPS == check.LR_STEPS
