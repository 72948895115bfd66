import contextlib
import csv
import io
import json

import numpy as np
import pytest

from zoo.benchmark import parse_batch_sizes, resolve_models, summarize
from zoo.errors import ZooError

TINY = ("--image-size", "32,32", "--batch-size", "1,4", "--repeats", "2")


@pytest.fixture(scope="module", autouse=True)
def _quick_timing():
    """A timed run of one call (not of 0.2 s): the records' shape is the question here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("zoo.benchmark.MIN_RUN_SECONDS", 0.0)
        yield


def _run(*argv):
    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One `zoo benchmark --json --train -o --csv` run of two tiny models, one by wildcard."""
    tmp = tmp_path_factory.mktemp("bench")
    code, out, err = _run("benchmark", "shallownet", "lenet*", *TINY, "--train", "--json",
                          "--no-gemm", "-o", tmp / "chart.png", "--csv", tmp / "bench.csv")
    assert code == 0, err
    return json.loads(out), tmp


def test_summarize_gives_the_median_quartiles_and_range():
    stats = summarize([5.0, 1.0, 100.0, 3.0, 2.0])
    assert stats == {"median": 3.0, "q1": 2.0, "q3": 5.0, "min": 1.0, "max": 100.0, "runs": 5}
    assert summarize([4.0, 1.0, 3.0, 2.0])["median"] == 2.5  # even count: the middle two's mean
    assert summarize([7.0]) == {"median": 7.0, "q1": 7.0, "q3": 7.0, "min": 7.0, "max": 7.0,
                                "runs": 1}


def test_batch_sizes_are_parsed_sorted_and_checked():
    assert parse_batch_sizes("32,1,32") == (1, 32)
    for bad in ("0,4", "x", "", "1,-2"):
        with pytest.raises(ZooError, match="--batch-size"):
            parse_batch_sizes(bad)


def test_patterns_select_models_in_order_once():
    assert resolve_models(["shallownet", "lenet*", "lenet"]) == ["shallownet", "lenet", "lenet5"]
    with pytest.raises(ZooError, match="did you mean lenet"):
        resolve_models(["lenett"])
    with pytest.raises(ZooError, match="no model matches"):
        resolve_models(["nothing*"])
    with pytest.raises(ZooError, match="name the models"):
        resolve_models([])


def test_json_has_the_machine_and_exactly_the_models_asked_for(bench):
    report, _ = bench
    assert report["machine"]["cpu_count"] >= 1
    assert {"python", "keras", report["backend"]} <= set(report["versions"])
    assert [r["model"] for r in report["models"]] == ["shallownet", "lenet", "lenet5"]
    for record in report["models"]:
        assert record["input_shape"][:2] == [32, 32]
        assert [e["batch_size"] for e in record["inference"]] == [1, 4]
        entries = [*record["inference"], record["train"]]
        assert record["train"]["batch_size"] == 4
        for entry in entries:
            for metric in ("ms_per_batch", "images_per_s"):
                stats = entry[metric]
                assert stats["runs"] == 2
                assert 0 < stats["min"] <= stats["median"] <= stats["max"]


def test_params_and_gflops_are_those_of_the_built_model(bench):
    from zoo.models.flops import count_flops
    from zoo.models.registry import build_model

    report, _ = bench
    for record in report["models"]:
        model = build_model(record["model"], input_shape=tuple(record["input_shape"]))
        assert record["params"] == model.count_params()
        assert record["gflops"] == pytest.approx(count_flops(model) / 1e9)
        assert record["gflops"] > 0


def test_chart_is_a_non_blank_png(bench):
    from PIL import Image

    _, tmp = bench
    path = tmp / "chart.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = np.asarray(Image.open(path).convert("L"))
    assert pixels.std() > 5  # more than a blank canvas


