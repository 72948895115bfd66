import inspect
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_cifar10, write_folder, write_hdf5, write_idx, write_images
from zoo.data.datasets import DATASETS, PREFIX_DATASETS, Split, load_dataset
from zoo.data.formats import check_hdf5, read_idx
from zoo.data.pipeline import Transform, load_all, make_sequence
from zoo.data.preprocessing import augment_batch
from zoo.errors import EXIT_USAGE, ZooError, ZooRuntimeError

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


@pytest.mark.parametrize("tarball", [False, True])
def test_cifar10_from_local_files(tmp_path, tarball):
    write_cifar10(tmp_path, per_batch=20, tarball=tarball)
    splits = load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path))
    assert splits.train.source.images.shape == (100, 32, 32, 3)
    assert len(splits.train) == 80 and len(splits.val) == 20 and len(splits.test) == 20
    assert splits.label_names[0] == "airplane" and splits.num_classes == 10
    # stratified hold-out: every class keeps 8 train and 2 validation images
    assert np.bincount(splits.val.labels).tolist() == [2] * 10
    # pixels survive the NCHW -> NHWC transposition: the class square is bright
    image = splits.test.source.images[0]
    assert image[2, 10].min() >= 200 and image[20, 2].max() < 60


def test_idx_files(tmp_path):
    write_idx(tmp_path / "mnist")
    splits = load_dataset("mnist", **OPTIONS, data_dir=str(tmp_path))
    assert splits.image_shape == (28, 28, 1)
    assert len(splits.train) + len(splits.val) == 60 and len(splits.test) == 20
    raw = read_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert raw.tolist() == [c for c in range(10) for _ in range(2)]


def test_digits_split_is_fixed():
    a = load_dataset("digits", **OPTIONS)
    b = load_dataset("digits", **{**OPTIONS, "seed": 99, "val_split": 0.5})
    assert (len(a.train), len(a.val), len(a.test)) == (1077, 360, 360)
    assert np.array_equal(a.test.indices, b.test.indices)
    assert np.array_equal(a.val.indices, b.val.indices)
    assert a.image_shape == (8, 8, 1) and a.train.source.images.max() == 255


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


def test_folder_skips_broken_files_and_names_them(tmp_path):
    root, bad = write_folder(tmp_path / "animals")
    splits = load_dataset(f"folder:{root}", **{**OPTIONS, "val_split": 0.25},
                          image_size=(32, 32))
    assert splits.label_names == ["cats", "dogs", "pandas"]
    assert len(splits.train) + len(splits.val) == 27  # 24 images + 3 broken files
    transform = Transform(size=(32, 32), channels=3)
    x, y = load_all(splits.train, transform)
    x2, y2 = load_all(splits.val, transform)
    assert len(x) + len(x2) == 24 and x.shape[1:] == (32, 32, 3)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert sorted(p.split("/")[-1] for p in splits.train.source.bad_files) == sorted(bad)


def test_folder_with_train_and_test_subfolders(tmp_path):
    write_folder(tmp_path / "train", broken=False)
    write_folder(tmp_path / "test", per_class=2, broken=False)
    splits = load_dataset(f"folder:{tmp_path}", **OPTIONS, image_size=(20, 20))
    assert len(splits.test) == 6 and splits.test.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert splits.image_shape == (20, 20, 3)


def test_folder_size_is_probed_from_the_first_readable_image(tmp_path):
    root, _ = write_folder(tmp_path / "animals")
    (root / "cats" / "aaa.jpg").write_bytes(b"")  # listed first, and unreadable
    splits = load_dataset(f"folder:{root}", **OPTIONS)
    assert splits.image_shape == (40, 48, 3)


def test_folder_lists_every_skipped_file_with_its_reason(tmp_path):
    root, _ = write_folder(tmp_path / "animals", broken=False)
    junk = {
        root / "cats" / "notes.txt": ".txt",
        root / "cats" / "README": "no suffix",
        root / "cats" / "labels.csv": ".csv",
        root / "dogs" / "clip.mp4": ".mp4",
        root / "dogs" / "raw" / "shot.cr2": ".cr2",
        root / "pandas" / "scan.pdf": ".pdf",
        root / "pandas" / "photo.jpg.bak": ".bak",
    }
    for path in junk:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not an image\n")
    (root / "index.json").write_text("{}")
    (root / "cats" / ".DS_Store").write_bytes(b"\0")
    (root / "dogs" / "._img001.jpg").write_bytes(b"\0")  # macOS resource fork
    splits = load_dataset(f"folder:{root}", **OPTIONS, image_size=(16, 16))
    expected = {str(p): f"not an image file name ({why})" for p, why in junk.items()}
    expected[str(root / "index.json")] = "not inside a class folder"
    assert splits.skipped == expected
    assert len(splits.train) + len(splits.val) == 24  # the images, and only them


