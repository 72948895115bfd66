"""zoo/boxes/annotations.py: the boxes: dataset reads CSV rows (header optional, labels
optional, class folders), and lists every bad row with its reason, never training on it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.boxes.helpers import write_image
from zoo.boxes.annotations import read_annotations
from zoo.errors import ZooError


def _bad_rows_csv(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / "img" / name, 30, 40, (5, 5, 20, 25))
    (tmp_path / "img" / "broken.png").write_bytes(b"not a png")
    lines = [
        "filename,x1,y1,x2,y2,label",
        "img/a.png,5,5,20,25,cat",  # 2: good
        "img/b.png,5,5,20,25,dog",  # 3: good
        "img/c.png,0,0,41,30,cat",  # 4: outside the 40-wide image
        "img/c.png,20,5,20,25,cat",  # 5: x2 <= x1
        "img/c.png,5,25,20,5,cat",  # 6: y2 <= y1
        "img/missing.png,1,1,5,5,cat",  # 7: missing file
        "img/c.png,1,1,5",  # 8: malformed (too few fields)
        "img/c.png,one,1,5,5,cat",  # 9: malformed number
        "img/c.png,1,1,5,5,",  # 10: empty label
        "img/broken.png,1,1,5,5,cat",  # 11: not an image
        "img/a.png,1,1,5,5,cat",  # 12: a second box for a.png
        "img/c.png,1,2,30,28,cat",  # 13: good
    ]
    path = tmp_path / "ANNOTATIONS.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_bad_row_is_skipped_with_its_reason(tmp_path):
    path = _bad_rows_csv(tmp_path)
    paths, names, labels, boxes, sizes, skipped = read_annotations(str(path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["a.png", "b.png", "c.png"]
    assert names == ["cat", "dog"] and labels == [0, 1, 0]
    assert boxes == [(5, 5, 20, 25), (5, 5, 20, 25), (1, 2, 30, 28)]
    assert sizes == [(30, 40)] * 3
    reasons = {int(key.rsplit(" ", 1)[1]): reason for key, reason in skipped.items()}
    assert sorted(reasons) == list(range(4, 13))
    assert "outside the 40x30 image" in reasons[4]
    assert "x2 20 <= x1 20" in reasons[5]
    assert "y2 5 <= y1 25" in reasons[6]
    assert reasons[7].startswith("missing file")
    assert reasons[8].startswith("malformed row: 4 fields, expected 6")
    assert "not a number" in reasons[9]
    assert reasons[10].startswith("bad label")
    assert "not an image" in reasons[11]
    assert "a second box" in reasons[12]


def test_header_and_labels_are_optional_and_data_dir_holds_the_files(tmp_path):
    write_image(tmp_path / "pics" / "x.png", 20, 20, (2, 2, 10, 10))
    path = tmp_path / "notes" / "boxes.csv"
    path.parent.mkdir()
    path.write_text("x.png,2,2,10,10\n")
    with pytest.raises(ZooError, match="no usable annotation row"):  # beside the CSV: missing
        read_annotations(str(path))
    paths, names, labels, boxes, _, skipped = read_annotations(str(path), str(tmp_path / "pics"))
    assert names == ["object"] and labels == [0] and boxes == [(2, 2, 10, 10)] and not skipped


def test_class_folders_with_one_csv_each(tmp_path):
    for label in ("airplanes", "faces"):
        write_image(tmp_path / label / "image_0001.png", 24, 32, (3, 4, 20, 18))
        (tmp_path / label / "annotations.csv").write_text(
            "filename,x1,y1,x2,y2\nimage_0001.png,3,4,20,18\n")
    (tmp_path / "faces" / "annotations.csv").write_text(
        "image_0001.png,3,4,20,18\nimage_0001.png,3,4,20,18,airplanes\n")
    paths, names, labels, _, _, skipped = read_annotations(str(tmp_path))
    assert names == ["airplanes", "faces"] and labels == [0, 1] and len(paths) == 2
    assert list(skipped.values()) == ["bad label: 'airplanes' in the class folder 'faces'"]


def test_no_good_row_is_one_line_and_exit_2(zoo_cli, tmp_path):
    write_image(tmp_path / "a.png", 10, 10)
    (tmp_path / "A.csv").write_text("a.png,0,0,11,5\na.png,3,3,2,5\n")
    result = zoo_cli("train", "--task", "boxes", "--model", "lenet5", "--dataset",
                     f"boxes:{tmp_path / 'A.csv'}", "--image-size", "32,32", "--output",
                     tmp_path / "out")
    assert result.code == 2
    assert result.err.startswith("zoo: error: ") and len(result.err.strip().splitlines()) == 1
    assert "no usable annotation row" in result.err and "outside" in result.err
    assert not (tmp_path / "out").exists()


def test_task_and_dataset_must_agree(zoo_cli, tmp_path):
    result = zoo_cli("train", "--model", "lenet5", "--dataset", "boxes:x.csv")
    assert result.code == 2 and "pass --task boxes" in result.err
    result = zoo_cli("train", "--task", "boxes", "--model", "lenet5", "--dataset", "digits")
    assert result.code == 2 and "boxes:ANNOTATIONS.csv" in result.err
    result = zoo_cli("train", "--task", "boxes", "--model", "lenet5", "--dataset", "boxes:x.csv",
                     "--mixup", "0.2")
    assert result.code == 2 and "--mixup does not work with --task boxes" in result.err


def test_letterboxed_targets_of_a_source(tmp_path):
    from zoo.boxes.annotations import BoxSource

    write_image(tmp_path / "w.png", 20, 40, (10, 5, 30, 15))
    source = BoxSource([str(tmp_path / "w.png")], [0], [(10, 5, 30, 15)], [(20, 40)], (32, 32), 1)
    images, ok = source.load(np.array([0]))
    assert ok.all() and images.shape == (1, 32, 32, 1)
    # 40x20 -> 32x16 (scale 0.8), 8 rows of bars above: the box is x 8..24, y 8+4..8+12
    np.testing.assert_allclose(source.targets(np.array([0]))[0],
                               np.array([8, 12, 24, 20]) / 32, rtol=1e-6)


def test_a_label_on_a_row_of_an_unlabelled_file_is_a_bad_row(tmp_path):
    """The header or first row fixes the columns: a later row with a label is listed, not
    trained on with its label silently dropped."""
    for name in ("a.png", "b.png"):
        write_image(tmp_path / name, 20, 20, (2, 2, 10, 10))
    path = tmp_path / "A.csv"
    path.write_text("filename,x1,y1,x2,y2\na.png,2,2,10,10\nb.png,2,2,10,10,cat\n")
    paths, names, _, _, _, skipped = read_annotations(str(path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["a.png"] and names == ["object"]
    assert list(skipped.values()) == ["malformed row: 6 fields, expected 5 "
                                      "(filename,x1,y1,x2,y2)"]


def test_one_image_spelled_two_ways_is_one_image(tmp_path):
    write_image(tmp_path / "img" / "a.png", 20, 20, (2, 2, 10, 10))
    path = tmp_path / "A.csv"
    path.write_text("img/a.png,2,2,10,10\n./img/../img/a.png,3,3,9,9\n")
    paths, _, _, boxes, _, skipped = read_annotations(str(path))
    assert paths == [str(tmp_path / "img" / "a.png")] and boxes == [(2, 2, 10, 10)]
    assert list(skipped) == [f"{path} line 2"] and "a second box" in skipped[f"{path} line 2"]
