"""Augmentation: random affine transforms (rotation, shift, zoom) and horizontal flips, drawn
per image from a generator the pipeline seeds by `(seed, epoch, batch)`.

All numpy and OpenCV (which releases the GIL), so it runs in the loader threads beside the
training step. Each dataset's preset is its `DatasetSpec.augmentation`.
"""

from __future__ import annotations

import numpy as np


def augment_batch(images: np.ndarray, rng: np.random.Generator, rotation=0.0, shift=0.0,
                  zoom=0.0, flip=False) -> np.ndarray:
    """Random affine transforms (rotation, shift, zoom) and horizontal flips, one per image.

    The strengths are Keras ImageDataGenerator's: `rotation` in degrees, `shift` and `zoom` as
    fractions of the size. Each dataset's preset is its `DatasetSpec.augmentation`.
    """
    import cv2

    if not (rotation or shift or zoom):  # flips alone: no warp, the same draws
        out = images.copy()
        for i in range(len(images)):
            if flip and rng.random() < 0.5:
                out[i] = images[i, :, ::-1]
        return out
    out = np.empty_like(images)
    height, width = images.shape[1:3]
    centre = (width / 2, height / 2)
    for i, image in enumerate(images):
        angle = rng.uniform(-rotation, rotation) if rotation else 0.0
        scale = rng.uniform(1 - zoom, 1 + zoom) if zoom else 1.0
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)
        if shift:
            matrix[0, 2] += rng.uniform(-shift, shift) * width
            matrix[1, 2] += rng.uniform(-shift, shift) * height
        warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        if warped.ndim == 2:
            warped = warped[..., None]
        if flip and rng.random() < 0.5:
            warped = warped[:, ::-1]
        out[i] = warped
    return out


def skip_draws(rng: np.random.Generator, images: int, rotation=0.0, shift=0.0, zoom=0.0,
               flip=False) -> None:
    """Advance `rng` past the draws `augment_batch` makes for `images` images: a process
    augmenting rows k.. of a global batch then draws what one process would for them."""
    per_image = bool(rotation) + bool(zoom) + 2 * bool(shift) + bool(flip)
    if per_image and images:
        rng.random(per_image * images)  # uniform() and random() each take one double
