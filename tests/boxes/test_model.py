"""zoo/boxes/model.py: the IoU metrics and the box loss give the values computed by hand,
and the box model's outputs are the box in [0, 1] then the class probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.boxes.model import (
    BoxClassAccuracy,
    BoxIoU,
    BoxIoUAbove,
    BoxLoss,
    add_box_head,
    box_metrics,
)

# true and predicted boxes (normalised) with classes: IoUs 1, 1/3, 0, 0.25 (hand-computed)
TRUE = np.array([[0.0, 0.0, 0.5, 0.5, 1, 0], [0.0, 0.0, 0.5, 0.5, 0, 1],
                 [0.0, 0.0, 0.5, 0.5, 1, 0], [0.0, 0.0, 0.4, 0.4, 0, 1]], np.float32)
PRED = np.array([[0.0, 0.0, 0.5, 0.5, 0.9, 0.1], [0.25, 0.0, 0.75, 0.5, 0.2, 0.8],
                 [0.6, 0.6, 0.9, 0.9, 0.3, 0.7], [0.1, 0.1, 0.3, 0.3, 0.6, 0.4]], np.float32)


def _value(metric, y_true=TRUE, y_pred=PRED):
    metric.update_state(y_true, y_pred)
    return float(metric.result())


def test_iou_metrics_equal_hand_computed_values():
    assert _value(BoxIoU()) == pytest.approx((1 + 1 / 3 + 0 + 0.25) / 4, abs=1e-6)
    assert _value(BoxIoUAbove(0.5)) == pytest.approx(0.25)
    assert _value(BoxIoUAbove(0.25)) == pytest.approx(0.75)  # 0.25 counts: >=
    assert _value(BoxIoUAbove(0.75)) == pytest.approx(0.25)
    assert _value(BoxClassAccuracy()) == pytest.approx(0.5)  # rows 1 and 2 right
    assert [m.name for m in box_metrics(2)] == ["iou", "iou50", "iou75", "class_accuracy"]
    assert [m.name for m in box_metrics(1)] == ["iou", "iou50", "iou75"]


def test_box_losses_equal_hand_computed_values():
    t = np.array([[0.1, 0.2, 0.5, 0.6]], np.float32)
    p = np.array([[0.2, 0.2, 0.5, 0.3]], np.float32)  # differences 0.1, 0, 0, -0.3
    assert float(np.asarray(BoxLoss("mse")(t, p))) == pytest.approx(0.01 + 0.09, rel=1e-5)
    beta = 1 / 9  # 0.1 < beta: quadratic; 0.3 > beta: linear
    expected = 0.5 * 0.01 / beta + (0.3 - 0.5 * beta)
    assert float(np.asarray(BoxLoss("smooth_l1")(t, p))) == pytest.approx(expected, rel=1e-5)
    ce = -np.log(0.8)
    t2 = np.concatenate([t, [[0.0, 1.0]]], axis=1)
    p2 = np.concatenate([p, [[0.2, 0.8]]], axis=1)
    assert float(np.asarray(BoxLoss("mse", classes=2)(t2, p2))) == pytest.approx(0.1 + ce,
                                                                                 rel=1e-5)


def test_the_box_head_replaces_the_classifier():
    from zoo.models.registry import build_model

    model = add_box_head(build_model("lenet5", (32, 32, 1), 3), 3, "boxes")
    out = np.asarray(model.predict(np.random.default_rng(0).random((2, 32, 32, 1)), verbose=0))
    assert out.shape == (2, 7)
    assert ((out[:, :4] > 0) & (out[:, :4] < 1)).all()
    np.testing.assert_allclose(out[:, 4:].sum(axis=1), 1, rtol=1e-5)
    assert "predictions" not in [layer.name for layer in model.layers]
    alone = add_box_head(build_model("lenet5", (32, 32, 1), 2), 1, "boxes")
    assert alone.output_shape == (None, 4)  # one class: no class head


def test_metrics_and_loss_give_the_same_values_on_jax():
    """keras.ops only: the JAX backend (a subprocess: Keras fixes its backend at import)
    computes the hand-checked values above."""
    import importlib.util
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install -e '.[jax]')")
    code = (
        "import json, numpy as np\n"
        "from tests.boxes.test_model import TRUE, PRED, _value\n"
        "from zoo.boxes.model import BoxIoU, BoxIoUAbove, BoxClassAccuracy, BoxLoss\n"
        "import keras\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'iou': _value(BoxIoU()),\n"
        "  'iou50': _value(BoxIoUAbove(0.5)), 'acc': _value(BoxClassAccuracy()),\n"
        "  'loss': float(np.asarray(BoxLoss('smooth_l1', classes=2)(TRUE, PRED)))}))\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["backend"] == "jax"
    assert got["iou"] == pytest.approx((1 + 1 / 3 + 0 + 0.25) / 4, abs=1e-6)
    assert got["iou50"] == pytest.approx(0.25) and got["acc"] == pytest.approx(0.5)
    # one forward computation in float32 on each backend: equal to float32 rounding
    here = float(np.asarray(BoxLoss("smooth_l1", classes=2)(TRUE, PRED)))
    assert got["loss"] == pytest.approx(here, rel=1e-5)


def test_the_box_head_reads_features_not_logits_on_mobilenet():
    """MobileNet ends in a 1x1 convolution to the classes, a reshape and an activation named
    `predictions`: the box head must read the 1024 pooled features before that convolution,
    not the two class logits after it."""
    from zoo.models.registry import build_model

    model = add_box_head(build_model("mobilenet", (32, 32, 3), 2), 1, "boxes")
    assert model.get_layer("box").kernel.shape == (1024, 4)
    assert model.output_shape == (None, 4)