def test_csv_has_one_row_per_model_with_the_medians(bench):
    report, tmp = bench
    with open(tmp / "bench.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["shallownet", "lenet", "lenet5"]
    for row, record in zip(rows, report["models"], strict=True):
        assert int(row["params"]) == record["params"]
        assert float(row["b1_ms_per_batch"]) == pytest.approx(
            record["inference"][0]["ms_per_batch"]["median"])
        assert float(row["b4_images_per_s"]) > 0 and float(row["train_b4_images_per_s"]) > 0


def test_precision_is_recorded_and_reset_after():
    import keras

    from zoo.benchmark import benchmark_model

    before = keras.config.dtype_policy().name
    record = benchmark_model("shallownet", image_size=(16, 16), batch_sizes=(2,), repeats=1,
                             warmup=1, precision="mixed_bfloat16", min_run_seconds=0)
    assert record["precision"] == "mixed_bfloat16"
    assert record["inference"][0]["images_per_s"]["median"] > 0
    assert keras.config.dtype_policy().name == before


# -- --format: exported models timed in their runtimes, beside Keras --------------------------

def _installed(*modules):
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


needs_export = pytest.mark.skipif(
    not _installed("onnx", "tf2onnx", "onnxruntime", "ai_edge_litert"),
    reason="the export extra is not installed (pip install -e '.[export]')")


@pytest.fixture(scope="module")
def bench_formats(tmp_path_factory):
    """One `zoo benchmark --format onnx,keras,tflite --train --json --csv` run of two tiny
    models (not the formats' own order, so that keeping the order given is tested)."""
    tmp = tmp_path_factory.mktemp("bench-formats")
    code, out, err = _run("benchmark", "shallownet", "lenet", *TINY, "--format",
                          "onnx,keras,tflite", "--train", "--json", "--no-gemm", "--csv",
                          tmp / "bench.csv")
    assert code == 0, err
    return json.loads(out), tmp


@needs_export
def test_formats_give_one_record_per_model_and_format(bench_formats):
    report, _ = bench_formats
    assert report["settings"]["formats"] == ["onnx", "keras", "tflite"]
    assert [(r["model"], r["format"]) for r in report["models"]] == [
        (m, f) for m in ("shallownet", "lenet") for f in ("onnx", "keras", "tflite")]
    for record in report["models"]:
        runtime = {"keras": "keras ", "onnx": "onnxruntime ",
                   "tflite": "ai-edge-litert "}[record["format"]]
        assert record["runtime"].startswith(runtime)
        assert record["input_shape"][:2] == [32, 32] and record["precision"] == "float32"
        assert [e["batch_size"] for e in record["inference"]] == [1, 4]
        for entry in record["inference"]:
            for metric in ("ms_per_batch", "images_per_s"):
                stats = entry[metric]
                assert stats["runs"] == 2 and 0 < stats["min"] <= stats["median"] <= stats["max"]
    by_model = {}
    for record in report["models"]:  # the same model whatever the format
        by_model.setdefault(record["model"], set()).add((record["params"], record["gflops"]))
    assert all(len(figures) == 1 for figures in by_model.values())


@needs_export
def test_formats_csv_has_a_format_column(bench_formats):
    report, tmp = bench_formats
    with open(tmp / "bench.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["format"]) for r in rows] == [
        (r["model"], r["format"]) for r in report["models"]]
    assert all(float(r["b4_images_per_s"]) > 0 for r in rows)


@needs_export
def test_formats_table_has_a_row_per_record_in_order_and_no_train_figure_for_exports(
        bench_formats):
    from rich.console import Console

    from zoo.benchmark import parse_formats, results_table

    assert parse_formats("onnx,keras") == ("onnx", "keras")  # the order given is kept
    report, _ = bench_formats
    lenet = {r["format"]: r for r in report["models"] if r["model"] == "lenet"}
    result = {"settings": {**report["settings"], "formats": ["onnx", "keras"]},
              "models": [lenet["onnx"], lenet["keras"]]}
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(results_table(result, report["backend"]))
    rows = [line for line in console.export_text().splitlines() if line.startswith("│ lenet")]
    assert [row.split("│")[2].strip() for row in rows] == ["onnx", "keras"]
    assert "onnxruntime" in rows[0] and rows[0].rstrip("│ ").endswith("-")  # no train figure
    assert not rows[1].rstrip("│ ").endswith("-")
