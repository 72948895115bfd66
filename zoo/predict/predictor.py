"""The leaf of `zoo.predict`: a model and its card. Imports no loader."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from zoo.card import ModelCard


@dataclass
class Predictor:
    """A model with what it needs to classify 0-255 images.

    Attributes:
        model: anything with Keras' `predict(x, batch_size=..., verbose=0)`: a Keras model,
            an exported model run by its runtime, an extractor and a classifier.
        card: its `zoo.card.ModelCard`; `card.prepare` turns pixels into the model's input.
        name: how results name the model (`run`, `run/checkpoint/epoch-0001.keras`,
            `run.onnx`, `mobilenetv2`).
        warnings: one line each, for the command to show.
        placement: a context manager factory the model runs under (`keras.device`).
    """

    model: object
    card: ModelCard
    name: str
    warnings: list[str] = field(default_factory=list)
    placement: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.card.input_shape

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.names

    @property
    def wnids(self) -> tuple[str, ...] | None:
        return self.card.wnids

    def replace(self, **changes) -> Predictor:
        return replace(self, **changes)

    def predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        """Class probabilities `(N, classes)`, float64, of 0-255 images `(N, H, W, C)`."""
        with self.placement():
            return np.asarray(self.model.predict(self.card.prepare(images),
                                                 batch_size=batch_size, verbose=0),
                              dtype=np.float64)
