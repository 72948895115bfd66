"""zoo/boxes/geometry.py: a box moves with the pixels under the letter-box, flip, shift and
zoom, comes back to the original pixels, and its IoU is what a hand computation gives."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.boxes.geometry import (
    Letterbox,
    augment_with_boxes,
    iou,
    move_box,
    move_image,
)


def _filled(height, width, box):
    image = np.zeros((height, width, 1), np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    return image


def _covers(image: np.ndarray, box_norm: np.ndarray) -> None:
    """The filled rectangle of `image` is the normalised box: every pixel well inside it is
    lit, every pixel well outside is dark (one pixel of interpolation at the edges)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box_norm * [width, height, width, height]
    ys, xs = np.mgrid[0:height, 0:width] + 0.5  # pixel centres, edge coordinates
    inside = (xs > x1 + 1) & (xs < x2 - 1) & (ys > y1 + 1) & (ys < y2 - 1)
    outside = (xs < x1 - 1) | (xs > x2 + 1) | (ys < y1 - 1) | (ys > y2 + 1)
    lit = image[..., 0] > 127
    assert inside.sum() > 10
    assert lit[inside].all(), "part of the box lost its pixels"
    assert not lit[outside].any(), "pixels outside the box"


@pytest.mark.parametrize("shape, size", [((60, 100), (32, 32)), ((100, 40), (48, 64)),
                                         ((40, 40), (64, 64))])
def test_letterbox_moves_the_box_with_the_pixels_and_undoes_exactly(shape, size):
    box = np.array([13, 7, 37, 29])
    letterbox = Letterbox.of(*shape, size)
    image = letterbox.apply(_filled(*shape, box))
    assert image.shape == (*size, 1)
    moved = letterbox.to_input(box)
    _covers(image, moved)
    np.testing.assert_allclose(letterbox.to_image(moved), box, atol=1e-9)


@pytest.mark.parametrize("scale, dx, dy, flipped", [
    (1.0, 0.0, 0.0, True),  # flip
    (1.0, 0.12, -0.08, False),  # shift
    (1.25, 0.0, 0.0, False),  # zoom in
    (0.8, -0.1, 0.05, True),  # all three
])
def test_flip_shift_and_zoom_move_the_box_with_the_pixels(scale, dx, dy, flipped):
    image = _filled(64, 64, (20, 12, 44, 40))
    box = np.array([20, 12, 44, 40]) / 64
    _covers(move_image(image, scale, dx, dy, flipped), move_box(box, scale, dx, dy, flipped))


def test_a_flip_mirrors_the_box():
    np.testing.assert_allclose(move_box(np.array([0.1, 0.2, 0.3, 0.6]), 1.0, 0, 0, True),
                               [0.7, 0.2, 0.9, 0.6])


def test_augmented_batches_keep_every_box_on_its_pixels():
    rng = np.random.default_rng(3)
    boxes = np.array([[20, 12, 44, 40], [4, 30, 30, 60], [40, 2, 62, 26]]) / 64
    images = np.stack([_filled(64, 64, (box * 64).astype(int)) for box in boxes])
    moved_images, moved_boxes = augment_with_boxes(images, boxes, rng, shift=0.15, zoom=0.2,
                                                   flip=True)
    assert not np.allclose(moved_boxes, boxes)  # something moved
    for image, box in zip(moved_images, moved_boxes, strict=True):
        assert (box >= 0).all() and (box <= 1).all()
        _covers(image, box)


def test_iou_of_hand_computed_boxes():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 4, 4]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [1, 1, 3, 3]])
    # identical; half overlap: 50 / 150; disjoint; nested: 4 / 16
    np.testing.assert_allclose(iou(a, b), [1.0, 1 / 3, 0.0, 0.25])
    assert iou(np.array([5, 5, 5, 9]), np.array([5, 5, 5, 9])) == 0.0  # no area, no overlap


def test_a_training_batch_keeps_each_box_on_its_pixels(tmp_path):
    """The composition the trainer runs (`load_box_batch`): files of other shapes letter-boxed,
    flipped, shifted and zoomed, channels adapted and scaled; each target box still covers
    its image's filled rectangle."""
    from tests.boxes.helpers import write_image
    from zoo.boxes.annotations import BoxSource
    from zoo.boxes.pipeline import load_box_batch
    from zoo.data.pipeline import Transform
    from zoo.data.splits import Split

    shapes = [(40, 80, (10, 6, 50, 30)), (90, 30, (4, 20, 26, 70)), (48, 48, (8, 8, 40, 30))]
    paths = [str(write_image(tmp_path / f"{i}.png", h, w, box))
             for i, (h, w, box) in enumerate(shapes)]
    source = BoxSource(paths, [0, 1, 0], [box for _, _, box in shapes],
                       [(h, w) for h, w, _ in shapes], (64, 64), 3)
    transform = Transform((64, 64), 1, augment=dict(shift=0.15, zoom=0.2, flip=True))
    x, y, kept = load_box_batch(Split(source, np.arange(3)), np.arange(3), transform, 2,
                                np.random.default_rng(5))
    assert x.shape == (3, 64, 64, 1) and y.shape == (3, 6) and list(kept) == [0, 1, 2]
    np.testing.assert_array_equal(y[:, 4:], [[1, 0], [0, 1], [1, 0]])
    letterboxed = np.stack([source.letterbox(i).to_input(box) for i, (_, _, box)
                            in enumerate(shapes)])
    assert not np.allclose(y[:, :4], letterboxed)  # the augmentation moved them
    for image, box in zip(x, y[:, :4], strict=True):
        _covers((image * 255).astype(np.uint8), box)
