"""What every dataset shares (`zoo.data.splits`): the stratified validation hold-out and
`--limit`, both following the seed; splits too small for their classes in one line; `--classes`
and `--per-class`."""

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_cifar10, write_folder, write_idx, write_images
from zoo.data.datasets import load_dataset
from zoo.data.splits import Split
from zoo.errors import EXIT_USAGE, ZooError

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


# ---------------------------------------------------------------------------------------------
# the validation hold-out and --limit, following the seed


def test_limit_caps_every_split_stratified():
    splits = load_dataset("digits", **{**OPTIONS, "limit": 100})
    assert len(splits.train) == 100 and len(splits.test) == 100
    assert np.bincount(splits.train.labels).min() >= 9


def test_limit_that_drops_fewer_images_than_classes_keeps_every_class():
    # 360 test images, 5 dropped: too few to drop one of each of the 10 classes (scikit-learn
    # refuses such a stratified split), so one image each of 5 classes goes.
    splits = load_dataset("digits", **{**OPTIONS, "limit": 355})
    full = load_dataset("digits", **OPTIONS)
    assert len(splits.test) == 355 and len(splits.train) == 355
    assert set(splits.test.indices) <= set(full.test.indices)
    dropped = np.bincount(full.test.labels, minlength=10) - np.bincount(splits.test.labels,
                                                                        minlength=10)
    assert sorted(dropped.tolist()) == [0] * 5 + [1] * 5


def test_the_validation_hold_out_follows_the_seed(tmp_path):
    write_idx(tmp_path / "mnist", n_train=200)

    def val(seed):
        return load_dataset("mnist", seed=seed, val_split=0.2, data_dir=str(tmp_path)).val

    assert np.array_equal(val(1).indices, val(1).indices)
    assert not np.array_equal(val(1).indices, val(2).indices)
    assert np.bincount(val(2).labels).tolist() == [4] * 10  # still stratified


def test_the_limit_sample_follows_the_seed():
    def train(seed):
        return load_dataset("digits", seed=seed, val_split=0.1, limit=50).train

    assert np.array_equal(train(1).indices, train(1).indices)
    assert not np.array_equal(train(1).indices, train(2).indices)


# ---------------------------------------------------------------------------------------------
# splits too small for their classes: one line in zoo's words, exit code 2


def _usage_error(name, **options) -> str:
    with pytest.raises(ZooError) as info:
        load_dataset(name, **{**OPTIONS, **options})
    message = str(info.value)
    assert info.value.exit_code == EXIT_USAGE == 2
    assert "\n" not in message and "train_size" not in message and "test_size" not in message
    return message


def test_limit_below_the_number_of_classes():
    message = _usage_error("digits", limit=5)
    assert message == "digits: --limit 5 is fewer than the 10 classes; use --limit 10 or more"


def test_val_split_leaving_fewer_validation_images_than_classes(tmp_path):
    root, _ = write_folder(tmp_path / "tiny", per_class=4, broken=False)
    message = _usage_error(f"folder:{root}", val_split=0.1, image_size=(16, 16))
    assert message == (f"folder:{root}: --val-split 0.1 of 12 training images leaves 2 validation"
                       " images for 3 classes; raise --val-split, add images, or give a val/"
                       " folder")


def test_val_split_leaving_fewer_training_images_than_classes(tmp_path):
    root, _ = write_folder(tmp_path / "tiny", per_class=4, broken=False)
    message = _usage_error(f"folder:{root}", val_split=0.9, image_size=(16, 16))
    assert message == (f"folder:{root}: --val-split 0.9 of 12 training images leaves 1 training"
                       " image for 3 classes; lower --val-split or add images")


def test_val_split_too_small_for_an_array_dataset(tmp_path):
    write_idx(tmp_path / "mnist", n_train=100)
    message = _usage_error("mnist", val_split=0.05, data_dir=str(tmp_path))
    assert message.startswith("mnist: --val-split 0.05 of 100 training images leaves 5 ")
    assert message.endswith("for 10 classes; raise --val-split or add images")


def test_a_class_with_a_single_image_stays_in_train(tmp_path):
    write_images(tmp_path / "a", ["only.png"])
    write_images(tmp_path / "b", [f"{i}.png" for i in range(6)])
    write_images(tmp_path / "c", [f"{i}.png" for i in range(6)])
    splits = load_dataset(f"folder:{tmp_path}", seed=1, val_split=0.2, image_size=(8, 8))
    assert splits.train.labels.tolist().count(0) == 1
    assert len(splits.val) == 3 and set(splits.val.labels.tolist()) == {1, 2}
    message = _usage_error(f"folder:{tmp_path}", val_split=0.05, image_size=(8, 8))
    assert "leaves 1 validation image for 2 classes with two or more images" in message


