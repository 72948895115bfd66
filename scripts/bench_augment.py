"""The recipe's augmentations in the loader: images/s of each candidate on batches of 64
32x32x3 uint8 images (CIFAR's size), in 1 thread and in one thread per core.

Candidates, each drawing as the pipeline must, from a generator of (seed, epoch, batch):
- zoo affine: today's rotation/shift/zoom/flip (`zoo.data.augmentation`), the reference.
- albumentations: `zoo.data.recipe.Recipe.augment`, RandAugment 2,9 (SomeOf of the paper's
  fourteen operations) and/or Erasing 0.25, per image, each image's pipeline seeded by its own
  seed, one pipeline per thread.
- keras: `keras.layers.RandAugment(num_ops=2, factor=0.9)` and `RandomErasing(factor=0.25)`
  on the numpy batch, one layer per thread whose SeedGenerator state is set to the batch's
  seed before each batch (the only way to make its draw a function of the batch).
- mixing: zoo's MixUp/CutMix (`zoo.data.recipe`, numpy, one lambda per batch) against
  `keras.layers.MixUp(alpha=0.2)` and `keras.layers.CutMix(factor=1.0)` on the float32 batch
  and its one-hot labels.

Each row also says whether the threads gave the same images as one thread did (the draws of a
batch must not depend on which thread loaded it).

    .venv/bin/python scripts/bench_augment.py --batches 40
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402

from zoo.backend import load_keras  # noqa: E402

keras = load_keras()

from zoo.data.augmentation import augment_batch  # noqa: E402
from zoo.data.recipe import Recipe, apply_mix, batch_generator, draw_mix  # noqa: E402

SHAPE = (64, 32, 32, 3)
CLASSES = 10


def lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown")


def batches(count: int):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, *SHAPE), dtype=np.uint8)
    labels = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, (count, SHAPE[0]))]
    return images, labels


def zoo_affine():
    def run(index, images, labels):
        rng = batch_generator(1, 0, index)
        return augment_batch(images, rng, rotation=0, shift=0.125, zoom=0.0, flip=True)
    return run


def zoo_per_image(recipe: Recipe):
    def run(index, images, labels):
        draws = recipe.draw(batch_generator(1, 0, index), len(images), images.shape[1:3])
        return recipe.augment(images, draws.seeds)
    return run


def zoo_mix(recipe: Recipe):
    def run(index, images, labels):
        x = images.astype(np.float32) / 255.0
        mix = draw_mix(recipe, batch_generator(1, 0, index), x.shape[1:3])
        return apply_mix(mix, x, labels, x[::-1], labels[::-1])[0]
    return run


def keras_layer(make, floats: bool = False, with_labels: bool = False):
    """A Keras preprocessing layer per thread, its seed state set per batch."""
    local = threading.local()

    def run(index, images, labels):
        if not hasattr(local, "layer"):
            local.layer = make()
        layer = local.layer
        seed = int(batch_generator(1, 0, index).integers(2**31))
        layer.generator.state.assign(np.array([seed, 0], dtype=layer.generator.state.dtype))
        x = images.astype(np.float32) / 255.0 if floats else images
        if with_labels:
            out = layer({"images": x, "labels": labels}, training=True)["images"]
        else:
            out = layer(x, training=True)
        return keras.ops.convert_to_numpy(out)
    return run


CANDIDATES = {
    "zoo affine (today, reference)": zoo_affine,
    "albumentations RandAugment 2,9": lambda: zoo_per_image(Recipe(randaugment=(2, 9))),
    "albumentations Erasing 0.25": lambda: zoo_per_image(Recipe(random_erasing=0.25)),
    "albumentations RandAugment 2,9 + Erasing 0.25": lambda: zoo_per_image(
        Recipe(randaugment=(2, 9), random_erasing=0.25)),
    "keras RandAugment(2, 0.9)": lambda: keras_layer(
        lambda: keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.9)),
    "keras RandomErasing(0.25)": lambda: keras_layer(
        lambda: keras.layers.RandomErasing(factor=0.25, value_range=(0, 255))),
    "zoo MixUp 0.2 (numpy)": lambda: zoo_mix(Recipe(mixup=0.2)),
    "zoo CutMix 1.0 (numpy)": lambda: zoo_mix(Recipe(cutmix=1.0)),
    "keras MixUp(0.2)": lambda: keras_layer(lambda: keras.layers.MixUp(alpha=0.2),
                                            floats=True, with_labels=True),
    "keras CutMix(1.0)": lambda: keras_layer(lambda: keras.layers.CutMix(factor=1.0),
                                             floats=True, with_labels=True),
}


def measure(run, images, labels, threads: int) -> tuple[float, list[np.ndarray]]:
    """Images/s over every batch, `threads` loader threads; and the outputs in batch order."""
    for i in range(min(threads, 2) * 2):  # warm-up: imports, pipelines, traced functions
        run(i, images[i], labels[i])
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outputs = list(pool.map(run, range(len(images)), images, labels))
    seconds = time.perf_counter() - start
    return len(images) * SHAPE[0] / seconds, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="batches of 64 per measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                        help="loader threads of the second column")
    parser.add_argument("--only", nargs="*", help="candidates whose name contains one of these")
    args = parser.parse_args()
    images, labels = batches(args.batches)
    print(f"CPU: {lscpu_model()}, {os.cpu_count()} cores; keras {keras.__version__} "
          f"({keras.backend.backend()}); batches of {SHAPE[0]} {SHAPE[1]}x{SHAPE[2]}x{SHAPE[3]} "
          f"uint8, {args.batches} batches per figure")
    header = f"{'candidate':48} {'img/s 1 thread':>15} {f'img/s {args.threads} threads':>16}  " \
             "threads = 1 thread"
    print(header)
    print("-" * len(header))
    for name, make in CANDIDATES.items():
        if args.only and not any(word.lower() in name.lower() for word in args.only):
            continue
        one, first = measure(make(), images, labels, 1)
        many, second = measure(make(), images, labels, args.threads)
        same = all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
        print(f"{name:48} {one:15.0f} {many:16.0f}  {'yes' if same else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
