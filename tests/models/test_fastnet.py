"""FastNet: its shapes, resolutions and parameter count (registry-wide checks, such as the
save/load round trip, are in test_models.py)."""

import numpy as np
import pytest

from zoo.models import build_model, get_spec


@pytest.fixture(scope="module")
def model():
    return build_model("fastnet")


def test_fastnet_outputs_one_probability_row_per_image(model):
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    probabilities = np.asarray(model(images, training=False))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fastnet_parameter_count_is_the_declared_one(model):
    # stem 1->32, stage 1 32->64 + a 64-wide residual unit, stage 2 64->128 + a 128-wide one:
    # 3x3 kernels without biases, each followed by batch normalisation (4 vectors per channel),
    # then a 128 -> 10 classifier
    convs = [(1, 32), (32, 64), (64, 64), (64, 64), (64, 128), (128, 128), (128, 128)]
    expected = sum(9 * cin * cout + 4 * cout for cin, cout in convs) + 128 * 10 + 10
    assert model.count_params() == expected == get_spec("fastnet").params == 464_810


def test_fastnet_pools_28_to_14_to_7_to_3(model):
    sizes = {name: model.get_layer(name).output.shape[1:]
             for name in ("stem_pool", "stage1_pool", "stage1_res_add", "stage2_res_add")}
    assert sizes == {"stem_pool": (14, 14, 32), "stage1_pool": (7, 7, 64),
                     "stage1_res_add": (7, 7, 64), "stage2_res_add": (3, 3, 128)}


def test_fastnet_width_scales_every_stage():
    narrow = build_model("fastnet", width=8)
    assert narrow.get_layer("stage2_res_add").output.shape[-1] == 32
    assert narrow.count_params() < build_model("fastnet").count_params() / 10
