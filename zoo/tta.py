"""Test-time augmentation: the mean of a model's softmax over several views of each image.

- `flip`: the image and its horizontal mirror.
- `crops`: Krizhevsky et al. 2012's ten-crop oversampling: the image resized (aspect-aware,
  centre-cropped) so its sides are 1/0.875 of the model's (256 for 224), then the four corner
  crops and the centre crop at the model's size, and their mirrors.

Views are laid out view-major (all images' first view, then all images' second, ...), so the
mean is a reshape. `zoo evaluate --tta` (`zoo.evaluation.predict_split`) and `zoo predict
--tta` (`zoo.predict.loop.predict_images`) use these functions. Light at import (numpy is
imported where it is used), so the commands can name `MODES`.
"""

from __future__ import annotations

from zoo.choices import TTA_MODES

MODES = TTA_MODES
CROP_FRACTION = 0.875  # the model's side over the resized image's: 224 of 256


def check_mode(mode: str | None) -> None:
    """Raise ValueError unless `mode` is None or one of `MODES`."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"tta must be one of {', '.join(MODES)} or None; got {mode!r}")


def view_count(mode: str | None) -> int:
    """Views per image: 1 without TTA, 2 for flip, 10 for crops."""
    check_mode(mode)
    return {None: 1, "flip": 2, "crops": 10}[mode]


def load_size(size: tuple[int, int], mode: str | None) -> tuple[int, int]:
    """The size images are brought to before their views are taken: the model's `size`, or
    for crops `size / 0.875` rounded (256 x 256 for 224 x 224)."""
    if mode != "crops":
        return tuple(size)
    return tuple(round(side / CROP_FRACTION) for side in size)


def ten_crops(images, size: tuple[int, int]):
    """Krizhevsky's ten crops of `size` from `images` (N, H, W, C): centre, top-left,
    top-right, bottom-left, bottom-right, then the same five mirrored; view-major, (10 N,
    h, w, C). Corners sit flush with the image's edges; the centre crop starts at
    ((H - h) // 2, (W - w) // 2)."""
    import numpy as np

    height, width = images.shape[1:3]
    h, w = size
    if h > height or w > width:
        raise ValueError(f"crops of {h}x{w} do not fit images of {height}x{width}")
    corners = [((height - h) // 2, (width - w) // 2), (0, 0), (0, width - w),
               (height - h, 0), (height - h, width - w)]
    crops = [images[:, top : top + h, left : left + w] for top, left in corners]
    return np.concatenate(crops + [crop[:, :, ::-1] for crop in crops])


def make_views(images, size: tuple[int, int], mode: str | None):
    """The views of `images` (N, H, W, C), already at `load_size(size, mode)`, view-major."""
    import numpy as np

    check_mode(mode)
    if mode is None:
        return images
    if mode == "flip":
        return np.concatenate([images, images[:, :, ::-1]])
    return ten_crops(images, size)


def mean_over_views(probs, mode: str | None):
    """The mean of view-major probabilities (V N, classes) over the V views of each image."""
    views = view_count(mode)
    if views == 1:
        return probs
    return probs.reshape(views, -1, probs.shape[-1]).mean(axis=0)


def images_per_batch(batch_size: int, mode: str | None) -> int:
    """How many images to load at once so their views fill about `batch_size` (at least
    one image): memory stays what it is without TTA."""
    return max(1, batch_size // view_count(mode))
