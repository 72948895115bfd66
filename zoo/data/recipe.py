"""The modern recipe, data side: RandAugment (Cubuk et al. 2020) and random erasing (Zhong et
al. 2020) per image through albumentations, MixUp (Zhang et al. 2018) and CutMix (Yun et al.
2019) per batch, the balanced sampler's epoch order and the class weights of the loss.

Every draw is a function of `(seed, epoch, batch)`: the pipeline hands each batch a generator
keyed by them (`batch_generator`), from which `Recipe.draw` takes one seed per image of the
global batch and the batch's mixing; an image's albumentations pipeline is seeded by its own
seed, so a process holding rows k.. of a data-parallel batch augments them as one process
would, and a resumed run sees exactly the batches of an uninterrupted one.

Why albumentations for the per-image part (measured by `scripts/bench_augment.py`): numpy in,
numpy out, OpenCV underneath (which releases the GIL, so it runs in the loader threads beside
the training step), each transform driven by a generator it is given. Keras' own
`RandAugment` picks its operations once per batch, computes all eleven of them on the whole
batch for each of the N it applies, and needs its layer's seed state reset per batch (one layer
per thread, as that state is shared); it ran several times slower here. Keras has no per-image
MixUp/CutMix that keeps the pixel-exact area fraction as the label weight, so those two are
the few lines below, timm's `Mixup` in numpy: one lambda per batch, each image mixed with its
mirror position in the batch.
"""

from __future__ import annotations

import math
import os
import random
import threading
from dataclasses import dataclass

import numpy as np

from zoo.errors import ZooError

MAX_MAGNITUDE = 10  # RandAugment's M, on timm's scale: 10 is each operation's strongest
_RECIPE_STREAM = 1  # the recipe's generator: (seed, epoch, batch, 1); the affine draws keep theirs


def parse_randaugment(text: str | None, source: str = "randaugment") -> tuple[int, int] | None:
    """`"N,M"` -> `(N, M)`: N operations per image, each at magnitude M (0-10, timm's scale);
    None stays None.

    Raises:
        ZooError: not two whole numbers, N below 1 or M outside 0-10.
    """
    if text is None:
        return None
    parts = str(text).replace(" ", "").split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        ops, magnitude = int(parts[0]), int(parts[1])
    except ValueError:
        raise ZooError(f"{source} must be N,M (operations per image, magnitude 0-10), e.g. "
                       f"2,9; got {text!r}") from None
    if ops < 1 or not 0 <= magnitude <= MAX_MAGNITUDE:
        raise ZooError(f"{source}: N must be at least 1 and M in 0-{MAX_MAGNITUDE} (timm's "
                       f"scale, 10 the strongest); got {text!r}")
    return ops, magnitude


@dataclass(frozen=True)
class Mix:
    """One batch's mixing.

    Attributes:
        kind: `"mixup"` or `"cutmix"`.
        lam: the weight of each image's own label (and, for mixup, of its own pixels); the
            partner's is `1 - lam`. For cutmix it is 1 minus the pasted box's area fraction.
        box: cutmix's pasted rows and columns `(y0, y1, x0, x1)`; None for mixup.
    """

    kind: str
    lam: float
    box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class BatchDraws:
    """What the recipe drew for one global batch: a seed per image (None without per-image
    augmentation) and the mixing (None without mixup and cutmix)."""

    seeds: np.ndarray | None
    mix: Mix | None

    def seeds_at(self, start: int, count: int) -> np.ndarray | None:
        """The seeds of rows `start .. start + count` of the global batch."""
        return None if self.seeds is None else self.seeds[start : start + count]


