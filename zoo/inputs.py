"""What a model's inputs are for a dataset: the splits, the input shape, and the transforms
that turn stored uint8 images into what the model expects (training and evaluation alike)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from zoo.config import Config, image_size
from zoo.data.datasets import load_dataset
from zoo.data.pipeline import Transform, channel_mean
from zoo.data.recipe import Recipe, class_weights
from zoo.data.splits import Splits
from zoo.errors import ZooError
from zoo.models.registry import ModelSpec, check_input_shape, get_spec

log = logging.getLogger("zoo")


@dataclass(frozen=True)
class Inputs:
    splits: Splits
    spec: ModelSpec
    input_shape: tuple[int, int, int]
    train_transform: Transform
    eval_transform: Transform
    class_weight: dict[int, float] | None = None  # Keras' class_weight of the fit, or None

    def check_classes(self, labels, where: str) -> None:
        """A one-line error unless the dataset has the classes the model in `where` was
        trained on (`labels`, a `zoo.card.ModelCard`)."""
        if self.splits.num_classes != len(labels.names):
            raise ZooError(f"{self.splits.name} has {self.splits.num_classes} classes; the "
                           f"model of {where} was trained on {len(labels.names)}")

    def skipped_files(self) -> dict[str, str]:
        """{path: reason} of every file skipped so far (`Splits.skipped_files`)."""
        return self.splits.skipped_files()


def prepare(config: Config, mean: tuple[float, ...] | None = None,
            preprocessing: str | None = None) -> Inputs:
    """Load `config`'s dataset and decide the model's input shape and transforms.

    `mean` is the saved per-channel mean of a run being resumed or evaluated; a new run with
    `mean_subtract` computes it from its training split. `preprocessing` overrides the
    model's own mode (a run's saved one, or a fine-tuned source run's). The training
    transform carries the recipe (`zoo.data.recipe`); `class_weight` is resolved from the
    training split's labels here, so a class-weight file naming a class the run lacks is
    refused before a run directory is made.
    """
    spec = get_spec(config.model)
    size = image_size(config)
    splits = load_dataset(config.dataset, seed=config.seed, val_split=config.val_split,
                          limit=config.limit, data_dir=config.data_dir,
                          image_size=size or spec.input_shape[:2], channels=3,
                          classes=config.classes, per_class=config.per_class)
    native = splits.image_shape
    channels = native[-1] if native[-1] in spec.channels else spec.channels[-1]
    shape = (*(size or native[:2]), channels)
    check_input_shape(spec, shape)
    if config.mean_subtract and mean is None:
        mean = channel_mean(splits.train, channels, seed=config.seed)
    common = dict(size=tuple(shape[:2]), channels=channels,
                  mode=preprocessing or spec.preprocessing,
                  mean=tuple(mean) if mean else None)
    augment = splits.augmentation if config.augment else None
    if config.flip:
        augment = {**(augment or {}), "flip": True}
    weights = None
    if config.get("class_weight"):
        weights = class_weights(config.class_weight, splits.train.labels,
                                list(splits.label_names))
        log.info("class weights (%s): %s", config.class_weight,
                 ", ".join(f"{name}: {weights[i]:.3g}"
                           for i, name in enumerate(splits.label_names)))
    train = Transform(**common, augment=augment, recipe=Recipe.from_config(config))
    return Inputs(splits, spec, shape, train, Transform(**common), weights)
