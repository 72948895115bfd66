"""zoo export and zoo predict from an exported file, against Keras.

The models have weights whose outputs depend strongly on the input (a run's classifier scaled
so its logits spread; the calibrated ImageNet weights of the predict tests), and every
comparison first checks that different images rank classes differently: with flat outputs
"the export equals Keras" would hold whatever the export did.
"""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.predict.helpers import EXPORT_NAMES as NAMES
from tests.predict.helpers import EXPORT_SHAPE as SHAPE
from tests.predict.helpers import (
    MEAN,
    NEEDS,
    assert_same_ranking,
    calibrated,
    fmt_param,
    installed,
    keras_probs,
    photos,
)
from tests.predict.helpers import make_export_run as make_run
from zoo.card import imagenet_classes
from zoo.data.preprocessing import scale_pixels
from zoo.export import SUFFIXES, TOLERANCE, default_output, verification_images
from zoo.predict.exported import METADATA_KEY
from zoo.predict.formats import open_exported

ALL = [fmt_param(f) for f in ("onnx", "tflite", "savedmodel")]
FILES = [fmt_param(f) for f in ("onnx", "tflite")]


def _run(*argv):
    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One run, exported once per format on demand: {fmt: (path, code, out, err)}."""
    run, model = make_run(tmp_path_factory.mktemp("export"))
    done = {}

    def export(fmt):
        if fmt not in done:
            code, out, err = _run("export", run.path, "--format", fmt)
            done[fmt] = (run.path / "export" / f"model{SUFFIXES[fmt]}", code, out, err)
        return done[fmt]

    batch = np.stack([image for _, image in verification_images(SHAPE)])
    return run, model, batch, export


def stored_metadata(path: Path, fmt: str) -> dict:
    """The metadata as the format's own tools read it."""
    if fmt == "onnx":
        import onnxruntime

        text = onnxruntime.InferenceSession(str(path)).get_modelmeta().custom_metadata_map[
            METADATA_KEY]
    elif fmt == "tflite":
        from ai_edge_litert.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
        (entry,) = [m for m in model.metadata if m.name.decode() == METADATA_KEY]
        text = bytes(model.buffers[entry.buffer].data).decode()
    else:
        text = (path / "assets.extra" / "zoo.json").read_text()
    return json.loads(text)


@pytest.mark.parametrize("fmt", ALL)
def test_export_round_trip(fmt, exports):
    run, model, batch, export = exports
    path, code, out, err = export(fmt)
    assert code == 0, err
    assert out.splitlines()[-1] == str(path) and path.exists()
    assert "top-5 agree on 6 of 6 images" in out
    meta = stored_metadata(path, fmt)
    assert meta["labels"] == NAMES and meta["input_shape"] == list(SHAPE)
    assert meta["preprocessing"] == "raw" and meta["mean"] == list(MEAN)
    assert meta["name"] == "run" and meta["precision"] == "float32"

    expected = keras_probs(model, batch)
    top5 = np.argsort(-expected, axis=1)[:, :5]
    assert len({tuple(t) for t in top5}) >= 3  # the images rank the classes differently
    assert (expected.max(axis=1) - np.sort(expected, axis=1)[:, -5]).min() > 0.01
    got = open_exported(path).predict(scale_pixels(batch, "raw", MEAN))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE[fmt]
    for p, ranked in zip(expected, np.argsort(-got, axis=1)[:, :5], strict=True):
        assert_same_ranking(p, ranked, TOLERANCE[fmt])



def _predict_json(model, *extra):
    code, out, err = _run("predict", "--image", *photos(), "--model", model, "--json",
                          "--top", "5", *extra)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()], err


