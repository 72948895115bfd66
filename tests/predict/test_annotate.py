"""Annotated copies (`zoo predict --output DIR`): one file per input image, the label drawn
on the photo itself."""

import numpy as np
import pytest

from tests.predict.helpers import ODD, photos


def test_annotations_of_same_named_images_do_not_overwrite(zoo_cli, predict_run, tmp_path):
    import cv2

    run, _ = predict_run
    for folder, photo in (("a", photos()[0]), ("b", photos()[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(open(photo, "rb").read())
    out = tmp_path / "annotated"
    result = zoo_cli("predict", "--image", tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg",
                     tmp_path / "a" / "x.jpg", "--model", run.path, "--output", out, "--json")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 3
    assert sorted(p.name for p in out.iterdir()) == ["x-2.jpg", "x.jpg"]
    china, flower = (cv2.imread(p).astype(int) for p in photos())
    for name, own, other in (("x.jpg", china, flower), ("x-2.jpg", flower, china)):
        annotated = cv2.imread(str(out / name)).astype(int)
        assert annotated.shape == own.shape
        label = np.abs(annotated - own)[:40, :300].sum(axis=2) > 60
        assert label.mean() > 0.1  # the label drawn at the top left
        assert np.abs(annotated - own)[60:].mean() < 3  # below it, this photo
        assert np.abs(annotated - other)[60:].mean() > 20  # not the other one


@pytest.mark.skipif(not ODD.is_dir(), reason=f"{ODD} is not on this machine")
def test_annotations_of_odd_formats_show_the_photo(zoo_cli, predict_run, tmp_path):
    from zoo.data.images import read_image

    run, _ = predict_run
    out = tmp_path / "annotated"
    inputs = [ODD / "good.gif", ODD / "good_cmyk.jpg", ODD / "good_16bit_gray.png"]
    result = zoo_cli("predict", "--image", *inputs, "--model", run.path, "--output", out)
    assert result.code == 0, result.err
    for source in inputs:
        annotated = read_image(out / source.name).astype(int)
        original = read_image(source).astype(int)
        assert annotated.shape == original.shape
        assert np.abs(annotated - original)[:36].mean() > 20  # the label drawn
        assert np.abs(annotated - original)[40:].mean() < 6  # below it, the photo


def test_names_are_unique_per_output_and_case_blind(tmp_path):
    from zoo.predict.annotate import AnnotationNames

    names = AnnotationNames(tmp_path)
    a, b = tmp_path / "a" / "X.jpg", tmp_path / "b" / "x.JPG"
    assert names(a) == tmp_path / "X.jpg"
    assert names(b) == tmp_path / "x-2.jpg"
    assert names(a) == tmp_path / "X.jpg"  # the same input keeps its name
    assert names(tmp_path / "c.xyz") == tmp_path / "c.png"  # Pillow cannot write .xyz
