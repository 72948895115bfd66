"""The model card: what a model needs besides its weights to be used.

Class names (and ImageNet wnids), the input shape, how pixels are prepared (a
`zoo.data.preprocessing.scale_pixels` mode and a per-channel mean), the dataset and the task.
One JSON form (`ModelCard.to_json`) is both a run's `labels.json` and the metadata inside an
exported file (ONNX `metadata_props`, TFLite metadata, SavedModel `assets.extra/zoo.json`),
so every reader checks one thing one way.

The JSON form, version 1:

    {"format_version": 1, "task": "classification", "labels": ["cat", "dog"], "wnids": null,
     "input_shape": [32, 32, 3], "preprocessing": "scale", "mean": null, "dataset": "cifar10",
     "name": "run"}

An exported file adds where it came from: `source`, `precision` and `exported_by`. Older
files still read: `labels.json` before version 1 had only `labels`, `input_shape`,
`preprocessing`, `mean` and `dataset` (the last three optional); the exported metadata of
version 1 had no `task` or `dataset`.

Importing this module loads nothing heavy (numpy is imported by `prepare` only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from zoo.errors import ZooError

CARD_VERSION = 1
# what a model's outputs mean; "boxes" (issue 19, zoo.boxes): the box x1, y1, x2, y2 in [0, 1]
# of the letter-boxed input, then the class probabilities when there are two classes or more
TASKS = ("classification", "boxes")
REQUIRED = ("labels", "input_shape")
# What an exported file says of its origin; a run's labels.json has none of them.
PROVENANCE = ("source", "precision", "exported_by")


@dataclass(frozen=True)
class ModelCard:
    """What a model needs besides its weights: one `labels.json`, one exported file's metadata.

    Attributes:
        names: the class names in output order (`labels` in the JSON form).
        input_shape: `(height, width, channels)` the model takes.
        preprocessing: the `scale_pixels` mode that prepares 0-255 pixels for the model.
            Defaults to `"scale"`.
        mean: the per-channel mean subtracted first, or `None`. Defaults to `None`.
        dataset: the dataset the model was trained on, or `None`.
        wnids: ImageNet WordNet ids, one per class, or `None`.
        task: what the outputs mean, one of `TASKS`. Defaults to `"classification"`.
        name: the model's name (a run's, an ImageNet model's), or `None`.
        source, precision, exported_by: where an exported file came from, or `None`.
    """

    names: tuple[str, ...]
    input_shape: tuple[int, ...]
    preprocessing: str = "scale"
    mean: tuple[float, ...] | None = None
    dataset: str | None = None
    wnids: tuple[str, ...] | None = None
    task: str = "classification"
    name: str | None = None
    source: str | None = None
    precision: str | None = None
    exported_by: str | None = None

    def __post_init__(self):
        # frozen: normalise the sequences once, so cards compare and hash by value
        set_ = object.__setattr__
        set_(self, "names", tuple(str(n) for n in self.names))
        set_(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if self.mean is not None:
            set_(self, "mean", tuple(float(m) for m in self.mean) or None)
        if self.wnids is not None:
            set_(self, "wnids", tuple(self.wnids) or None)

    # -- made from ------------------------------------------------------------------------

    @classmethod
    def numbered(cls, classes: int, input_shape, **facts) -> ModelCard:
        """A card for a model that came with none: classes `"0"`..`"N-1"`, pixels scaled."""
        return cls(tuple(str(i) for i in range(classes)), input_shape, **facts)

    @classmethod
    def imagenet(cls, name: str, input_shape, preprocessing: str) -> ModelCard:
        """The card of an ImageNet model: the 1000 classes of the bundled index."""
        classes = imagenet_classes()
        return cls(tuple(c[1] for c in classes), input_shape, preprocessing,
                   dataset="imagenet", wnids=tuple(c[0] for c in classes), name=name)

    def replace(self, **changes) -> ModelCard:
        return replace(self, **changes)

    @property
    def crops(self) -> bool:
        """How an image of another shape meets the model by default: `True` for a model zoo
        trained (the shorter side resized, the centre cut, as `zoo train` and `zoo evaluate`
        bring a folder's images to it), `False` for an ImageNet model or a card of unknown
        origin (a plain resize, Keras' `load_img(path, target_size=...)`)."""
        return self.dataset not in (None, "imagenet")

    # -- the JSON form --------------------------------------------------------------------

    def to_json(self) -> dict:
        """The JSON object of `labels.json` and of an exported file's metadata."""
        data = {"format_version": CARD_VERSION, "task": self.task, "name": self.name,
                "labels": list(self.names), "wnids": list(self.wnids) if self.wnids else None,
                "input_shape": list(self.input_shape), "preprocessing": self.preprocessing,
                "mean": list(self.mean) if self.mean else None, "dataset": self.dataset}
        data.update({key: getattr(self, key) for key in PROVENANCE
                     if getattr(self, key) is not None})
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data, where: str = "the model card",
                  required: tuple[str, ...] = REQUIRED) -> ModelCard:
        """Read the JSON form (any version this zoo wrote); what does not read is a one-line
        `ZooError` naming `where` (a file, or `"FILE: its zoo metadata"`). Keys outside
        `required` have their defaults."""
        if not isinstance(data, dict):
            raise ZooError(f"{where} is not a JSON object of class names and input shape")
        version = data.get("format_version", CARD_VERSION)
        if not isinstance(version, int) or version > CARD_VERSION:
            raise ZooError(f"{where} is of format version {version}, newer than this zoo "
                           f"reads ({CARD_VERSION}); upgrade zoo")
        missing = [key for key in required if data.get(key) is None]
        if missing:
            raise ZooError(f"{where} lacks {', '.join(missing)}")
        task = data.get("task") or "classification"
        if task not in TASKS:
            raise ZooError(f"{where}: unknown task '{task}' (this zoo knows "
                           f"{', '.join(TASKS)})")
        facts = {key: data[key] for key in ("dataset", "wnids", "name", *PROVENANCE)
                 if data.get(key) is not None}
        try:
            return cls(names=data["labels"], input_shape=data["input_shape"],
                       preprocessing=data.get("preprocessing") or "scale",
                       mean=data.get("mean") or None, task=task, **facts)
        except (TypeError, ValueError) as exc:
            raise ZooError(f"{where} does not read as a model card: {exc}") from None

    @classmethod
    def loads(cls, text: str | bytes, where: str = "the model card",
              required: tuple[str, ...] = REQUIRED) -> ModelCard:
        """`from_json` of JSON text; text that is no JSON is a one-line `ZooError` too."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ZooError(f"{where} is not valid JSON: {exc}") from None
        return cls.from_json(data, where, required)

    # -- checks and use -------------------------------------------------------------------

    def check_against(self, classes: int, input_shape, where: str,
                      what: str = "metadata") -> ModelCard:
        """A one-line `ZooError` unless the model in `where` has as many outputs as the card
        has classes and takes the card's input shape (dimensions the model leaves open, None
        or a name, fit any size); returns the card."""
        shape = tuple(input_shape)
        fits = len(shape) == len(self.input_shape) and all(
            not isinstance(d, int) or d == c for d, c in zip(shape, self.input_shape,
                                                             strict=True))
        if not fits or int(classes) != self.outputs:
            raise ZooError(
                f"{where}: its {what} describes a model taking {_shape(self.input_shape)} with "
                f"{len(self.names)} classes, but the model takes {_shape(shape)} with "
                f"{classes} outputs (a file edited, or another model's {what})")
        return self

    @property
    def outputs(self) -> int:
        """The width of the model's output: a probability per class, or for `boxes` the 4
        box coordinates and a probability per class when there are two or more."""
        if self.task == "boxes":
            return 4 + (len(self.names) if len(self.names) >= 2 else 0)
        return len(self.names)

    def prepare(self, images):
        """0-255 pixels `(N, H, W, C)` -> the float32 input the model takes."""
        from zoo.data.preprocessing import scale_pixels

        return scale_pixels(images, self.preprocessing, list(self.mean) if self.mean else None)


def _shape(shape) -> str:
    return "x".join(str(d) if isinstance(d, int) else "?" for d in shape)


@cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """The 1000 ImageNet classes as (wnid, label), in index order, from the bundled file."""
    text = resources.files("zoo.resources").joinpath("imagenet_class_index.json").read_text()
    index = json.loads(text)
    return tuple(tuple(index[str(i)]) for i in range(len(index)))
