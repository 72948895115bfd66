"""Augmentation (`zoo.data.augmentation`): the draws of a batch's rows can be skipped, so a
process that augments only its share of a global batch draws what one process would."""

import numpy as np
import pytest

from tests.fixtures import class_images
from zoo.data.augmentation import augment_batch, skip_draws


@pytest.mark.parametrize("preset", [dict(rotation=10, shift=0.1, zoom=0.1, flip=True),
                                    dict(shift=0.125, flip=True), dict(rotation=30)])
def test_a_share_of_a_batch_is_augmented_as_in_the_whole_batch(preset):
    images, _ = class_images(3, 2, size=(12, 12))
    whole = augment_batch(images, np.random.default_rng([4, 1, 2]), **preset)
    rng = np.random.default_rng([4, 1, 2])
    skip_draws(rng, 4, **preset)
    np.testing.assert_array_equal(augment_batch(images[4:], rng, **preset), whole[4:])
    assert not np.array_equal(whole, images)
