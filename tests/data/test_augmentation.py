"""Augmentation (`zoo.data.augmentation`): the draws of a batch's rows can be skipped, so a
process that augments only its share of a global batch draws what one process would."""

import numpy as np
import pytest

from tests.fixtures import class_images
from zoo.data.augmentation import augment_batch, skip_draws


@pytest.mark.parametrize("preset", [dict(rotation=10, shift=0.1, zoom=0.1, flip=True),
                                    dict(shift=0.125, flip=True), dict(rotation=30),
                                    dict(flip=True)])
def test_a_share_of_a_batch_is_augmented_as_in_the_whole_batch(preset):
    images, _ = class_images(3, 2, size=(12, 12))
    whole = augment_batch(images, np.random.default_rng([4, 1, 2]), **preset)
    rng = np.random.default_rng([4, 1, 2])
    skip_draws(rng, 4, **preset)
    np.testing.assert_array_equal(augment_batch(images[4:], rng, **preset), whole[4:])
    assert not np.array_equal(whole, images)


def test_flips_alone_mirror_the_images_their_draws_pick_and_change_nothing_else():
    images, _ = class_images(4, 3, size=(12, 12))  # a bright square off the middle
    out = augment_batch(images, np.random.default_rng(7), flip=True)
    rng = np.random.default_rng(7)
    mirrored = [rng.random() < 0.5 for _ in images]
    for image, got, flipped in zip(images, out, mirrored, strict=True):
        np.testing.assert_array_equal(got, image[:, ::-1] if flipped else image)
    assert 0 < sum(mirrored) < len(images) and out.dtype == images.dtype
    # the warp of a zero rotation, shift and zoom draws nothing either: the same images
    warped = augment_batch(images, np.random.default_rng(7), rotation=0, shift=0, zoom=0,
                           flip=True)
    np.testing.assert_array_equal(out, warped)
