"""`zoo plot`: the graph file, its format from the suffix, and Graphviz missing."""

import numpy as np
import pytest

from tests.conftest import needs_graphviz


@needs_graphviz
def test_plot_writes_a_png_that_is_not_blank(zoo_cli, tmp_path):
    import cv2

    out = tmp_path / "graphs" / "minivggnet.png"
    result = zoo_cli("plot", "--model", "minivggnet", "-o", out)
    assert result.code == 0 and result.out.strip() == str(out)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 500  # a tall graph of ~20 layers
    not_white = (image < 200).any(axis=2).mean()
    assert 0.01 < not_white < 0.9
    assert not list(out.parent.glob(".*"))  # no temp file left behind


@needs_graphviz
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_format_follows_the_suffix(zoo_cli, tmp_path, suffix, magic):
    out = tmp_path / f"lenet{suffix}"
    assert zoo_cli("plot", "--model", "lenet", "-o", out).code == 0
    assert out.read_bytes().startswith(magic)


def test_plot_rejects_an_unknown_format(zoo_cli, tmp_path):
    result = zoo_cli("plot", "--model", "lenet", "-o", tmp_path / "x.bmp")
    assert result.code == 2 and ".png" in result.err


def test_plot_without_graphviz_says_what_to_install(zoo_cli, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = zoo_cli("plot", "--model", "lenet", "-o", tmp_path / "x.png")
    assert result.code == 2 and "graphviz" in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_plot_default_path_is_output_model_png(zoo_subprocess, tmp_path):
    if __import__("shutil").which("dot") is None:
        pytest.skip("Graphviz is not installed")
    result = zoo_subprocess("plot", "--model", "shallownet")
    assert result.code == 0, result.err
    assert (tmp_path / "output" / "shallownet.png").stat().st_size > 1000
    assert result.err == ""  # TensorFlow's start-up chatter stays hidden
    assert np.any((tmp_path / "output").iterdir())
