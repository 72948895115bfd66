"""The registry (`zoo.data.datasets`): one spec per dataset with its augmentation preset, names
that fail with suggestions, and the data flags through the command line."""

import inspect
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_cifar10, write_folder, write_hdf5
from zoo.data.augmentation import augment_batch
from zoo.data.datasets import DATASETS, PREFIX_DATASETS, load_dataset
from zoo.errors import ZooError

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


# ---------------------------------------------------------------------------------------------
# one spec per dataset, its augmentation preset included


ALL_SPECS = [*DATASETS.values(), *PREFIX_DATASETS.values()]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_dataset_has_an_augmentation_preset_augment_batch_takes(spec):
    accepted = set(inspect.signature(augment_batch).parameters) - {"images", "rng"}
    assert spec.augmentation and set(spec.augmentation) <= accepted
    images = np.zeros((2, 12, 12, 3), np.uint8)
    assert augment_batch(images, np.random.default_rng(0), **spec.augmentation).shape == (
        2, 12, 12, 3)


def test_named_datasets_keep_what_zoo_datasets_shows():
    assert list(DATASETS) == ["digits", "mnist", "fashion_mnist", "cifar10", "cifar100"]
    assert sorted(PREFIX_DATASETS) == ["boxes", "folder", "hdf5"]
    for spec in DATASETS.values():
        assert spec.classes and len(spec.shape) == 3 and spec.sizes and spec.origin
        assert spec.files
    assert DATASETS["digits"].locate() == Path("sklearn")


def test_splits_carry_their_datasets_augmentation_preset(tmp_path):
    write_cifar10(tmp_path, per_batch=20)
    root, _ = write_folder(tmp_path / "animals", broken=False)
    loaded = {
        "digits": load_dataset("digits", **OPTIONS),
        "cifar10": load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path)),
        "folder": load_dataset(f"folder:{root}", **OPTIONS, image_size=(16, 16)),
        "hdf5": load_dataset(f"hdf5:{write_hdf5(tmp_path / 'data.h5')}", **OPTIONS),
    }
    specs = {spec.name: spec for spec in ALL_SPECS}
    for kind, splits in loaded.items():
        assert splits.kind == kind
        assert splits.augmentation == specs[kind].augmentation
    assert loaded["digits"].augmentation["flip"] is False  # a mirrored 2 is not a 2
    assert loaded["folder"].augmentation != loaded["digits"].augmentation
    loaded["folder"].augmentation["rotation"] = 0  # a copy: the spec keeps its preset
    assert PREFIX_DATASETS["folder"].augmentation["rotation"] == 30


# ---------------------------------------------------------------------------------------------
# names, and the data flags through the command line


def test_unknown_dataset_suggests():
    with pytest.raises(ZooError, match="did you mean cifar10"):
        load_dataset("cifar01", **OPTIONS)
    with pytest.raises(ZooError, match="did you mean folder:/some/where"):
        load_dataset("foldr:/some/where", **OPTIONS)
    with pytest.raises(ZooError, match="names no path; give folder:PATH"):
        load_dataset("folder:", **OPTIONS)


def test_the_command_line_reports_a_too_small_limit_in_one_line(zoo_cli, tmp_path):
    result = zoo_cli("train", "--model", "lenet", "--dataset", "digits", "--limit", "5",
                     "--epochs", "1", "--output", tmp_path)
    assert result.code == 2 and result.out == ""
    assert result.err == ("zoo: error: digits: --limit 5 is fewer than the 10 classes; "
                          "use --limit 10 or more\n")
    assert not any(tmp_path.iterdir())  # no run directory for a run that never started


def test_train_with_classes_writes_the_subsets_names(zoo_cli, tmp_path):
    import json

    result = zoo_cli("train", "--model", "shallownet", "--dataset", "digits", "--classes",
                     "9,1,5", "--per-class", "10", "--epochs", "1", "--output", tmp_path,
                     "--name", "run")
    assert result.code == 0, result.err
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    assert labels["labels"] == ["9", "1", "5"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"9", "1", "5"}
