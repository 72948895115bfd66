"""The run configuration: every default declared once, merged from YAML then from CLI flags.

Precedence: the defaults in `FIELDS` < a `--config` YAML file < flags given on the command
line. The resolved configuration is saved as `config.yaml` in the run directory, and
`zoo train --config RUN_DIR/config.yaml` reproduces the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.choices import DISTRIBUTE_MODES, MONITORS, PRECISIONS, TTA_MODES, parse_image_size
from zoo.errors import ZooError


@dataclass(frozen=True)
class Field:
    name: str
    type: type
    default: Any
    help: str
    group: str
    choices: tuple | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


class _RateOrAuto:
    """The type of `lr`: a number, or "auto" (a new run of `zoo train` first runs Smith's
    range test, `zoo.training.lr_finder`, and trains at the rate it suggests). Its `__name__`
    is what argparse and `_coerce` say a bad value should have been."""

    __name__ = "number or 'auto'"

    def __call__(self, value: Any) -> float | str:
        if isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO
        if isinstance(value, bool):  # YAML's `lr: yes` is no rate
            raise ValueError(value)
        return float(value)


AUTO = "auto"  # the value of `lr` that asks for the range test
RATE_OR_AUTO = _RateOrAuto()

TASKS = ("classify", "boxes")  # issue 19: zoo.boxes
BOX_LOSSES = ("mse", "smooth_l1")  # zoo.boxes.BOX_LOSSES, here without importing the package
SCHEDULES = ("none", "time", "step", "poly", "cosine", "onecycle", "plateau")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nadam", "adamw")

FIELDS: tuple[Field, ...] = (
    # what to train
    Field("model", str, None, "architecture name ('zoo models')", "model"),
    # issue 19: what the model learns (zoo.boxes: one box, and the class, per image)
    Field("task", str, "classify", "classify: one class per image; boxes: one box per image "
          "(and its class when the annotations name classes), from a boxes:ANNOTATIONS.csv "
          "dataset", "model", choices=TASKS),
    Field("box_loss", str, "mse", "--task boxes: the box regression loss, mse or smooth_l1, "
          "added to the cross-entropy of the class", "model", choices=BOX_LOSSES),
    Field("dataset", str, "digits",
          "digits, mnist, fashion_mnist, cifar10, cifar100, folder:PATH, hdf5:PATH or "
          "boxes:ANNOTATIONS.csv (--task boxes)", "data"),
    Field("data_dir", str, None, "directory holding dataset files you already have", "data",
          metavar="DIR"),
    Field("image_size", str, None, "resize inputs to H,W (aspect-aware resize, centre crop)",
          "data", metavar="H,W"),
    Field("val_split", float, 0.1, "fraction of train held out for validation when the dataset "
          "has no validation split", "data"),
    Field("limit", int, None, "use at most N images of each split (a seeded stratified sample)",
          "data", metavar="N"),
    Field("classes", str, None, "use only these classes, by name or index ('cat,dog' or "
          "'0,3'); labels are renumbered in the order given", "data", metavar="A,B,C"),
    Field("per_class", int, None, "use at most N training images of each class (a seeded "
          "sample: few-shot sets)", "data", metavar="N"),
    Field("augment", bool, False, "augment on the fly (flips, shifts, rotation, zoom, tuned per "
          "dataset)", "data"),
    Field("flip", bool, False, "mirror half of the training images at random (alone, or added "
          "to --augment's preset): for classes that a mirror keeps", "data"),
    Field("mixup", float, 0.0, "MixUp (Zhang et al. 2018): blend each training batch with "
          "itself reversed, weight ~ Beta(ALPHA, ALPHA), labels alike (0: off; 0.2 is usual)",
          "data", metavar="ALPHA"),
    Field("cutmix", float, 0.0, "CutMix (Yun et al. 2019): paste a box of the reversed batch "
          "into each training batch, its area ~ Beta(ALPHA, ALPHA), labels by area (0: off; 1.0 "
          "is usual); with --mixup, each batch picks one of the two", "data", metavar="ALPHA"),
    Field("randaugment", str, None, "RandAugment (Cubuk et al. 2020): N operations per "
          "training image, each at a strength up to M (0-10, 10 the strongest), e.g. 2,9",
          "data", metavar="N,M"),
    Field("random_erasing", float, 0.0, "random erasing (Zhong et al. 2020): with probability "
          "P, a rectangle of a training image becomes random pixels (0: off)", "data",
          metavar="P"),
    Field("class_weight", str, None, "weigh the loss per class: balanced (n / (classes x "
          "count)) or a JSON file of class name -> weight (others weigh 1)", "data",
          metavar="balanced|FILE.json"),
    Field("sampler", str, "shuffle", "each epoch's order: shuffle (every image once) or "
          "balanced (as many images, drawn with replacement, every class about equally "
          "often)", "data", choices=("shuffle", "balanced")),
    Field("mean_subtract", bool, False, "subtract the training set's per-channel mean", "data"),
    # transfer learning
    Field("pretrained", str, None, "start from a pretrained network minus its classifier, "
          "with a new head: imagenet, a run directory or a .keras file", "model",
          metavar="SOURCE"),
    Field("weights", str, None, "local ImageNet weights file (.h5) for --pretrained imagenet",
          "model", metavar="FILE"),
    Field("head_epochs", int, 5, "with --pretrained: epochs that train the new head with the "
          "base frozen, before fine-tuning", "model", metavar="N"),
    Field("fine_tune_at", str, None, "with --pretrained: unfreeze the base from this layer "
          "(a name, or a fraction of its layers: 0.5 = the last half); default: all of it",
          "model", metavar="LAYER|FRACTION"),
    Field("fine_tune_lr", float, None, "with --pretrained: learning rate of the fine-tuning "
          "phase (default: lr / 10)", "model", metavar="LR"),
    Field("freeze_base", bool, False, "with --pretrained: train the new head only", "model"),
    # optimisation
    Field("epochs", int, 10, "number of epochs", "optimizer"),
    Field("batch_size", int, 64, "images per batch", "optimizer"),
    Field("optimizer", str, "sgd", "optimizer", "optimizer", choices=OPTIMIZERS),
    Field("lr", RATE_OR_AUTO, 0.01, "initial learning rate, or 'auto': a new run first runs "
          "Smith's range test ('zoo lr-find') and trains at its suggestion, which config.yaml "
          "then holds (the test itself: lr_find.json and lr_find.png in the run)", "optimizer",
          metavar="LR|auto"),
    Field("momentum", float, 0.9, "momentum (sgd, rmsprop)", "optimizer"),
    Field("nesterov", bool, False, "Nesterov momentum (sgd)", "optimizer"),
    Field("weight_decay", float, 0.0, "decoupled weight decay (all optimizers)", "optimizer"),
    Field("label_smoothing", float, 0.0, "label smoothing of the cross-entropy", "optimizer"),
    Field("clip_norm", float, None, "clip the gradient to this global norm (over all "
          "variables at once, so the update keeps its direction, where a per-variable clip "
          "would bend it; after --accumulate's averaging)", "optimizer", metavar="X"),
    Field("accumulate", int, 1, "average the gradients of N batches into one update (an "
          "effective batch of N x --batch-size in the memory of one batch); schedules still "
          "count batches, so every per-epoch plan stays as it is", "optimizer", metavar="N"),
    Field("ema", float, None, "keep an exponential moving average of the weights (Polyak "
          "averaging), with this decay per update (e.g. 0.999); validation, model.keras, the "
          "evaluation and exports use the averaged weights, training goes on from the raw "
          "ones", "optimizer", metavar="DECAY"),
    Field("precision", str, "float32",
          "compute precision (mixed_*: float32 variables and classifier)", "optimizer",
          choices=PRECISIONS),
    # learning-rate schedule
    Field("lr_schedule", str, "none", "learning-rate schedule (onecycle: from lr/25 up to "
          "--lr over the first 30% of the steps, then down to lr/25e4 by the last, per step; "
          "Smith & Topin 2019)", "schedule", choices=SCHEDULES),
    Field("lr_decay", float, 0.0, "time: lr0 / (1 + decay * iteration)", "schedule"),
    Field("lr_drop_factor", float, 0.1, "step: multiply by this every --lr-drop-every epochs; "
          "plateau: multiply by this when the monitored metric stalls for 3 epochs", "schedule"),
    Field("lr_drop_every", str, "10", "step: drop every N epochs, or at listed epochs "
          "('50%,75%' or '40,60')", "schedule", metavar="N|LIST"),
    Field("lr_power", float, 1.0, "poly: lr0 * (1 - epoch / epochs) ** power", "schedule"),
    Field("warmup_epochs", int, 0, "linear warm-up epochs before the schedule", "schedule"),
    # run
    Field("seed", int, 42, "random seed (weights, shuffling, augmentation)", "run"),
    Field("deterministic", bool, False, "deterministic kernels (slower; TensorFlow only)", "run"),
    Field("output", str, "output", "parent directory of run directories", "run", metavar="DIR"),
    Field("name", str, None, "run directory name (default MODEL-DATASET-YYYYmmdd-HHMMSS)", "run"),
    Field("monitor", str, "val_loss", "metric that picks the best model", "run",
          choices=MONITORS),
    Field("checkpoint_every", int, 0, "also keep the model every N epochs (0: never)", "run",
          metavar="N"),
    Field("early_stop", int, 0, "stop after N epochs without improvement (0: never)", "run",
          metavar="N"),
    Field("tensorboard", bool, False, "write TensorBoard logs to RUN_DIR/tensorboard", "run"),
    Field("report", bool, True, "write the report page, RUN_DIR/report.html, at the end "
          "(--no-report skips it, for short or many runs; `zoo report RUN` writes it later)",
          "run"),
    Field("tta", str, None, "test-time augmentation of the final evaluation: the mean over "
          "each image and its mirror (flip) or its ten crops (crops); `zoo evaluate --tta` "
          "does it later", "run", choices=TTA_MODES),
    Field("steps_per_execution", int, 0, "training steps per compiled call; 0: auto (8, or 1 "
          "under torch, which allows no other)", "run", metavar="N"),
    # distribution (where each process joins a cluster is given by flags, not saved)
    Field("distribute", str, "none", "data-parallel: replicate the model on every device "
          "(JAX: of every process) and split each batch between them; --batch-size stays the "
          "global batch", "distribution", choices=DISTRIBUTE_MODES),
)

FIELDS_BY_NAME = {f.name: f for f in FIELDS}

# What `zoo train --resume RUN` may change: how long the run goes on and what it keeps on the
# way. Everything else (model, data, batch size, optimizer, rate, schedule, seed, ...) is the
# run's plan: changing it half-way is a new run, not a resume. `distribute` is where it runs,
# not what: data-parallel computes the same global batch (the number of processes must stay).
RESUMABLE = frozenset({"epochs", "early_stop", "checkpoint_every", "tensorboard", "report",
                       "steps_per_execution", "data_dir", "distribute"})


class Config(Mapping):
    """The resolved settings of a run: frozen, typed by `FIELDS`, and aware of which settings
    were given explicitly (by a config file or a flag) rather than left at their defaults.

    Read a setting as `config.lr` or `config["lr"]`; `config.explicit` names the given ones;
    `config.replace(epochs=20)` returns a new `Config` in which `epochs` counts as given.
    """

    __slots__ = ("_values", "explicit")

    def __init__(self, values: dict[str, Any], explicit=frozenset()):
        unknown = set(values) - set(FIELDS_BY_NAME)
        if unknown:
            raise KeyError(f"unknown settings {sorted(unknown)}")
        object.__setattr__(self, "_values", {f.name: values.get(f.name, f.default)
                                             for f in FIELDS})
        object.__setattr__(self, "explicit", frozenset(explicit))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):  # copy and pickle probe for these before __init__ ran
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __reduce__(self):
        return Config, (dict(self._values), self.explicit)

    def __setattr__(self, key, value):
        raise AttributeError("Config is frozen; use config.replace(...)")

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={self._values[k]!r}" for k in sorted(self.explicit))
        return f"Config({given})"

    def replace(self, **changes) -> Config:
        coerced = {k: _coerce(FIELDS_BY_NAME[k], v, k) for k, v in changes.items()}
        return Config({**self._values, **coerced}, self.explicit | set(changes))


def defaults() -> dict[str, Any]:
    return {f.name: f.default for f in FIELDS}


def _coerce(field: Field, value: Any, source: str) -> Any:
    if value is None:
        return None
    try:
        if field.type is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return True
                if value.lower() in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        value = field.type(value)
    except (TypeError, ValueError):
        raise ZooError(
            f"{source}: {field.name} must be a {field.type.__name__}; got {value!r}"
        ) from None
    if field.choices and value not in field.choices:
        raise ZooError(f"{source}: {field.name} must be one of {', '.join(field.choices)}; "
                       f"got {value!r}")
    return value


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file: a YAML mapping of the keys in `FIELDS`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ZooError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ZooError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - set(FIELDS_BY_NAME))
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(k, FIELDS_BY_NAME, n=1) for k in unknown]
        said = ", ".join(f"{k}" + (f" (did you mean {h[0]}?)" if h else "")
                         for k, h in zip(unknown, hints, strict=True))
        raise ZooError(f"{path}: unknown setting {said}")
    return {k: _coerce(FIELDS_BY_NAME[k], v, str(path)) for k, v in data.items()}


def _flags(overrides: dict | None) -> dict[str, Any]:
    """The flags that were given (argparse leaves the others None), coerced."""
    return {key: _coerce(FIELDS_BY_NAME[key], value, "flag " + FIELDS_BY_NAME[key].flag)
            for key, value in (overrides or {}).items() if value is not None}


def resolve(config_file: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Merge the defaults, then `config_file`, then `overrides` (explicit flags; None = unset).

    The settings the file or the flags name are the `Config`'s explicit ones.
    """
    given = load_yaml(config_file) if config_file else {}
    given.update(_flags(overrides))
    config = Config(given, explicit=given)
    validate(config)
    return config