def test_folder_finds_images_in_sorted_order_whatever_the_case_of_their_suffix(tmp_path):
    names = ["b.png", "Z.PNG", "a.JPG", "c.jpeg", "d.Tif"]
    write_images(tmp_path / "x", names)
    write_images(tmp_path / "x" / "sub", ["e.webp"])
    write_images(tmp_path / "y", ["one.BMP", "two.png"])
    splits = load_dataset(f"folder:{tmp_path}", seed=1, val_split=0.0, image_size=(8, 8))
    assert splits.val is None and splits.skipped == {}
    found = [str(Path(p).relative_to(tmp_path)) for p in splits.train.source.paths]
    assert found == ["x/Z.PNG", "x/a.JPG", "x/b.png", "x/c.jpeg", "x/d.Tif", "x/sub/e.webp",
                     "y/one.BMP", "y/two.png"]
    assert splits.train.labels.tolist() == [0] * 6 + [1] * 2


def test_hdf5(tmp_path):
    path = write_hdf5(tmp_path / "data.h5")
    splits = load_dataset(f"hdf5:{path}", **OPTIONS)
    assert splits.label_names == ["class0", "class1", "class2"]
    assert splits.image_shape == (16, 16, 3) and len(splits.train) == 24
    images, ok = splits.train.source.load(np.array([5, 1, 5]))
    assert ok.all() and np.array_equal(images[0], images[2])
    assert not np.array_equal(images[0], images[1])


def test_hdf5_checks_say_what_is_wrong(tmp_path):
    import h5py

    with h5py.File(tmp_path / "nolabels.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(ZooError, match="missing dataset\\(s\\) labels"):
        load_dataset(f"hdf5:{tmp_path / 'nolabels.h5'}", **OPTIONS)
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ZooError, match="not an HDF5 file"):
        check_hdf5(tmp_path / "text.h5")
    with pytest.raises(ZooError, match="no such file"):
        load_dataset(f"hdf5:{tmp_path / 'absent.h5'}", **OPTIONS)
    assert check_hdf5(write_hdf5(tmp_path / "ok.h5", classes=2)) == ["class0", "class1"]


def test_sequence_is_deterministic_per_epoch_and_one_hot():
    splits = load_dataset("digits", **OPTIONS)
    transform = Transform(size=(8, 8), channels=1, augment=splits.augmentation)
    a = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=2)
    b = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=1)
    b.on_epoch_end()
    xa, ya = a[4]
    xb, yb = b[4]
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert ya.shape == (32, 10) and set(ya.sum(axis=1)) == {1.0}


# ---------------------------------------------------------------------------------------------
# the seed


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
# the registry: one spec per dataset, its augmentation preset included


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
    assert sorted(PREFIX_DATASETS) == ["folder", "hdf5"]
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
# names and downloads


def test_unknown_dataset_suggests():
    with pytest.raises(ZooError, match="did you mean cifar10"):
        load_dataset("cifar01", **OPTIONS)
    with pytest.raises(ZooError, match="did you mean folder:/some/where"):
        load_dataset("foldr:/some/where", **OPTIONS)
    with pytest.raises(ZooError, match="names no path; give folder:PATH"):
        load_dataset("folder:", **OPTIONS)


def test_failed_download_says_what_and_where(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setattr("zoo.data.builtin.KERAS_CACHE", tmp_path / "cache")
    with pytest.raises(ZooRuntimeError) as info:
        load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path / "mine"))
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "mine") in message
    assert "\n" not in message and info.value.exit_code == 1


def test_the_command_line_reports_a_too_small_limit_in_one_line(zoo_cli, tmp_path):
    result = zoo_cli("train", "--model", "lenet", "--dataset", "digits", "--limit", "5",
                     "--epochs", "1", "--output", tmp_path)
    assert result.code == 2 and result.out == ""
    assert result.err == ("zoo: error: digits: --limit 5 is fewer than the 10 classes; "
                          "use --limit 10 or more\n")
    assert not any(tmp_path.iterdir())  # no run directory for a run that never started


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


def test_hdf5_keeps_its_split_and_takes_classes(tmp_path):
    import h5py

    path = write_hdf5(tmp_path / "data.h5", n_per_class=10, classes=3)
    with h5py.File(path, "a") as f:
        f.create_dataset("split", data=np.array([0] * 6 + [1] * 2 + [2] * 2 + [0] * 20))
    splits = load_dataset(f"hdf5:{path}", **OPTIONS)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (26, 2, 2)
    subset = load_dataset(f"hdf5:{path}", **OPTIONS, classes="class2,class0")
    assert subset.label_names == ["class2", "class0"] and len(subset.test) == 2
    assert np.bincount(subset.train.labels).tolist() == [10, 6]


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
