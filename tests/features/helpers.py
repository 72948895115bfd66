"""Features files and source runs made directly, in the real formats."""

import json
from pathlib import Path

import numpy as np

NAMES = ["zero", "one", "two"]


def blobs(per_class: int, seed: int, dim: int = 7, spread: float = 0.3):
    """Three well-separated Gaussian blobs in `dim` dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, dim) * 4.0
    x = np.concatenate([centres[c] + rng.normal(0, spread, (per_class, dim)) for c in range(3)])
    y = np.repeat(np.arange(3), per_class)
    return x.astype(np.float32), y


def write_blobs(path: Path, per_class=(30, 10, 10), complete=True) -> Path:
    """A features file of separable blobs, described as `hu` features (7 values), with train,
    val and test rows (`per_class` of each), as `zoo extract` writes it."""
    from zoo.features.extractors import CLASSIC
    from zoo.features.hdf5 import write_features

    parts = [(*blobs(n, seed), which) for seed, (n, which)
             in enumerate(zip(per_class, ("train", "val", "test"), strict=True)) if n]
    attrs = {"model": "hu", "dataset": "blobs", "extractor": json.dumps(CLASSIC["hu"].describe())}
    write_features(path, parts, NAMES, attrs)
    if not complete:
        import h5py

        with h5py.File(path, "a") as f:
            del f.attrs["complete"]
    return path


def make_source_run(root: Path, shape=(8, 8, 1)):
    """A `zoo train` run of shallownet for digits (random weights), made directly."""
    import keras

    from zoo.card import ModelCard
    from zoo.models import build_model
    from zoo.run import RunDir

    keras.utils.set_random_seed(1)
    model = build_model("shallownet", input_shape=shape, num_classes=10)
    run = RunDir.create(root, "src")
    run.config_file.write_text("model: shallownet\ndataset: digits\n")
    run.write_card(ModelCard([str(i) for i in range(10)], shape, preprocessing="scale",
                             dataset="digits"))
    model.save(run.best_model)
    return run, model
