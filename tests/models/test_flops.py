import pytest

from zoo.models import build_model
from zoo.models.flops import count_flops, human


def test_lenet_flops_by_hand():
    # conv1 28*28*20*(5*5*1), conv2 14*14*50*(5*5*20), fc1 2450*500, predictions 500*10.
    macs = 28 * 28 * 20 * 25 + 14 * 14 * 50 * 500 + 2450 * 500 + 500 * 10
    assert count_flops(build_model("lenet")) == 2 * macs


def test_depthwise_and_separable_convolutions():
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 4))
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inputs)  # 8x8x8
    x = layers.SeparableConv2D(16, 3, padding="valid")(x)  # 6x6x16
    x = layers.Conv2D(6, 1, groups=2)(x)
    model = keras.Model(inputs, x)
    depthwise = 8 * 8 * 8 * 9
    separable = 6 * 6 * 8 * 9 + 6 * 6 * 8 * 16
    grouped = 6 * 6 * 6 * (16 // 2)
    assert count_flops(model) == 2 * (depthwise + separable + grouped)


@pytest.mark.slow
def test_vgg16_matches_the_published_15_5_gmacs():
    assert count_flops(build_model("vgg16")) == pytest.approx(2 * 15.47e9, rel=0.005)


def test_human():
    assert human(13_044_000) == "13.04M"
    assert human(999) == "999"