def resume_config(saved: dict[str, Any], overrides: dict | None, where: str) -> Config:
    """The plan of a run being resumed: its saved settings, changed only where a flag in
    `overrides` names one of `RESUMABLE`. A flag that would change any other setting is a
    one-line error naming it; one that repeats the saved value is harmless."""
    flags = _flags(overrides)
    plan = Config(saved, explicit=saved)
    if plan.lr_schedule == "plateau" and plan.warmup_epochs:
        # zoo before 0.2 accepted this pair and never warmed up: resume what it ran
        import logging

        logging.getLogger("zoo").warning(
            "this run's plateau schedule never applied its warmup_epochs=%d; resuming "
            "without a warm-up", plan.warmup_epochs)
        plan = Config({**plan, "warmup_epochs": 0}, explicit=plan.explicit)
    changed = {k: v for k, v in flags.items() if v != plan[k]}
    refused = sorted(k for k in changed if k not in RESUMABLE)
    if refused:
        key = refused[0]
        raise ZooError(
            f"{FIELDS_BY_NAME[key].flag} cannot change when resuming {where} (it was "
            f"{plan[key]!r}): a different {key.replace('_', ' ')} is a new run. Resume may "
            f"change only {', '.join(sorted(FIELDS_BY_NAME[k].flag for k in RESUMABLE))}"
        )
    config = plan.replace(**changed) if changed else plan
    validate(config)
    return config