@pytest.mark.skipif(not all(map(installed, NEEDS["onnx"])), reason="no ONNX packages")
def test_an_imagenet_model_exports_and_predicts_as_keras(tmp_path):
    """The exported file predicts as the reference pipeline does (which `zoo predict` on the
    Keras model equals: tests/predict/test_loaders.py), probabilities and wnids."""
    weights, expected = calibrated("mobilenetv2")
    target = tmp_path / "mobilenetv2.onnx"
    code, out, err = _run("export", "mobilenetv2", "--weights", weights, "--format", "onnx",
                          "-o", target)
    assert code == 0, err
    assert out.splitlines()[-1] == str(target)
    meta = stored_metadata(target, "onnx")
    assert meta["preprocessing"] == "tf" and meta["input_shape"] == [224, 224, 3]
    assert len(meta["labels"]) == len(meta["wnids"]) == 1000
    top_ref = np.argsort(-expected, axis=1)[:, :5]
    lines, _ = _predict_json(target)
    assert top_ref[0].tolist() != top_ref[1].tolist()
    for line, probs in zip(lines, expected, strict=True):
        assert line["predictions"][0]["probability"] > 0.05  # not the flat 0.001
        assert_same_ranking(probs, [p["index"] for p in line["predictions"]],
                            TOLERANCE["onnx"])
        assert [p["wnid"] for p in line["predictions"]] == [
            imagenet_classes()[p["index"]][0] for p in line["predictions"]]
        np.testing.assert_allclose([p["probability"] for p in line["predictions"]],
                                   probs[[p["index"] for p in line["predictions"]]],
                                   atol=TOLERANCE["onnx"], rtol=0)


@pytest.mark.skipif(not all(map(installed, NEEDS["onnx"])), reason="no ONNX packages")
def test_a_mixed_precision_run_exports_in_float32(tmp_path):
    import onnx

    run, mixed = make_run(tmp_path, policy="mixed_float16")
    assert mixed.layers[1].compute_dtype == "float16"
    code, out, err = _run("export", run.path, "--format", "onnx")
    assert code == 0, err
    assert "mixed-precision: exported, and compared, in float32" in out
    path = run.path / "export" / "model.onnx"
    graph = onnx.load(str(path)).graph
    types = {t.type.tensor_type.elem_type for t in [*graph.input, *graph.output]}
    assert types == {onnx.TensorProto.FLOAT}
    assert {i.data_type for i in graph.initializer} <= {onnx.TensorProto.FLOAT,
                                                        onnx.TensorProto.INT64,
                                                        onnx.TensorProto.INT32}
    batch = np.stack([image for _, image in verification_images(SHAPE)])
    got = open_exported(path).predict(scale_pixels(batch, "raw", MEAN))
    # the same weights: within float16's rounding of the mixed model's own outputs
    assert np.abs(got - keras_probs(mixed, batch)).max() < 0.02


@pytest.mark.parametrize("fmt", [fmt_param("onnx"), fmt_param("savedmodel")])
def test_a_failed_check_leaves_nothing_and_keeps_the_users_file(fmt, tmp_path, monkeypatch):
    import zoo.export

    run, _ = make_run(tmp_path)
    target = tmp_path / "out" / f"model{SUFFIXES[fmt]}"
    target.parent.mkdir()
    if fmt == "savedmodel":
        target.mkdir()
        (target / "saved_model.pb").write_text("the user's own")
    else:
        target.write_text("the user's own")
    store = zoo.export._store_card

    def wrong_preprocessing(path, fmt, card):  # a file that preprocesses differently
        store(path, fmt, card.replace(preprocessing="scale", mean=None))

    monkeypatch.setattr(zoo.export, "_store_card", wrong_preprocessing)
    code, out, err = _run("export", run.path, "--format", fmt, "-o", target)
    assert code == 1 and out == ""
    assert "top-5 DIFFER" in err
    assert err.splitlines()[-1].startswith("zoo: error: the exported ")
    assert f"nothing was written to {target}" in err
    own = target / "saved_model.pb" if fmt == "savedmodel" else target
    assert own.read_text() == "the user's own"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


