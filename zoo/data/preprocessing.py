"""Per-batch transforms: resize, channel adaptation, scaling and mean subtraction (augmentation
is `zoo.data.augmentation`).

All numpy and OpenCV (which releases the GIL), so the same code feeds every Keras backend
and runs in the loader threads beside the training step.
"""

from __future__ import annotations

import math

import numpy as np


def resize_and_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize keeping the aspect ratio so the shorter side fits, then centre-crop to `size`."""
    import cv2

    height, width = image.shape[:2]
    target_h, target_w = size
    if (height, width) == (target_h, target_w):
        return image if image.ndim == 3 else image[..., None]
    scale = max(target_h / height, target_w / width)
    new_h, new_w = max(target_h, round(height * scale)), max(target_w, round(width * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
    cropped = resized[top : top + target_h, left : left + target_w]
    return cropped if cropped.ndim == 3 else cropped[..., None]


def adapt_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grayscale -> RGB by repetition, RGB -> grayscale by luminance (ITU-R 601)."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if have == 3 and channels == 1:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        gray = images.astype(np.float32) @ weights
        return np.clip(gray + 0.5, 0, 255).astype(np.uint8)[..., None]
    raise ValueError(f"cannot adapt {have} channels to {channels}")


# keras.applications.imagenet_utils.preprocess_input (channels last) for the modes of the
# ImageNet weights, in numpy: the same operations in the same order, so the values are the
# same to the bit, and exported models preprocess without Keras or TensorFlow.
_CAFFE_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)  # BGR
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def scale_pixels(images: np.ndarray, mode: str, mean: list[float] | None = None) -> np.ndarray:
    """uint8 pixels -> the float32 input the model expects (see `PREPROCESSING_MODES`).

    `mean` (per channel) is subtracted first; then `scale` divides by 255, `raw` keeps the
    values, and `tf`, `torch` and `caffe` are `keras.applications`' ImageNet modes: [-1, 1];
    [0, 1] standardised by the ImageNet mean and std; RGB -> BGR minus the ImageNet mean.
    """
    x = images.astype(np.float32)
    if mean is not None:
        x -= np.asarray(mean, dtype=np.float32)
    if mode == "scale":
        return x / 255.0
    if mode == "raw":
        return x
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        x -= _TORCH_MEAN
        x /= _TORCH_STD
        return x
    if mode == "caffe":
        x = x[..., ::-1] - _CAFFE_MEAN
        return x
    raise ValueError(f"unknown preprocessing mode '{mode}'")


def batches_per_epoch(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))
