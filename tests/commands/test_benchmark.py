"""`zoo benchmark`: its flags, the table it prints, and bad input as one line, exit 2.

The records themselves (JSON, CSV, chart, formats side by side) are tests/test_benchmark.py's.
"""

import pytest

TINY = ("--image-size", "32,32", "--batch-size", "1,4", "--repeats", "2")


def test_table_on_stdout(zoo_cli, monkeypatch):
    monkeypatch.setattr("zoo.benchmark.MIN_RUN_SECONDS", 0.0)  # one call per timed run
    result = zoo_cli("benchmark", "shallownet", *TINY)
    assert result.code == 0, result.err
    out = result.out
    assert "shallownet" in out and "batch 1 ms" in out and "img/s @4" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["lenett"], "unknown model 'lenett'; did you mean lenet"),
        (["lenet", "--batch-size", "0,x"], "bad --batch-size '0,x'"),
        (["lenet5", "--image-size", "16,16"], "lenet5 needs inputs of at least 32x32"),
        (["lenet", "--image-size", "16"], "bad --image-size '16': expected H,W like 32,32"),
        (["lenet", "--repeats", "0"], "--repeats must be at least 1; got 0"),
        ([], "name the models to benchmark"),
        (["lenet", "--format", "keras,h5"], "bad --format 'keras,h5': choose from keras, "
         "onnx, tflite"),
        (["lenet", "--format", "onnx", "--precision", "mixed_float16"],
         "--precision mixed_float16 applies to --format keras"),
    ],
    ids=["unknown-model", "bad-batch-size", "too-small", "bad-image-size", "no-repeats",
         "no-model", "unknown-format", "mixed-precision-export"],
)
def test_bad_input_is_one_line_exit_2(zoo_cli, argv, message):
    result = zoo_cli("benchmark", *argv)
    assert result.code == 2 and result.out == ""
    err = result.err
    assert err.count("\n") == 1 and err.startswith("zoo: error: ") and message in err