def validate(config: Config) -> None:
    if not config["model"]:
        raise ZooError("no model given: pass --model NAME or a --config that sets model")
    positive = ("epochs", "batch_size")
    for key in positive:
        if config[key] < 1:
            raise ZooError(f"{key} must be at least 1; got {config[key]}")
    if config["lr"] != AUTO and config["lr"] <= 0:
        raise ZooError(f"lr must be positive; got {config['lr']}")
    if not 0 <= config["val_split"] < 1:
        raise ZooError(f"val_split must be in [0, 1); got {config['val_split']}")
    if config["limit"] is not None and config["limit"] < 1:
        raise ZooError(f"limit must be at least 1; got {config['limit']}")
    if not 0 <= config["label_smoothing"] < 1:
        raise ZooError(f"label_smoothing must be in [0, 1); got {config['label_smoothing']}")
    if config["per_class"] is not None and config["per_class"] < 1:
        raise ZooError(f"per_class must be at least 1; got {config['per_class']}")
    if config["fine_tune_lr"] is not None and config["fine_tune_lr"] <= 0:
        raise ZooError(f"fine_tune_lr must be positive; got {config['fine_tune_lr']}")
    if config["warmup_epochs"] < 0:
        raise ZooError(f"warmup_epochs must be at least 0; got {config['warmup_epochs']}")
    if config["lr_schedule"] == "plateau" and config["warmup_epochs"]:
        raise ZooError("--lr-schedule plateau takes no --warmup-epochs (ReduceLROnPlateau "
                       "changes a fixed rate); use step, poly or cosine with a warm-up")
    if config["lr_schedule"] == "onecycle" and config["warmup_epochs"]:
        raise ZooError("--lr-schedule onecycle warms up by itself (over its first 30% of "
                       "steps); drop --warmup-epochs")
    if config["clip_norm"] is not None and not config["clip_norm"] > 0:
        raise ZooError(f"clip_norm must be positive (leave it out for no clipping); got "
                       f"{config['clip_norm']}")
    if config["accumulate"] < 1:
        raise ZooError(f"accumulate must be at least 1 (1: an update per batch); got "
                       f"{config['accumulate']}")
    if config["ema"] is not None and not 0 < config["ema"] < 1:
        raise ZooError(f"ema must be a decay in (0, 1), e.g. 0.999 (leave it out for no "
                       f"averaging); got {config['ema']}")
    _validate_recipe(config)
    _validate_boxes(config)
    if config["image_size"]:
        image_size(config)
    drop_epochs(config)


