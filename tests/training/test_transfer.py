"""Fine-tuning: a pretrained base minus its classifier, a new head, a frozen head phase, then
fine-tuning from --fine-tune-at; exact across a resume at the phase boundary."""

import json

import numpy as np
import pytest

from tests.training.helpers import Crash, crash_after
from zoo.config import resolve

SOURCE_FLAGS = ["--model", "minivggnet", "--dataset", "digits", "--epochs", "1", "--limit",
                "120", "--seed", "3"]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A tiny MiniVGGNet (batch norm, dropout) trained on digits: the pretrained source."""
    from zoo.cli import main

    root = tmp_path_factory.mktemp("source")
    assert main(["train", *SOURCE_FLAGS, "--output", str(root), "--name", "src"]) == 0
    return root / "src"


def _base(path):
    import keras

    from zoo.run import load_model

    model = load_model(path, compile=False)
    base = model.get_layer("base") if "base" in [layer.name for layer in model.layers] \
        else model
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in base.layers
            if layer.get_weights() and layer.name != "predictions"}, keras


def _flags(source, tmp_path, name, **extra):
    flags = {"model": "minivggnet", "dataset": "digits", "pretrained": str(source),
             "epochs": 3, "head_epochs": 2, "limit": 120, "seed": 4, "lr": 0.05,
             "output": str(tmp_path), "name": name, **extra}
    return resolve(None, flags)


def test_head_phase_freezes_the_base_then_fine_tuning_trains_from_the_cut(source_run, tmp_path):
    from zoo.training.trainer import train

    run = train(_flags(source_run, tmp_path, "ft", fine_tune_at="block2_conv1",
                       checkpoint_every=1))
    source, _ = _base(source_run / "model.keras")
    head_end, _ = _base(run / "checkpoint" / "periodic-0002.keras")
    final, _ = _base(run / "checkpoint" / "periodic-0003.keras")
    assert set(source) <= set(final)
    for name, weights in source.items():  # the head phase: weights and BN statistics kept
        for a, b in zip(weights, head_end[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    history = json.loads((run / "history.json").read_text())
    assert [round(r["lr"], 6) for r in history] == [0.05, 0.05, 0.005]
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["transfer"]["phase"] == "fine_tune"
    layers = list(source)
    cut = layers.index("block2_conv1")
    for name in layers[:cut]:  # before --fine-tune-at: never trained
        for a, b in zip(source[name], final[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    changed = [name for name in layers[cut:]
               if any(not np.array_equal(a, b) for a, b in zip(source[name], final[name],
                                                               strict=True))]
    assert "block2_conv1" in changed and "block2_conv1_bn" in changed  # BN statistics too


def test_the_base_is_frozen_in_the_head_phase(source_run, tmp_path):
    from zoo.training.trainer import train

    run = train(_flags(source_run, tmp_path, "frozen", epochs=2, freeze_base=True))
    source, _ = _base(source_run / "model.keras")
    after, _ = _base(run / "model.keras")
    for name, weights in source.items():  # BN moving statistics included
        for a, b in zip(weights, after[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    labels = json.loads((run / "labels.json").read_text())
    assert labels["preprocessing"] == "scale" and len(labels["labels"]) == 10


PHASES = {"epochs": 4, "early_stop": 3}  # patience counters must restart with the phase


@pytest.fixture(scope="module")
def straight_phases(source_run, tmp_path_factory):
    """The uninterrupted transfer run that every crashed-and-resumed one must equal."""
    from zoo.training.trainer import train

    return train(_flags(source_run, tmp_path_factory.mktemp("straight"), "straight", **PHASES))


# inside the head phase, at its boundary, and inside the fine-tuning phase
@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_resume_across_the_phase_boundary_is_exact(source_run, straight_phases, tmp_path,
                                                   crash_at):
    from zoo.training.trainer import train

    extra, straight = PHASES, straight_phases
    with pytest.raises(Crash):
        train(_flags(source_run, tmp_path, "crashed", **extra),
              callbacks=[crash_after(crash_at)])
    crashed = tmp_path / "crashed"
    state = json.loads((crashed / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == crash_at
    assert state["transfer"]["phase"] == ("head" if crash_at <= 2 else "fine_tune")
    train(_flags(source_run, tmp_path, "crashed", **extra), resume=crashed)
    runs = [json.loads((r / "history.json").read_text()) for r in (straight, crashed)]
    assert len(runs[0]) == 4
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
    assert [r["lr"] for r in runs[0]] == [r["lr"] for r in runs[1]]
    a, _ = _base(straight / "checkpoint" / "epoch-0004.keras")
    b, _ = _base(crashed / "checkpoint" / "epoch-0004.keras")
    for name in a:
        for x, y in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_imagenet_base_from_a_local_weights_file(zoo_cli, tmp_path):
    from zoo.models.registry import build_model

    weights = tmp_path / "mobilenet_v2_notop.weights.h5"
    base = build_model("mobilenetv2", input_shape=(32, 32, 3), include_top=False)
    base.save_weights(weights)
    result = zoo_cli("train", "--model", "mobilenetv2", "--pretrained", "imagenet", "--weights",
                     weights, "--dataset", "digits", "--image-size", "32,32", "--limit", "60",
                     "--epochs", "1", "--freeze-base", "--head-epochs", "1", "--output",
                     tmp_path, "--name", "mn")
    assert result.code == 0, result.err
    after, _ = _base(tmp_path / "mn" / "model.keras")
    kernel = base.get_layer("Conv1").get_weights()[0]
    np.testing.assert_array_equal(after["Conv1"][0], kernel)  # the file's weights, frozen
    assert json.loads((tmp_path / "mn" / "labels.json").read_text())["preprocessing"] == "tf"


@pytest.mark.parametrize("extra, needle", [
    (["--image-size", "16,16"], "takes inputs of 8x8x1"),
    (["--fine-tune-at", "block9_conv"], "--fine-tune-at block9_conv: no such layer"),
    (["--head-epochs", "3"], "leaves no epoch"),
])
def test_bad_transfer_settings_are_one_line(zoo_cli, source_run, tmp_path, extra, needle):
    result = zoo_cli("train", "--pretrained", source_run, "--dataset", "digits", "--epochs", "3",
                     "--head-epochs", "1", "--limit", "60", *extra, "--output", tmp_path,
                     "--name", "bad")
    assert result.code == 2 and needle in result.err and result.err.count("\n") == 1, result.err
    assert not (tmp_path / "bad").exists()  # refused before any run directory or epoch


def test_transfer_settings_without_pretrained_are_refused(zoo_cli, tmp_path):
    result = zoo_cli("train", "--model", "lenet", "--fine-tune-at", "0.5", "--output", tmp_path)
    assert result.code == 2 and "--fine-tune-at is a setting of fine-tuning" in result.err


def test_a_source_run_gives_the_model_and_preprocessing(zoo_cli, source_run, tmp_path):
    result = zoo_cli("train", "--pretrained", source_run, "--dataset", "digits", "--epochs", "1",
                     "--freeze-base", "--head-epochs", "1", "--limit", "60", "--output",
                     tmp_path, "--name", "child")
    assert result.code == 0, result.err
    import yaml

    assert yaml.safe_load((tmp_path / "child" / "config.yaml").read_text())["model"] == \
        "minivggnet"
    source = json.loads((source_run / "labels.json").read_text())
    child = json.loads((tmp_path / "child" / "labels.json").read_text())
    assert (child["preprocessing"], child["mean"]) == (source["preprocessing"], source["mean"])


def test_imagenet_weights_offline_is_one_line_naming_the_file(zoo_cli, tmp_path, monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/"
                        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    result = zoo_cli("train", "--model", "mobilenetv2", "--pretrained", "imagenet",
                     "--dataset", "digits", "--image-size", "32,32", "--limit", "60",
                     "--epochs", "2", "--head-epochs", "1", "--output", tmp_path, "--name", "x")
    assert result.code == 1 and result.err.count("\n") == 1
    assert "_no_top.h5" in result.err and "--weights" in result.err


def test_patience_restarts_with_the_fine_tuning_phase_after_a_resume(source_run, tmp_path):
    """lr 1e-30 freezes the weights, so val_loss is constant: patience builds in the head
    phase (wait 1 after epoch 2). The fine-tuning fit starts it afresh; a resume at the
    boundary that carried it over would stop at epoch 3 instead of running to 4."""
    from zoo.training.trainer import train

    extra = {"epochs": 4, "early_stop": 2, "lr": 1e-30, "optimizer": "sgd", "momentum": 0.0}
    straight = train(_flags(source_run, tmp_path, "straight", **extra))
    with pytest.raises(Crash):
        train(_flags(source_run, tmp_path, "crashed", **extra), callbacks=[crash_after(2)])
    crashed = tmp_path / "crashed"
    assert json.loads((crashed / "checkpoint" / "state.json").read_text())[
        "early_stop"]["wait"] == 1
    train(_flags(source_run, tmp_path, "crashed", **extra), resume=crashed)
    runs = [json.loads((r / "history.json").read_text()) for r in (straight, crashed)]
    assert [len(h) for h in runs] == [4, 4]