# ---------------------------------------------------------------------------------------------
# --classes and --per-class



def _images_of(split):
    images, ok = split.source.load(split.indices)
    assert ok.all()
    return images


@pytest.mark.parametrize("classes", ["7,2,4", "7, 2 ,4"])
def test_classes_by_index_on_digits_renumbered_in_the_order_given(classes):
    full = load_dataset("digits", **OPTIONS)
    subset = load_dataset("digits", **OPTIONS, classes=classes)
    assert subset.label_names == ["7", "2", "4"] and subset.num_classes == 3
    for name in ("train", "val", "test"):
        whole, part = getattr(full, name), getattr(subset, name)
        expected = whole.indices[np.isin(whole.labels, [7, 2, 4])]
        assert np.array_equal(part.indices, expected)
        renumbered = {7: 0, 2: 1, 4: 2}
        assert part.labels.tolist() == [renumbered[c] for c in whole.source.labels[expected]]
        assert np.array_equal(_images_of(part), _images_of(Split(whole.source, expected)))
    assert np.bincount(subset.test.labels).tolist() == [
        int((full.test.labels == c).sum()) for c in (7, 2, 4)]


def test_classes_by_name_on_cifar10_files(tmp_path):
    write_cifar10(tmp_path, per_batch=20)
    full = load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path))
    subset = load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path), classes="ship,cat")
    assert subset.label_names == ["ship", "cat"]
    assert len(subset.train) + len(subset.val) == 20 and len(subset.test) == 4
    # the renumbered labels point at the images of those classes: ship (8) -> 0, cat (3) -> 1
    ship = full.test.indices[full.test.labels == 8]
    assert np.array_equal(subset.test.indices[subset.test.labels == 0], ship)
    assert sorted(np.bincount(subset.val.labels).tolist()) == [2, 2]


def test_classes_mixing_names_and_indices_on_a_folder(tmp_path):
    root, _ = write_folder(tmp_path / "animals", broken=False)
    subset = load_dataset(f"folder:{root}", **{**OPTIONS, "val_split": 0}, classes="pandas,0")
    assert subset.label_names == ["pandas", "cats"]
    paths = [subset.train.source.paths[i] for i in subset.train.indices]
    assert {Path(p).parent.name for p in paths} == {"cats", "pandas"}
    for path, label in zip(paths, subset.train.labels, strict=True):
        assert Path(path).parent.name == subset.label_names[label]


@pytest.mark.parametrize("classes, message", [
    ("3,eleven", "digits: no class 'eleven' in --classes (known: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9; "
                 "or an index 0-9)"),
    ("3,3", "digits: --classes names class '3' twice"),
    ("3", "digits: --classes '3' names one class; a classifier needs two or more"),
])
def test_unknown_or_repeated_classes_are_one_line(classes, message):
    assert _usage_error("digits", classes=classes) == message


def test_an_unknown_class_name_suggests_a_close_one(tmp_path):
    root, _ = write_folder(tmp_path / "animals", broken=False)
    message = _usage_error(f"folder:{root}", classes="cats,panda")
    assert "did you mean 'pandas'?" in message and "known: cats, dogs, pandas" in message


def test_per_class_keeps_exactly_n_training_images_of_each_class_seeded():
    full = load_dataset("digits", **OPTIONS)
    a = load_dataset("digits", **OPTIONS, per_class=5)
    assert np.bincount(a.train.labels).tolist() == [5] * 10
    assert set(a.train.indices) <= set(full.train.indices)
    assert np.array_equal(a.val.indices, full.val.indices)  # untouched
    assert np.array_equal(a.test.indices, full.test.indices)
    same = load_dataset("digits", **OPTIONS, per_class=5)
    other = load_dataset("digits", **{**OPTIONS, "seed": 2}, per_class=5)
    assert np.array_equal(a.train.indices, same.train.indices)
    assert not np.array_equal(a.train.indices, other.train.indices)


def test_per_class_with_classes_and_a_class_smaller_than_n(tmp_path):
    subset = load_dataset("digits", **OPTIONS, classes="1,0", per_class=3)
    assert np.bincount(subset.train.labels).tolist() == [3, 3]
    assert load_dataset("digits", **OPTIONS, per_class=10_000).train.indices.tolist() == \
        load_dataset("digits", **OPTIONS).train.indices.tolist()


def test_a_class_subset_survives_pickling():
    import pickle

    subset = load_dataset("digits", **OPTIONS, classes="1,0")
    copy = pickle.loads(pickle.dumps(subset.train.source))
    assert np.array_equal(copy.labels, subset.train.source.labels)
    assert copy.image_shape == (8, 8, 1) and copy.bad_files == {}