def _validate_recipe(config: Config) -> None:
    """The data recipe's settings (`zoo.data.recipe`), each refused in one line."""
    for key in ("mixup", "cutmix"):
        if config.get(key, 0.0) < 0:
            raise ZooError(f"{key} must be an alpha >= 0 (0: off); got {config[key]}")
    if not 0 <= config.get("random_erasing", 0.0) <= 1:
        raise ZooError(f"random_erasing must be a probability in [0, 1]; got "
                       f"{config['random_erasing']}")
    if config.get("randaugment") is not None:
        from zoo.data.recipe import parse_randaugment

        parse_randaugment(config["randaugment"])
    weights = config.get("class_weight")
    if weights is not None and weights != "balanced" and not Path(weights).expanduser().is_file():
        raise ZooError(f"class_weight: {weights} is neither 'balanced' nor a file; give balanced "
                       "or a JSON file mapping class names to weights")


# issue 19, --task boxes: what a box run cannot do yet, each refused in one line
_NOT_WITH_BOXES = (("mixup", 0.0, "--mixup"), ("cutmix", 0.0, "--cutmix"),
                   ("randaugment", None, "--randaugment"),
                   ("random_erasing", 0.0, "--random-erasing"), ("tta", None, "--tta"),
                   ("class_weight", None, "--class-weight"), ("sampler", "shuffle", "--sampler"),
                   ("distribute", "none", "--distribute"), ("lr", AUTO, None))


