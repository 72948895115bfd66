"""The `folder:PATH` dataset (`zoo.data.folder`): class folders, train/ and test/ sub-folders,
the probed image size, and every file that is not an image listed with its reason."""

from pathlib import Path

from tests.fixtures import write_folder, write_images
from zoo.data.datasets import load_dataset
from zoo.data.pipeline import Transform, load_all

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


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
