import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import needs_graphviz
from zoo.models import list_models

# Run in a fresh interpreter: `zoo.cli.main(ARGV)`, its output swallowed, then the heavy
# frameworks found in sys.modules as the last line.
_IMPORTS_AFTER = """
import contextlib, io, json, sys
import zoo.cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = zoo.cli.main(sys.argv[1:])
    except SystemExit as exc:  # argparse's --help
        code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"code": code, "out": out.getvalue(), "heavy": heavy}}))
"""
HEAVY = {"keras", "tensorflow", "tf_keras", "jax", "jaxlib", "torch"}


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["--help"], "summary"),
        (["train", "--help"], "--batch-size"),
        (["benchmark", "--help"], "--repeats"),
        (["models", "--json"], '"name": "lenet"'),
    ],
    ids=["help", "train-help", "benchmark-help", "models-json"],
)
def test_parsing_and_listing_import_no_framework(argv, expect):
    # `zoo --help` and `zoo models` must answer at once: no deep-learning framework may be
    # imported, at module level of the CLI or anywhere on these paths.
    code = _IMPORTS_AFTER.format(heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and expect in result["out"], proc.stderr
    assert result["heavy"] == []


def test_models_json_lists_every_model_with_its_facts(zoo_cli):
    result = zoo_cli("models", "--json")
    assert result.code == 0
    rows = result.json()
    assert [r["name"] for r in rows] == list_models()
    for row in rows:
        assert {"name", "family", "params", "input_shape", "pretrained", "reference"} <= set(row)
    by_name = {r["name"]: r for r in rows}
    assert by_name["vgg16"]["params"] == 138_357_544 and by_name["vgg16"]["pretrained"] is True
    assert by_name["inceptionv3"]["input_shape"] == [299, 299, 3]
    assert by_name["lenet"]["pretrained"] is False


def test_models_pattern_and_pretrained_filters(zoo_cli):
    rows = zoo_cli("models", "efficientnet*", "--json").json()
    assert rows and all(r["name"].startswith("efficientnet") for r in rows)
    rows = zoo_cli("models", "--pretrained", "--json").json()
    assert rows and all(r["pretrained"] for r in rows)


def test_models_table(zoo_cli):
    result = zoo_cli("models", "minivggnet")
    assert result.code == 0
    assert "minivggnet" in result.out and "2.17M" in result.out and "32x32x3" in result.out


def test_unknown_model_is_one_line_and_exit_2(zoo_cli):
    result = zoo_cli("summary", "--model", "minivgg")
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("zoo: error: ")
    assert "minivggnet" in result.err


def test_bad_flag_is_one_line_and_exit_2(zoo_cli):
    result = zoo_cli("summary", "--model", "lenet", "--input-shape", "a,b")
    assert result.code == 2 and result.err.count("\n") == 1
    assert zoo_cli("frobnicate").code == 2


def test_summary_prints_layers_params_and_flops(zoo_cli):
    result = zoo_cli("summary", "--model", "lenet")
    assert result.code == 0
    assert "conv1 (Conv2D)" in result.out and "predictions (Dense)" in result.out
    assert "Parameters: 1,256,080" in result.out
    assert "Forward FLOPs per image: 13,044,000" in result.out


def test_summary_honours_input_shape_and_classes(zoo_cli):
    result = zoo_cli("summary", "--model", "lenet", "--input-shape", "32,32,3", "--classes", "5")
    assert "Input shape: 32x32x3" in result.out
    assert "(None, 5)" in result.out


def test_too_small_input_is_a_one_line_error(zoo_cli):
    result = zoo_cli("summary", "--model", "alexnet", "--input-shape", "28,28,1")
    assert result.code == 2 and "67x67" in result.err and "Traceback" not in result.err


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
