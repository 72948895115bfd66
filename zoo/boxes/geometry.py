"""Box geometry: where a box goes when the pixels move, and back.

Coordinates are pixel edges: a box `(x1, y1, x2, y2)` covers the pixels `x1 <= x < x2`, so the
whole of a W x H image is `(0, 0, W, H)`. Normalised boxes divide by the width and height of
the image they lie in. Every transform here is a scale and a shift per axis (no rotation: a
rotated box is no longer the tight box of its object), so a box stays a box, and the IoU of two
boxes is the same in every frame.

All numpy and OpenCV, run in the loader threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_VALUE = 0  # letter-box bars and the border that shift and zoom uncover


@dataclass(frozen=True)
class Letterbox:
    """How an image of `(height, width)` was fitted into `size` keeping its aspect ratio: scaled
    by `scale_y, scale_x` (equal but for rounding) then placed at `(top, left)`."""

    height: int
    width: int
    size: tuple[int, int]
    scale_y: float
    scale_x: float
    top: int
    left: int

    @classmethod
    def of(cls, height: int, width: int, size: tuple[int, int]) -> Letterbox:
        target_h, target_w = size
        scale = min(target_h / height, target_w / width)
        new_h = min(target_h, max(1, round(height * scale)))
        new_w = min(target_w, max(1, round(width * scale)))
        return cls(int(height), int(width), (int(target_h), int(target_w)), new_h / height,
                   new_w / width, (target_h - new_h) // 2, (target_w - new_w) // 2)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """`image` (H x W [x C], uint8) scaled into its place in a `size` canvas of
        `PAD_VALUE`."""
        import cv2

        new_h = round(self.height * self.scale_y)
        new_w = round(self.width * self.scale_x)
        channels = image.shape[2] if image.ndim == 3 else 1
        if (new_h, new_w) != image.shape[:2]:
            shrink = new_h < image.shape[0]
            image = cv2.resize(image, (new_w, new_h),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        image = image.reshape(new_h, new_w, channels)
        out = np.full((*self.size, channels), PAD_VALUE, dtype=image.dtype)
        out[self.top : self.top + new_h, self.left : self.left + new_w] = image
        return out

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes in the original image's pixels -> normalised boxes of the letter-boxed input."""
        boxes = np.asarray(boxes, dtype=np.float64)
        target_h, target_w = self.size
        x = (boxes[..., [0, 2]] * self.scale_x + self.left) / target_w
        y = (boxes[..., [1, 3]] * self.scale_y + self.top) / target_h
        return np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Normalised boxes of the letter-boxed input -> the original image's pixels, clipped to
        the image (a box reaching into the bars ends at the image's edge)."""
        boxes = np.asarray(boxes, dtype=np.float64)
        target_h, target_w = self.size
        x = (boxes[..., [0, 2]] * target_w - self.left) / self.scale_x
        y = (boxes[..., [1, 3]] * target_h - self.top) / self.scale_y
        x, y = np.clip(x, 0, self.width), np.clip(y, 0, self.height)
        return np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The intersection over union of boxes `a` and `b` (`(..., 4)`, x1 y1 x2 y2), row by row;
    a degenerate box (x2 <= x1) has no area, and two of them an IoU of 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h

    def area(box):
        return (np.clip(box[..., 2] - box[..., 0], 0, None)
                * np.clip(box[..., 3] - box[..., 1], 0, None))

    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


# ---------------------------------------------------------------------------------------------
# augmentation: flip, shift and zoom, the box moved with the pixels


def draw_affine(rng: np.random.Generator, shift: float = 0.0, zoom: float = 0.0,
                flip: bool = False) -> tuple[float, float, float, bool]:
    """One image's draws: `(scale, shift_x, shift_y, flipped)`, shifts as fractions of the
    size. Always the same four draws, so a batch's generator advances alike for every image."""
    scale = rng.uniform(1 - zoom, 1 + zoom)
    dx, dy = rng.uniform(-shift, shift, size=2)
    flipped = bool(rng.random() < 0.5)
    return (scale if zoom else 1.0, dx if shift else 0.0, dy if shift else 0.0,
            flipped and flip)


def move_box(box: np.ndarray, scale: float, dx: float, dy: float, flipped: bool) -> np.ndarray:
    """A normalised box under zoom by `scale` about the centre, a shift by `(dx, dy)` of the
    size, then a horizontal flip; not clipped."""
    x1, y1, x2, y2 = ((np.asarray(box, dtype=np.float64) - 0.5) * scale + 0.5
                      + np.array([dx, dy, dx, dy]))
    if flipped:
        x1, x2 = 1 - x2, 1 - x1
    return np.array([x1, y1, x2, y2])


def move_image(image: np.ndarray, scale: float, dx: float, dy: float,
               flipped: bool) -> np.ndarray:
    """`image` under the same transform as `move_box`; uncovered pixels are `PAD_VALUE`."""
    import cv2

    height, width = image.shape[:2]
    if scale != 1.0 or dx or dy:
        # in edge coordinates x' = s x + t with t = (1 - s) W / 2 + dx W; OpenCV maps pixel
        # centres (x + 0.5), which shifts t by (s - 1) / 2
        tx = (1 - scale) * width / 2 + dx * width + (scale - 1) / 2
        ty = (1 - scale) * height / 2 + dy * height + (scale - 1) / 2
        matrix = np.array([[scale, 0, tx], [0, scale, ty]], dtype=np.float64)
        warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_VALUE)
        image = warped.reshape(image.shape)
    if flipped:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


def augment_with_boxes(images: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
                       shift: float = 0.0, zoom: float = 0.0,
                       flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flip, shift and zoom each image (N x H x W x C) and its normalised box (N x 4) alike.

    A box is clipped to the image; where the transform would leave less than half of the box
    in view, that image keeps its pixels and box (the object must stay to be found). The
    draws are made for every image whether used or not (`draw_affine`).
    """
    out_images, out_boxes = images.copy(), np.asarray(boxes, dtype=np.float64).copy()
    for i in range(len(images)):
        scale, dx, dy, flipped = draw_affine(rng, shift, zoom, flip)
        moved = move_box(out_boxes[i], scale, dx, dy, flipped)
        clipped = np.clip(moved, 0, 1)
        whole = (moved[2] - moved[0]) * (moved[3] - moved[1])
        kept = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
        if whole <= 0 or kept < 0.5 * whole:
            continue
        out_images[i] = move_image(images[i], scale, dx, dy, flipped)
        out_boxes[i] = clipped
    return out_images, out_boxes.astype(np.float32)
