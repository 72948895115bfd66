"""Exported files run by their own runtimes (`zoo.predict.formats`): the format table, and
`zoo predict` on an exported file equal to `zoo predict` on its run, without Keras."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.predict.helpers import fmt_param, needs, photos
from zoo.export import TOLERANCE
from zoo.predict.formats import FORMAT_NAMES, FORMATS, SUFFIXES, exported_format

FILES = [fmt_param(f) for f in ("onnx", "tflite")]


def _predict_json(zoo_cli, model, *extra):
    result = zoo_cli("predict", "--image", *photos(), "--model", model, "--json", "--top", "5",
                     *extra)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()], result.err


def test_the_format_table(tmp_path):
    assert list(FORMATS) == ["savedmodel", "onnx", "tflite"]
    assert FORMAT_NAMES == {"savedmodel": "SavedModel", "onnx": "ONNX", "tflite": "TFLite"}
    assert SUFFIXES == {"savedmodel": "_savedmodel", "onnx": ".onnx", "tflite": ".tflite"}
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "plain").mkdir()
    assert [exported_format(p) for p in (tmp_path / "a.ONNX", tmp_path / "b.tflite",
                                         tmp_path / "sm", tmp_path / "plain",
                                         tmp_path / "c.keras")] == [
        "onnx", "tflite", "savedmodel", None, None]


@pytest.mark.parametrize("fmt", FILES)
def test_predict_from_an_export_equals_keras(fmt, exported, zoo_cli):
    run, _, export = exported
    path = export(fmt)
    reference, _ = _predict_json(zoo_cli, run.path)
    lines, err = _predict_json(zoo_cli, path)
    assert err == ""
    assert [x["image"] for x in lines] == [x["image"] for x in reference] == photos()
    assert [p["index"] for p in reference[0]["predictions"]] != [
        p["index"] for p in reference[1]["predictions"]]
    for line, ref in zip(lines, reference, strict=True):
        assert line["model"] == f"run.{fmt}"
        assert [(p["index"], p["label"]) for p in line["predictions"]] == [
            (p["index"], p["label"]) for p in ref["predictions"]]
        np.testing.assert_allclose([p["probability"] for p in line["predictions"]],
                                   [p["probability"] for p in ref["predictions"]],
                                   atol=TOLERANCE[fmt], rtol=0)


@needs("onnx", "tflite")
def test_predict_from_an_export_loads_neither_keras_nor_tensorflow(exported, tmp_path):
    """One interpreter for both formats: each `zoo predict` prints its table and writes its
    annotations, and after both nothing heavy has been imported."""
    _, _, export = exported
    files = {fmt: export(fmt) for fmt in ("onnx", "tflite")}
    script = ("import sys; from zoo.cli import main\n"
              "for fmt, path in zip(('onnx', 'tflite'), sys.argv[1:3]):\n"
              "    code = main(['predict', '--image', *sys.argv[3:], '--model', path, "
              "'--output', fmt])\n"
              "    print('EXIT', fmt, code, flush=True)\n"
              "print('LOADED', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') "
              "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script, files["onnx"], files["tflite"],
                           *photos()], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "LOADED []"
    for fmt, table in zip(("onnx", "tflite"), proc.stdout.split("EXIT ")[:2], strict=True):
        assert f"EXIT {fmt} 0" in proc.stdout
        assert "rank" in table and "probability" in table  # the table
        assert sorted(p.name for p in (tmp_path / fmt).iterdir()) == ["china.jpg",
                                                                      "flower.jpg"]
