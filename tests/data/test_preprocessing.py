"""Per-batch transforms (`zoo.data.preprocessing`): an aspect-keeping resize with a centre crop,
channel adaptation and the batch count. `scale_pixels` against Keras' `preprocess_input` is
tests/test_card.py's."""

import numpy as np

from zoo.data.preprocessing import adapt_channels, batches_per_epoch, resize_and_crop


def test_resize_keeps_the_aspect_ratio_and_crops_the_centre():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = 255  # the middle half is white, the sides black
    out = resize_and_crop(image, (20, 20))
    assert out.shape == (20, 20, 3)
    assert (out == 255).all()  # scaled to 20x40, then the middle 20 columns kept
    gray = resize_and_crop(np.zeros((8, 8), np.uint8), (8, 8))
    assert gray.shape == (8, 8, 1)  # a channel axis, even when the size is already right


def test_channels_are_repeated_or_weighed_by_luminance():
    gray = np.array([[[[0], [128]]]], np.uint8)
    assert adapt_channels(gray, 3).tolist() == [[[[0, 0, 0], [128, 128, 128]]]]
    rgb = np.array([[[[255, 0, 0], [0, 255, 0]]]], np.uint8)
    assert adapt_channels(rgb, 1).tolist() == [[[[76], [150]]]]  # ITU-R 601, rounded
    assert adapt_channels(rgb, 3) is rgb


def test_an_epoch_has_at_least_one_batch():
    assert batches_per_epoch(0, 32) == 1 and batches_per_epoch(64, 32) == 2
    assert batches_per_epoch(65, 32) == 3
