"""The box model: any registered backbone (scratch or `--pretrained`) up to its classifier, a
box head of 4 sigmoid outputs (x1, y1, x2, y2 in [0, 1] of the input) and, with two classes or
more, a softmax class head; one output `(N, 4 + K)`. Its loss (`BoxLoss`: MSE or smooth L1 over
the box, plus the cross-entropy of the class) and metrics (`BoxIoU`, `BoxIoUAbove`,
`BoxClassAccuracy`) are Keras objects written with `keras.ops`, so they run on TensorFlow and
JAX alike and are saved with the model (a resume loads them back).

Backend-agnostic: Keras only.
"""

from __future__ import annotations

from zoo.backend import load_keras

keras = load_keras()

from zoo.boxes.pipeline import class_outputs  # noqa: E402

ops = keras.ops
PACKAGE = "zoo_boxes"
SMOOTH_L1_BETA = 1 / 9  # Detectron's: quadratic below ~0.11 of the image, linear above


def box_iou(y_true, y_pred):
    """The IoU of the boxes in the first 4 columns of `y_true` and `y_pred`, per row."""
    t = ops.cast(y_true[:, :4], "float32")
    p = ops.cast(y_pred[:, :4], "float32")
    w = ops.maximum(ops.minimum(t[:, 2], p[:, 2]) - ops.maximum(t[:, 0], p[:, 0]), 0.0)
    h = ops.maximum(ops.minimum(t[:, 3], p[:, 3]) - ops.maximum(t[:, 1], p[:, 1]), 0.0)
    inter = w * h

    def area(b):
        return ops.maximum(b[:, 2] - b[:, 0], 0.0) * ops.maximum(b[:, 3] - b[:, 1], 0.0)

    union = area(t) + area(p) - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoxLoss(keras.losses.Loss):
    """The box regression loss summed over the 4 coordinates (`mse`: squared error; `smooth_l1`:
    Girshick's smooth L1 with beta `SMOOTH_L1_BETA`), plus, with a class head of `classes`
    outputs, the (label-smoothed) cross-entropy of the class."""

    def __init__(self, box_loss: str = "mse", classes: int = 0, label_smoothing: float = 0.0,
                 name: str = "box_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if box_loss not in ("mse", "smooth_l1"):
            raise ValueError(f"box_loss must be mse or smooth_l1. Received: box_loss={box_loss}")
        self.box_loss, self.classes, self.label_smoothing = box_loss, int(classes), \
            float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        diff = y_pred[:, :4] - y_true[:, :4]
        if self.box_loss == "mse":
            loss = ops.sum(ops.square(diff), axis=-1)
        else:
            absolute = ops.abs(diff)
            loss = ops.sum(ops.where(absolute < SMOOTH_L1_BETA,
                                     0.5 * ops.square(diff) / SMOOTH_L1_BETA,
                                     absolute - 0.5 * SMOOTH_L1_BETA), axis=-1)
        if self.classes:
            loss = loss + keras.losses.categorical_crossentropy(
                y_true[:, 4:], y_pred[:, 4:], label_smoothing=self.label_smoothing)
        return loss

    def get_config(self):
        return {**super().get_config(), "box_loss": self.box_loss, "classes": self.classes,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoxIoU(keras.metrics.Mean):
    """The mean IoU of the predicted boxes with the true ones."""

    def __init__(self, name: str = "iou", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(box_iou(y_true, y_pred), sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoxIoUAbove(keras.metrics.Mean):
    """The fraction of boxes whose IoU with the true box is at least `threshold`."""

    def __init__(self, threshold: float = 0.5, name: str | None = None, **kwargs):
        super().__init__(name=name or f"iou{round(threshold * 100)}", **kwargs)
        self.threshold = float(threshold)

    def update_state(self, y_true, y_pred, sample_weight=None):
        hit = ops.cast(box_iou(y_true, y_pred) >= self.threshold, "float32")
        return super().update_state(hit, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoxClassAccuracy(keras.metrics.Mean):
    """The fraction of images whose class (the arg-max of the outputs after the box) is right."""

    def __init__(self, name: str = "class_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        right = ops.cast(ops.argmax(y_true[:, 4:], axis=-1) == ops.argmax(y_pred[:, 4:], axis=-1),
                         "float32")
        return super().update_state(right, sample_weight=sample_weight)


def box_metrics(num_classes: int) -> list:
    """The metrics of a boxes run: iou, iou50, iou75 and, with a class head, class_accuracy."""
    metrics = [BoxIoU(), BoxIoUAbove(0.5), BoxIoUAbove(0.75)]
    if class_outputs(num_classes):
        metrics.append(BoxClassAccuracy())
    return metrics


def _features(backbone):
    """The tensor the classifier of `backbone` reads: the input of the last layer with
    weights at or before `predictions`, flattened. Most classifiers end in a Dense layer
    named `predictions`; MobileNet v1 and v3 end in a 1x1 convolution to the classes, a
    reshape and an activation named `predictions`, whose input is the class logits, not
    features (a box read from two logits is no box)."""
    layer = backbone.get_layer("predictions")
    while not layer.weights:
        parents = layer._inbound_nodes[0].parent_nodes if layer._inbound_nodes else []
        if len(parents) != 1:
            break
        layer = parents[0].operation
    features = layer.input
    if len(features.shape) > 2:  # (N, 1, 1, C) before MobileNet's 1x1 convolution
        features = keras.layers.Flatten(name="box_features")(features)
    return features


def add_box_head(backbone, num_classes: int, name: str):
    """`backbone` (a classifier whose last layer is `predictions`) with that layer replaced
    by the box head and, with two classes or more, the class head."""
    features = _features(backbone)
    box = keras.layers.Dense(4, activation="sigmoid", dtype="float32", name="box")(features)
    k = class_outputs(num_classes)
    outputs = box
    if k:
        label = keras.layers.Dense(k, activation="softmax", dtype="float32",
                                   name="class")(features)
        outputs = keras.layers.Concatenate(dtype="float32", name="box_and_class")([box, label])
    return keras.Model(backbone.input, outputs, name=name)


def build_box_model(config, input_shape, num_classes: int):
    """The uncompiled box model of `config` (`config.pretrained`: on the pretrained base of
    `zoo.training.transfer`, whose phases then apply as for classifiers)."""
    classes = max(2, class_outputs(num_classes))  # the classifier that is cut off
    if config.pretrained:
        from zoo.training import transfer

        backbone = transfer.build_transfer_model(config, input_shape, classes)
        model = add_box_head(backbone, num_classes, f"{config.model}_boxes")
        transfer.set_phase(model, config, transfer.HEAD)
        return model
    from zoo.models.registry import build_model

    backbone = build_model(config.model, input_shape=input_shape, num_classes=classes)
    return add_box_head(backbone, num_classes, f"{config.model}_boxes")


def compile_box_model(model, config, steps_per_epoch: int, num_classes: int,
                      dist=None) -> None:
    """Compile `model` as `zoo.training.compile.compile_model` does a classifier (optimizer,
    schedule, steps per call), with the box loss and metrics."""
    from zoo.training.compile import create_optimizer, steps_per_execution
    from zoo.training.schedules import build_schedule

    model.compile(
        steps_per_execution=steps_per_execution(config, steps_per_epoch, dist),
        optimizer=create_optimizer(config, build_schedule(config, steps_per_epoch)),
        loss=BoxLoss(config.get("box_loss", "mse"), class_outputs(num_classes),
                     config.label_smoothing),
        metrics=box_metrics(num_classes),
    )