@pytest.mark.parametrize("fmt", FILES)
def test_a_model_the_format_cannot_hold_is_one_line_exit_2(fmt, tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="test_export")
    class InverseErf(keras.layers.Layer):  # tf.math.erfinv: neither ONNX nor TFLite has it
        def call(self, x):
            return keras.ops.erfinv(keras.ops.tanh(x))

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(InverseErf()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.save(tmp_path / "odd.keras")
    code, out, err = _run("export", tmp_path / "odd.keras", "--format", fmt)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("zoo: error: ")
    assert "cannot express odd" in err and "TensorFlow's Erfinv" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.keras"]


@pytest.mark.skipif(not all(map(installed, NEEDS["onnx"])), reason="no ONNX packages")
def test_weights_past_the_format_limit_are_refused(monkeypatch, exports):
    import zoo.export

    run, _, _, _ = exports
    monkeypatch.setitem(zoo.export.MAX_WEIGHT_BYTES, "onnx", 1000)
    code, out, err = _run("export", run.path, "--format", "onnx", "-o", run.path / "big.onnx")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "ONNX cannot hold run: its weights take" in err
    assert "at most 2 GiB; export it as savedmodel" in err
    assert not (run.path / "big.onnx").exists()


def test_missing_packages_name_the_extra(monkeypatch, exports, tmp_path):
    import importlib.util

    run, _, _, _ = exports
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, package=None: None
                        if name in ("onnxruntime", "ai_edge_litert") else real(name, package))
    (tmp_path / "x.onnx").write_bytes(b"")
    for argv, package in (
        (["export", run.path, "--format", "onnx"], "onnxruntime"),
        (["export", run.path, "--format", "tflite"], "ai-edge-litert"),
        (["predict", "--image", photos()[0], "--model", tmp_path / "x.onnx"], "onnxruntime"),
        (["benchmark", "lenet", "--format", "keras,tflite"], "ai-edge-litert"),
    ):
        code, out, err = _run(*argv)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and "pip install -e '.[export]'" in err, err
        assert package in err and "not installed here" in err, err


def test_tflite_on_the_jax_backend_is_refused(exports, monkeypatch):
    """The refusal is zoo's, read from the backend's name before anything is loaded; this
    process has the tensorflow backend, so the name is what the test sets."""
    if not installed("ai_edge_litert"):
        pytest.skip("ai-edge-litert is not installed")
    import keras

    run, _, _, _ = exports
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    code, out, err = _run("export", run.path, "--format", "tflite")
    assert code == 2 and out == ""
    assert err == ("zoo: error: TFLite export needs the tensorflow or torch Keras "
                           "backend (Keras converts through TensorFlow's or litert-torch's "
                           "converter), not jax: run it with KERAS_BACKEND=tensorflow\n")


def test_bad_sources_and_outputs_are_one_line_exit_2(exports, tmp_path):
    run, _, _, export = exports
    features = tmp_path / "features-run"
    features.mkdir()
    (features / "features.json").write_text("{}")
    cases = [
        (["export", features, "--format", "savedmodel"], "is a features run"),
        (["export", run.path, "--format", "onnx", "-o", tmp_path / "model.tflite"],
         "an ONNX file must end in .onnx"),
        (["export", run.path, "--format", "savedmodel", "-o", run.best_model],
         "a SavedModel is a directory"),
        (["export", "lenett", "--format", "savedmodel"], "did you mean lenet"),
        (["export", run.path, "--format", "h5"], "invalid choice: 'h5'"),
    ]
    if all(map(installed, NEEDS["onnx"])):
        cases.append((["export", export("onnx")[0], "--format", "tflite"],
                      "is already an exported model"))
        cases.append((["predict", "--image", photos()[0], "--model", export("onnx")[0],
                       "--weights", run.best_model], "--weights applies to Keras models"))
    for argv, message in cases:
        code, out, err = _run(*argv)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and message in err, err


def test_default_outputs(tmp_path):
    run, _ = make_run(tmp_path)
    (run.path / "checkpoint").mkdir()
    assert default_output(str(run.path), "onnx", "run") == run.path / "export" / "model.onnx"
    assert default_output(str(run.path / "checkpoint" / "epoch-0003.keras"), "tflite",
                          "run") == run.path / "export" / "epoch-0003.tflite"
    assert default_output(str(tmp_path / "bare.keras"), "savedmodel", "bare") == (
        tmp_path / "bare_savedmodel")
    assert default_output("mobilenetv2", "onnx", "mobilenetv2") == Path("mobilenetv2.onnx")