def _validate_boxes(config: Config) -> None:
    """`--task boxes` takes a `boxes:` dataset and none of the settings that would move
    pixels without their box or are not written for a box head; a `boxes:` dataset needs
    `--task boxes`."""
    task = config.get("task", "classify")
    boxes_data = str(config["dataset"]).startswith("boxes:")
    monitor = config.get("monitor", "val_loss")
    if task != "boxes":
        if boxes_data:
            raise ZooError(f"{config['dataset']} is a dataset of boxes: pass --task boxes")
        if monitor.endswith("iou"):
            raise ZooError(f"--monitor {monitor} is the IoU of --task boxes; a classifier "
                           "monitors val_loss, val_accuracy, loss or accuracy")
        return
    if config.get("val_split", 0.1) == 0:
        raise ZooError("--task boxes needs --val-split above 0: a boxes: dataset has no test "
                       "split, so the held-out validation images are what it is evaluated on")
    if monitor.endswith("accuracy"):
        raise ZooError(f"--monitor {monitor}: a box model is picked by val_iou, iou, val_loss or "
                       "loss (its class accuracy is class_accuracy, reported but not monitored)")
    if not boxes_data:
        raise ZooError(f"--task boxes trains on a boxes:ANNOTATIONS.csv dataset; got "
                       f"{config['dataset']!r}")
    for key, off, flag in _NOT_WITH_BOXES:
        value = config.get(key, off)
        if flag is None and value == off:
            raise ZooError("--lr auto is not available with --task boxes yet; give a rate")
        if flag is not None and value not in (off, None):
            raise ZooError(f"{flag} does not work with --task boxes (it would move or mix "
                           f"pixels without their box, or is not written for a box head); "
                           f"leave {flag} out")


def image_size(config: dict) -> tuple[int, int] | None:
    if not config.get("image_size"):
        return None
    return parse_image_size(config["image_size"], "image_size")


def drop_epochs(config: dict) -> list[int]:
    """The epochs at which the step schedule multiplies the rate by `lr_drop_factor`.

    `"10"` drops every 10 epochs; `"40,60"` at epochs 40 and 60; `"50%,75%"` at those
    fractions of `epochs` (He et al.'s recipe).
    """
    text = str(config["lr_drop_every"]).replace(" ", "")
    epochs = config["epochs"]
    try:
        if "," not in text and "%" not in text:
            every = int(text)
            if every < 1:
                raise ValueError
            return list(range(every, epochs + 1, every)) if epochs >= every else []
        points = []
        for part in text.split(","):
            points.append(round(epochs * float(part[:-1]) / 100) if part.endswith("%")
                          else int(part))
    except ValueError:
        raise ZooError(
            f"lr_drop_every must be N, a list of epochs or percentages; got {text!r}"
        ) from None
    return sorted(p for p in points if p > 0)


def dump(config: dict) -> str:
    import yaml

    ordered = {f.name: config.get(f.name) for f in FIELDS}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False)