@dataclass(frozen=True)
class Recipe:
    """The recipe's settings; the config's `mixup`, `cutmix`, `randaugment` and
    `random_erasing`. Off settings are 0 or None; `Recipe.from_config` returns None when all
    are off.

    Attributes:
        mixup: Beta(alpha, alpha) of MixUp's lambda; 0: off.
        cutmix: Beta(alpha, alpha) of CutMix's lambda; 0: off. With both on, each batch picks
            one, with probability 0.5 (timm's `switch_prob`).
        randaugment: `(N, M)`: N operations per image drawn from the paper's fourteen (with
            replacement), each at a strength drawn up to M/10 of its maximum.
        random_erasing: the probability that an image has a rectangle (2-40% of its area,
            aspect 0.3-3.3) replaced by random pixels.
    """

    mixup: float = 0.0
    cutmix: float = 0.0
    randaugment: tuple[int, int] | None = None
    random_erasing: float = 0.0

    @classmethod
    def from_config(cls, config) -> Recipe | None:
        """The recipe of a run's settings, or None when they ask for none of it."""
        recipe = cls(mixup=float(config.get("mixup") or 0.0),
                     cutmix=float(config.get("cutmix") or 0.0),
                     randaugment=parse_randaugment(config.get("randaugment")),
                     random_erasing=float(config.get("random_erasing") or 0.0))
        return recipe if recipe.per_image or recipe.mixes else None

    @property
    def per_image(self) -> bool:
        return self.randaugment is not None or self.random_erasing > 0

    @property
    def mixes(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    def draw(self, rng: np.random.Generator, batch_size: int,
             size: tuple[int, int]) -> BatchDraws:
        """The draws of one global batch of `batch_size` images of `size` (H, W): first a
        seed per image, then the mixing."""
        seeds = (rng.integers(0, 2**32, size=batch_size, dtype=np.uint64)
                 if self.per_image else None)
        return BatchDraws(seeds, draw_mix(self, rng, size))

    def augment(self, images: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """RandAugment then random erasing on uint8 `images` (N, H, W, C), image i seeded by
        `seeds[i]`; same dtype and shape."""
        if not self.per_image or not len(images):
            return images
        pipeline = _pipeline(self)
        out = np.empty_like(images)
        for i, (image, seed) in enumerate(zip(images, seeds, strict=True)):
            seed = int(seed)
            pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
            result = pipeline(image=image)["image"]
            out[i] = result.reshape(image.shape)  # albumentations may drop a 1-channel axis
        return out


def batch_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The recipe's generator for batch `index` of `epoch`: its own stream of `(seed, epoch,
    index)`, beside the affine augmentation's, whose draws stay what they were."""
    return np.random.default_rng([seed, epoch, index, _RECIPE_STREAM])


def draw_mix(recipe: Recipe, rng: np.random.Generator, size: tuple[int, int]) -> Mix | None:
    """One batch's MixUp or CutMix from `rng`, as timm draws it: lambda ~ Beta(alpha, alpha);
    CutMix's box has sides sqrt(1 - lambda) of the image's, centred on a uniform pixel and
    clipped to the image, and lambda becomes 1 minus the box's true area fraction."""
    if not recipe.mixes:
        return None
    if recipe.mixup and recipe.cutmix:
        kind = "cutmix" if rng.random() < 0.5 else "mixup"
    else:
        kind = "cutmix" if recipe.cutmix else "mixup"
    alpha = recipe.cutmix if kind == "cutmix" else recipe.mixup
    lam = float(rng.beta(alpha, alpha))
    if kind == "mixup":
        return Mix("mixup", lam)
    height, width = size
    side = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * side), int(width * side)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    y0, y1 = int(np.clip(cy - cut_h // 2, 0, height)), int(np.clip(cy + cut_h // 2, 0, height))
    x0, x1 = int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cx + cut_w // 2, 0, width))
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
    return Mix("cutmix", lam, (y0, y1, x0, x1))


def apply_mix(mix: Mix, x: np.ndarray, y: np.ndarray, partner_x: np.ndarray,
              partner_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images `x` (float, N x H x W x C) and one-hot or soft labels `y` mixed with their
    partners' (the same shapes, row i the partner of row i) per `mix`.

    Returns:
        `(x, y)`: new arrays; each label row still sums to its inputs' (1 for one-hot).
    """
    lam = np.float32(mix.lam)
    if mix.kind == "mixup":
        x = x * lam + partner_x * (np.float32(1.0) - lam)
    else:
        y0, y1, x0, x1 = mix.box
        x = x.copy()
        x[:, y0:y1, x0:x1] = partner_x[:, y0:y1, x0:x1]
    y = y * lam + partner_y * (np.float32(1.0) - lam)
    return x, y.astype(np.float32, copy=False)


def mirror_rows(start: int, stop: int, size: int) -> tuple[int, int]:
    """Where the partners of rows `start .. stop` of a batch of `size` lie: row g is mixed
    with row `size - 1 - g` (timm's flipped batch), so rows `size - stop .. size - start`,
    in reverse order."""
    return size - stop, size - start


# ---------------------------------------------------------------------------------------------
# albumentations pipelines, one per loader thread (a pipeline holds its generator)

_local = threading.local()


def _pipeline(recipe: Recipe):
    pipelines = getattr(_local, "pipelines", None)
    if pipelines is None:
        pipelines = _local.pipelines = {}
    if recipe not in pipelines:
        pipelines[recipe] = _build_pipeline(recipe)
    return pipelines[recipe]


def _albumentations():
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # it would ask PyPI at import
    try:
        import albumentations
    except ImportError:
        raise ZooError("--randaugment and --random-erasing need albumentations: pip install "
                       "'albumentations>=2.0.8,<2.1'") from None
    return albumentations


def randaugment_ops(magnitude: int) -> list:
    """The fourteen operations of RandAugment (Cubuk et al. 2020, as timm ranks their
    strengths), each an albumentations transform whose strength is drawn up to `magnitude`/10
    of its maximum: rotation 30 degrees, shear 0.3, translation 45%, brightness, colour,
    contrast and sharpness 0.9, posterize to 4 bits, solarize from threshold 0."""
    import cv2

    A = _albumentations()
    m = magnitude / MAX_MAGNITUDE
    enhance = (1.0 - 0.9 * m, 1.0 + 0.9 * m)
    shear = math.degrees(math.atan(0.3 * m))
    move = 0.45 * m
    fill = dict(border_mode=cv2.BORDER_CONSTANT, fill=128, p=1.0)  # timm's grey

    def jitter(**kw):
        settings = dict(brightness=(1.0, 1.0), contrast=(1.0, 1.0), saturation=(1.0, 1.0),
                        hue=(0.0, 0.0))
        return A.ColorJitter(**{**settings, **kw}, p=1.0)

    return [
        A.NoOp(p=1.0),  # identity
        A.AutoContrast(p=1.0),
        A.Equalize(p=1.0),
        A.Affine(rotate=(-30.0 * m, 30.0 * m), **fill),
        A.Solarize(threshold_range=(1.0 - m, 1.0), p=1.0),
        jitter(saturation=enhance),  # PIL's Color
        A.Posterize(num_bits=(max(1, round(8 - 4 * m)), 8), p=1.0),
        jitter(contrast=enhance),
        jitter(brightness=enhance),
        A.Sharpen(alpha=(0.0, 0.9 * m), lightness=(1.0, 1.0), p=1.0),
        A.Affine(shear={"x": (-shear, shear), "y": (0.0, 0.0)}, **fill),
        A.Affine(shear={"x": (0.0, 0.0), "y": (-shear, shear)}, **fill),
        A.Affine(translate_percent={"x": (-move, move), "y": (0.0, 0.0)}, **fill),
        A.Affine(translate_percent={"x": (0.0, 0.0), "y": (-move, move)}, **fill),
    ]


def _build_pipeline(recipe: Recipe):
    A = _albumentations()
    steps = []
    if recipe.randaugment is not None:
        ops, magnitude = recipe.randaugment
        steps.append(A.SomeOf(randaugment_ops(magnitude), n=ops, replace=True, p=1.0))
    if recipe.random_erasing > 0:
        # Zhong et al.'s defaults: 2-40% of the area, aspect 0.3-1/0.3, random pixels
        steps.append(A.Erasing(scale=(0.02, 0.4), ratio=(0.3, 1 / 0.3), fill="random",
                               p=recipe.random_erasing))
    return A.Compose(steps, p=1.0)


# ---------------------------------------------------------------------------------------------
# imbalanced folders


def balanced_order(labels: np.ndarray, indices: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """An epoch of `len(indices)` images drawn with replacement, each with probability
    inversely proportional to its class's count (`labels[i]` the class of `indices[i]`), so
    every class is drawn about equally often."""
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return rng.choice(indices, size=len(indices), replace=True, p=weights / weights.sum())


def class_weights(setting: str, labels: np.ndarray, names: list[str]) -> dict[int, float]:
    """The loss weight of each class (Keras' `class_weight`) for `labels`, the training
    split's labels.

    Args:
        setting: `"balanced"`: n / (k * count_c), scikit-learn's `compute_class_weight`
            over the k classes present (an absent class weighs 1); or a JSON file mapping
            class names to weights (classes it leaves out weigh 1).
        labels: the training images' class indices.
        names: the class names, in index order.
    Returns:
        `{class index: weight}` for every class.
    Raises:
        ZooError: the file is missing or not such a mapping, or names a class the run lacks.
    """
    weights = dict.fromkeys(range(len(names)), 1.0)
    if setting == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(labels)
        balanced = compute_class_weight("balanced", classes=present, y=labels)
        weights.update({int(c): float(w) for c, w in zip(present, balanced, strict=True)})
        return weights
    given = read_class_weight_file(setting)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ZooError(f"{setting}: {', '.join(map(repr, unknown))} "
                       f"{'is not a class' if len(unknown) == 1 else 'are not classes'} of "
                       f"this run (its classes: {', '.join(names[:10])}"
                       f"{', ...' if len(names) > 10 else ''})")
    weights.update({names.index(name): value for name, value in given.items()})
    return weights


def read_class_weight_file(path: str) -> dict[str, float]:
    """A class-weight file: a JSON object of class name -> positive number.

    Raises:
        ZooError: missing, unreadable, not JSON, or not such an object.
    """
    import json
    from pathlib import Path

    file = Path(path).expanduser()
    if not file.is_file():
        raise ZooError(f"class weight file not found: {path} (give 'balanced' or a JSON file "
                       "mapping class names to weights)")
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZooError(f"{path}: not a JSON file ({type(exc).__name__}); expected "
                       '{"class name": weight, ...}') from None
    if not isinstance(data, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 and math.isfinite(v)
            for v in data.values()):
        raise ZooError(f'{path}: expected a JSON object {{"class name": weight, ...}} with '
                       "positive numbers as weights")
    return {str(k): float(v) for k, v in data.items()}
