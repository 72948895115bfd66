"""Transfer learning: a pretrained network minus its classifier, a new head, and two phases.

    zoo train --model NAME --pretrained imagenet|RUN_DIR|FILE.keras [--weights FILE]
              [--head-epochs N] [--fine-tune-at LAYER|FRACTION] [--fine-tune-lr LR]
              [--freeze-base]

The model is `inputs -> base -> head`, the base a nested model named `base`:
- phase `head` (the first `--head-epochs` epochs): the base is frozen, its batch-norm layers
  in inference mode (Keras runs a non-trainable BatchNormalization with its moving
  statistics), and only the head trains, at `--lr`;
- phase `fine_tune` (the remaining epochs, unless `--freeze-base`): the base's layers from
  `--fine-tune-at` on train too, with a new optimizer at `--fine-tune-lr` (default lr / 10)
  and the configured schedule over those epochs.
The phase is part of the run's state: a run killed in either phase resumes exactly.
"""

from __future__ import annotations

from pathlib import Path

from zoo.backend import load_keras
from zoo.card import ModelCard
from zoo.config import Config
from zoo.errors import ZooError
from zoo.run import RunDir, load_model

keras = load_keras()

BASE = "base"
TRANSFER_SETTINGS = ("head_epochs", "fine_tune_at", "fine_tune_lr", "freeze_base")
HEAD, FINE_TUNE = "head", "fine_tune"


class Source:
    """Where the pretrained base comes from: `imagenet`, a zoo run, or a `.keras` file."""

    def __init__(self, config: Config):
        self.text = config.pretrained
        self.imagenet = self.text == "imagenet"
        self.path = None if self.imagenet else Path(self.text).expanduser()
        self.run = None
        if self.path is not None:
            if self.path.is_dir():
                self.run = RunDir.open(self.path)
                self.model_file = self.run.best_model
            elif self.path.suffix == ".keras" and self.path.is_file():
                self.run = RunDir.containing(self.path)
                self.model_file = self.path
            else:
                raise ZooError(f"--pretrained {self.text}: expected imagenet, a run directory "
                               "or a .keras file")
            if not self.model_file.is_file():
                raise ZooError(f"--pretrained {self.text}: no {self.model_file.name}")

    def labels(self) -> ModelCard | None:
        """The source run's labels (its preprocessing and mean), or None."""
        return self.run.read_card() if self.run is not None else None


def _imagenet_base(config: Config, input_shape) -> keras.Model:
    from zoo.models.applications import build_with_imagenet_weights
    from zoo.models.registry import get_spec

    spec = get_spec(config.model)
    if not spec.pretrained:
        raise ZooError(f"{spec.name} has no ImageNet weights; --pretrained imagenet takes one "
                       "of 'zoo models --pretrained'")
    return build_with_imagenet_weights(spec.name, config.weights, input_shape=input_shape,
                                       include_top=False)


def _run_base(source: Source, input_shape) -> keras.Model:
    """The source network up to its classifier (the layer named `predictions`, zoo's and
    Keras' name for it): everything before that layer is the base."""
    model = load_model(source.model_file, compile=False)
    have = tuple(model.input_shape[1:])
    if have != tuple(input_shape):
        raise ZooError(f"--pretrained {source.text} takes inputs of "
                       f"{'x'.join(map(str, have))}, this dataset gives "
                       f"{'x'.join(map(str, input_shape))}; pass --image-size "
                       f"{have[0]},{have[1]} (and a dataset with {have[2]} channels)")
    try:
        head = model.get_layer("predictions")
    except ValueError:
        raise ZooError(f"--pretrained {source.text}: no layer named 'predictions' to cut "
                       "the classifier at") from None
    return keras.Model(model.input, head.input)


def build_transfer_model(config: Config, input_shape, num_classes: int) -> keras.Model:
    """`inputs -> base -> pooling, dropout, dense` for `num_classes` classes."""
    from zoo.models.layers import classifier

    source = Source(config)
    base = _imagenet_base(config, input_shape) if source.imagenet else \
        _run_base(source, input_shape)
    base = keras.Model(base.input, base.output, name=BASE)
    fine_tune_start(base, config.fine_tune_at)  # a bad --fine-tune-at fails now, not later
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = base(inputs)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(0.5, name="head_dropout")(x)
    outputs = classifier(num_classes)(x)
    model = keras.Model(inputs, outputs, name=f"{config.model}_transfer")
    set_phase(model, config, HEAD)
    return model


def fine_tune_start(base: keras.Model, at: str | None) -> int:
    """The index of the first base layer that trains in the fine-tuning phase."""
    layers = base.layers
    if at is None:
        return 0
    try:
        fraction = float(at)
    except ValueError:
        names = [layer.name for layer in layers]
        if at not in names:
            import difflib

            close = difflib.get_close_matches(at, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ZooError(f"--fine-tune-at {at}: no such layer in the base{hint}") from None
        return names.index(at)
    if not 0 < fraction <= 1:
        raise ZooError(f"--fine-tune-at {at}: a fraction must be in (0, 1]")
    return len(layers) - max(1, round(len(layers) * fraction))


def set_phase(model: keras.Model, config: Config, phase: str) -> None:
    """Freeze the base (`head`), or unfreeze it from `--fine-tune-at` on (`fine_tune`)."""
    base = model.get_layer(BASE)
    if phase == HEAD:
        base.trainable = False
        return
    base.trainable = True
    start = fine_tune_start(base, config.fine_tune_at)
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= start


def phases(config: Config) -> list[tuple[str, int]]:
    """[(phase, last epoch of it)] of a transfer run."""
    if config.freeze_base:
        return [(HEAD, config.epochs)]
    return [(HEAD, config.head_epochs), (FINE_TUNE, config.epochs)]


def phase_config(config: Config, phase: str) -> Config:
    """The settings that compile a phase: the head trains at `lr` (constant, unless the base
    stays frozen throughout); fine-tuning at `fine_tune_lr` with the schedule planned over
    its own epochs."""
    if config.freeze_base:
        return config
    if phase == HEAD:
        return config.replace(lr_schedule="none", warmup_epochs=0)
    lr = config.lr / 10 if config.fine_tune_lr is None else config.fine_tune_lr
    return config.replace(lr=lr,
                          epochs=config.epochs - config.head_epochs)


def check(config: Config) -> None:
    """One-line errors for transfer settings that cannot work."""
    if config.weights and config.pretrained != "imagenet":
        raise ZooError("--weights is the ImageNet weights file of --pretrained imagenet")
    if not config.pretrained:
        from zoo.config import FIELDS_BY_NAME

        given = [FIELDS_BY_NAME[k].flag for k in TRANSFER_SETTINGS
                 if config[k] != FIELDS_BY_NAME[k].default]
        if given:
            raise ZooError(f"{given[0]} is a setting of fine-tuning; it needs --pretrained")
        return
    if config.head_epochs < 1:
        raise ZooError(f"--head-epochs must be at least 1; got {config.head_epochs}")
    if not config.freeze_base and config.head_epochs >= config.epochs:
        raise ZooError(f"--head-epochs {config.head_epochs} leaves no epoch of the "
                       f"{config.epochs} to fine-tune in; raise --epochs or pass --freeze-base")
    if config.lr_schedule == "plateau" and not config.freeze_base:
        raise ZooError("--lr-schedule plateau does not carry over the fine-tuning phase's new "
                       "optimizer; use step, poly or cosine with --pretrained")
