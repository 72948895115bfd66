"""Grad-CAM (Selvaraju et al. 2017, Grad-CAM: visual explanations from deep networks via
gradient-based localization, arXiv:1610.02391): where in an image a convolutional network
found the evidence for a class.

The map of class `c` at a layer with feature maps `A` (h x w x K) is
`ReLU(sum_k alpha_k A_k)`, where `alpha_k` is the mean over the map of `d y_c / d A_k` and
`y_c` is the class SCORE (the logit, before the softmax). The maps are divided by their
maximum, so they lie in [0, 1] at the layer's resolution; `upsample`, `overlay` and `peak`
bring them to an image's pixels.

One way for every backend (TensorFlow, JAX, PyTorch): the model's graph is called again,
layer by layer and into nested models (a transfer model holds its ImageNet base as one
layer), on fresh inputs, with a second input `delta` added to the explained layer's output
and the softmax left out. The gradient of the score with respect to `delta` at `delta = 0`
is the gradient with respect to the layer's output, whatever the graph does after it
(branches, skips, the nested model's boundary), and each backend takes it its own way:
`tf.GradientTape`, `jax.grad` over `stateless_call`, `torch.autograd.grad`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from zoo.backend import load_keras
from zoo.errors import ZooError

_DELTA = "zoo_gradcam_delta"


class NoConvLayer(ZooError):
    """The model has no convolutional layer to explain (a dense-only model, a features run)."""

    def __init__(self, model_name: str):
        super().__init__(f"{model_name} has no convolutional layer; Grad-CAM needs one")


# -- the graph, walked layer by layer -----------------------------------------------------------


def _is_graph(layer) -> bool:
    """Whether `layer` is a model whose layers can be walked (Sequential or functional); a
    subclassed model is one opaque layer."""
    keras = load_keras()
    from keras.src.models.functional import Functional

    return isinstance(layer, (keras.Sequential, Functional))


def _walk(model, inputs: list, visit):
    """Call `model`'s layers on the symbolic `inputs` one at a time, in the graph's order,
    entering nested models; `visit(layer, args, kwargs)` calls each layer and returns what
    stands for its outputs. Returns the model's outputs."""
    keras = load_keras()
    if isinstance(model, keras.Sequential):
        x = inputs[0] if len(inputs) == 1 else inputs
        for layer in model.layers:
            x = _enter(layer, (x,), {}, visit)
        return x

    def call(op, *args, **kwargs):
        return _enter(op, args, kwargs, visit)

    # Keras' own executor of a functional graph (`Functional.call` and `clone_model` run
    # through it): it fills each node's arguments from the tensors computed so far.
    return model._run_through_graph(inputs, call_fn=call)


def _enter(layer, args, kwargs, visit):
    if _is_graph(layer):
        from keras import tree

        return _walk(layer, tree.flatten(args[0]), visit)
    return visit(layer, args, kwargs)


def _fresh_inputs(model) -> list:
    keras = load_keras()
    try:
        originals = list(model.inputs)
    except (AttributeError, ValueError):
        originals = []
    if not originals or not _is_graph(model):
        raise ZooError(f"{model.name} is not a functional or Sequential Keras model; "
                       "Grad-CAM walks the model's graph")
    if len(originals) != 1 or len(model.outputs) != 1:
        raise ZooError(f"{model.name} has {len(originals)} inputs and {len(model.outputs)} "
                       "outputs; Grad-CAM explains a classifier of one image input")
    return [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=f"zoo_gradcam_in{i}")
            for i, t in enumerate(originals)]


@dataclass(frozen=True)
class _Traced:
    """One call of a layer in the walked graph: the layer and its output's shape."""

    layer: object
    shape: tuple | None  # None: several outputs

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def spatial(self) -> bool:
        return self.shape is not None and len(self.shape) == 4


def _trace(model) -> list[_Traced]:
    """Every layer call of `model` (nested models entered) in graph order, with its output
    shape. Shapes come from `compute_output_spec`, which records no node on the layers."""
    traced = []

    def visit(layer, args, kwargs):
        out = layer.compute_output_spec(*args, **kwargs)
        traced.append(_Traced(layer, tuple(out.shape) if hasattr(out, "shape") else None))
        return out

    _walk(model, _fresh_inputs(model), visit)
    return traced


def _is_conv(layer) -> bool:
    keras = load_keras()
    kinds = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D,
             keras.layers.Conv2DTranspose)
    return isinstance(layer, kinds)


def _pick(model, name: str | None) -> _Traced:
    traced = _trace(model)
    if name is not None:
        matches = [t for t in traced if t.name == name]
        if not matches:
            names = list(dict.fromkeys(t.name for t in traced))
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                f"; its layers with 4-D outputs: {', '.join(_spatial_names(traced)[-5:])}"
            raise ZooError(f"--layer {name}: no such layer in {model.name}{hint}")
        spatial = [t for t in matches if t.spatial]
        if not spatial:
            raise ZooError(f"--layer {name}: its output is {_shape(matches[-1].shape)}, not a "
                           f"4-D feature map (N,H,W,C); choose one of "
                           f"{', '.join(_spatial_names(traced)[-5:]) or 'none'}")
        return spatial[-1]
    # A map of one cell says nothing about where, so convolutions down to 1x1 (LeNet-5's C5)
    # do not count.
    maps = [(i, t) for i, t in enumerate(traced) if t.spatial and t.shape[1] * t.shape[2] != 1]
    convs = [(i, t) for i, t in maps if _is_conv(t.layer)]
    if not convs:
        raise NoConvLayer(model.name)
    last, conv = convs[-1]
    # The last convolution's output or what follows it at the same resolution (its batch
    # norm, its activation, a residual sum), as the paper takes the last convolutional
    # layer's rectified maps; a pooling after it would only coarsen the map.
    same = [t for i, t in maps if i >= last and t.shape[1:3] == conv.shape[1:3]]
    return same[-1]


def _spatial_names(traced: list[_Traced]) -> list[str]:
    return list(dict.fromkeys(t.name for t in traced if t.spatial))


def _shape(shape) -> str:
    if shape is None:
        return "several tensors"
    return "(" + ",".join("N" if d is None else str(d) for d in shape) + ")"


def cam_layer(model, name: str | None = None) -> str:
    """The layer Grad-CAM explains.

    Args:
        model: a functional or Sequential Keras model (nested models are looked into).
        name: a layer's name, or `None` to choose. Defaults to `None`.

    Returns:
        `name` when it names a layer with a 4-D output `(N, H, W, C)`; else the last layer
        with a 4-D output that is a convolution or comes after the last convolution at its
        resolution (the last conv block's activation, batch norm or residual sum). Maps of
        1x1 are passed over.

    Raises:
        ZooError: `name` is no layer of the model (close names suggested), or its output is
            not 4-D.
        NoConvLayer: the model has no convolution.
    """
    return _pick(model, name).name


# -- the explaining graph -------------------------------------------------------------------


def _is_softmax(fn) -> bool:
    keras = load_keras()
    return fn is keras.activations.softmax or getattr(fn, "__name__", "") == "softmax"


def _output_layer(model):
    """The layer whose output is `model`'s output, inside nested models."""
    keras = load_keras()
    while _is_graph(model):
        if isinstance(model, keras.Sequential):
            model = model.layers[-1]
        else:
            model = model.outputs[0]._keras_history.operation
    return model


def _logits(layer, args, kwargs, output):
    """What the final `layer` computes before its softmax, or `output` when it has none: a
    softmax layer's input, or a twin of a layer with a softmax activation (same class and
    weights, linear activation)."""
    keras = load_keras()
    if isinstance(layer, keras.layers.Softmax) or (
            isinstance(layer, keras.layers.Activation) and _is_softmax(layer.activation)):
        return args[0]
    if not _is_softmax(getattr(layer, "activation", None)):
        return output
    config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_zoo_logits"}
    twin = type(layer).from_config(config)
    logits = twin(*args, **kwargs)  # builds it
    twin.set_weights(layer.get_weights())
    return logits


def _explainer(model, target):
    """`[image, delta] -> [feature map + delta, logits, probabilities]`, sharing `model`'s
    layers (and so its weights)."""
    keras = load_keras()
    inputs = _fresh_inputs(model)
    final = _output_layer(model)
    made = {}

    def visit(layer, args, kwargs):
        out = layer(*args, **kwargs)
        if layer is target.layer and "delta" not in made and len(getattr(out, "shape", ())) == 4:
            # float32 whatever the layer computes in: the Add casts it to the layer's dtype
            delta = keras.Input(batch_shape=tuple(out.shape), dtype="float32", name=_DELTA)
            out = keras.layers.Add(name="zoo_gradcam_perturbed")([out, delta])
            made["delta"], made["feature"] = delta, out
        if layer is final:
            made["logits"] = _logits(layer, args, kwargs, out)
            made["probs"] = out
        return out

    _walk(model, inputs, visit)
    if "delta" not in made:
        raise ZooError(f"layer {target.name} does not lead to {model.name}'s output; choose "
                       "another --layer")
    return keras.Model([*inputs, made["delta"]], [made["feature"], made["logits"],
                                                  made["probs"]], name="zoo_gradcam")


# -- the gradients, per backend -------------------------------------------------------------
# Each returns numpy (feature maps, their gradients, probabilities, classes explained) of one
# batch; `classes` holds -1 where the top predicted class is meant.


def _tensorflow_step(explainer):
    import tensorflow as tf

    def step(x, delta, classes):
        delta = tf.convert_to_tensor(delta)
        with tf.GradientTape() as tape:
            tape.watch(delta)
            feature, logits, probs = explainer([tf.convert_to_tensor(x), delta],
                                               training=False)
            top = tf.argmax(probs, axis=-1, output_type=tf.int32)
            chosen = tf.where(classes >= 0, tf.convert_to_tensor(classes), top)
            # the scores of different images are independent: the gradient of their sum
            # holds each image's own gradient
            score = tf.reduce_sum(tf.gather(tf.cast(logits, tf.float32), chosen,
                                            batch_dims=1))
        grads = tape.gradient(score, delta)
        return feature.numpy(), grads.numpy(), probs.numpy(), chosen.numpy()

    return step


def _jax_step(explainer):
    import jax
    import jax.numpy as jnp

    def score(delta, trainable, non_trainable, x, classes):
        (feature, logits, probs), _ = explainer.stateless_call(
            trainable, non_trainable, [x, delta], training=False)
        chosen = jnp.where(classes >= 0, classes, jnp.argmax(probs, axis=-1))
        picked = jnp.take_along_axis(logits.astype("float32"), chosen[:, None], axis=1)
        return picked.sum(), (feature, probs, chosen)

    grad = jax.jit(jax.grad(score, has_aux=True))

    def step(x, delta, classes):
        # the variables' current values, read at each call (the model may have trained since)
        trainable = [v.value for v in explainer.trainable_variables]
        non_trainable = [v.value for v in explainer.non_trainable_variables]
        grads, (feature, probs, chosen) = grad(jnp.asarray(delta), trainable, non_trainable,
                                               jnp.asarray(x), jnp.asarray(classes))
        return (np.asarray(feature), np.asarray(grads), np.asarray(probs),
                np.asarray(chosen))

    return step


def _torch_step(explainer):  # untested here: torch is not installed on the build machine
    import torch

    keras = load_keras()
    ops = keras.ops

    def step(x, delta, classes):
        delta = ops.convert_to_tensor(delta).requires_grad_(True)
        wanted = ops.convert_to_tensor(classes)
        feature, logits, probs = explainer([ops.convert_to_tensor(x), delta], training=False)
        chosen = torch.where(wanted >= 0, wanted, probs.argmax(dim=-1).to(wanted.dtype))
        score = logits.float().gather(1, chosen[:, None].long()).sum()
        (grads,) = torch.autograd.grad(score, delta)
        return tuple(t.detach().cpu().numpy() for t in (feature, grads, probs, chosen))

    return step


_STEPS = {"tensorflow": _tensorflow_step, "jax": _jax_step, "torch": _torch_step}


class GradCam:
    """Grad-CAM of one model at one layer, built once and applied to many batches.

    Args:
        model: a functional or Sequential Keras classifier (nested models are walked).
        layer: the layer to explain (`cam_layer`). Defaults to `None` (chosen).
    """

    def __init__(self, model, layer: str | None = None):
        keras = load_keras()
        self.model = model
        target = _pick(model, layer)
        self.layer: str = target.name
        self.shape: tuple = target.shape  # (None, h, w, channels)
        self.classes: int = int(model.outputs[0].shape[-1])
        backend = keras.backend.backend()
        if backend not in _STEPS:
            raise ZooError(f"Grad-CAM runs on tensorflow, jax or torch, not {backend}")
        self._step = _STEPS[backend](_explainer(model, target))
        self._pad_last = backend == "jax"  # see __call__

    def __call__(self, images: np.ndarray, classes=None,
                 batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """`(maps, probs)` of `images`; see `gradcam`."""
        images = np.asarray(images, dtype="float32")
        expected = tuple(self.model.inputs[0].shape[1:])
        if images.ndim != 4 or any(d is not None and d != s for d, s in
                                   zip(expected, images.shape[1:], strict=True)):
            raise ZooError(f"Grad-CAM of {self.model.name} takes images N x "
                           f"{'x'.join('?' if d is None else str(d) for d in expected)}; got "
                           f"{'x'.join(map(str, images.shape))}")
        wanted = self._classes(classes, len(images))
        if batch_size < 1:
            raise ZooError(f"batch_size must be at least 1; got {batch_size}")
        maps, probs = [], []
        for start in range(0, len(images), batch_size):
            x, chosen = images[start : start + batch_size], wanted[start : start + batch_size]
            n = len(x)
            if self._pad_last and start and n < batch_size:
                # JAX compiles a function per batch shape: a short last batch is padded to
                # the shape already compiled, which costs less than compiling another
                x = np.concatenate([x, np.zeros((batch_size - n, *x.shape[1:]), x.dtype)])
                chosen = np.concatenate([chosen, np.zeros(batch_size - n, chosen.dtype)])
            delta = np.zeros((len(x), *self.shape[1:]), dtype="float32")
            feature, grads, p, _ = self._step(x, delta, chosen)
            maps.append(_cam(feature[:n], grads[:n]))
            probs.append(p[:n].astype("float32"))
            del feature, grads  # one batch of gradients at a time
        if not maps:
            return (np.zeros((0, *self.shape[1:3]), "float32"),
                    np.zeros((0, self.classes), "float32"))
        return np.concatenate(maps), np.concatenate(probs)

    def _classes(self, classes, n: int) -> np.ndarray:
        if classes is None:
            return np.full(n, -1, dtype="int32")
        wanted = np.broadcast_to(np.asarray(classes), (n,)) if np.ndim(classes) == 0 else \
            np.asarray(classes)
        if wanted.shape != (n,) or not np.issubdtype(wanted.dtype, np.integer):
            raise ZooError(f"classes must be {n} class indices, one per image; got an array "
                           f"of shape {np.shape(classes)} and dtype {np.asarray(classes).dtype}")
        bad = wanted[(wanted < 0) | (wanted >= self.classes)]
        if bad.size:
            raise ZooError(f"class index {int(bad[0])} is out of range: {self.model.name} has "
                           f"{self.classes} classes (0..{self.classes - 1})")
        return wanted.astype("int32")


def _cam(feature: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """ReLU of the channels weighted by their mean gradient, divided by its maximum (an
    all-zero map stays zero)."""
    feature = feature.astype("float32")
    weights = grads.astype("float32").mean(axis=(1, 2))  # N x K
    cam = np.maximum(np.einsum("nhwk,nk->nhw", feature, weights), 0.0)
    top = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, top, out=np.zeros_like(cam), where=top > 0).astype("float32")


def gradcam(model, images: np.ndarray, classes=None, layer: str | None = None,
            batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps of `images`.

    Args:
        model: a functional or Sequential Keras classifier.
        images: the model's inputs, already preprocessed, `N x H x W x C` float32.
        classes: the class to explain per image, `N` ints (or one int for all); `None` for
            each image's top predicted class. Defaults to `None`.
        layer: the layer to explain (`cam_layer`). Defaults to `None` (chosen).
        batch_size: images per forward and backward pass. Defaults to `32`.

    Returns:
        `(maps, probs)`: `maps` `N x h x w` float32 in [0, 1] at the layer's resolution, the
        ReLU of the gradient-weighted sum of the layer's channels divided by its maximum (an
        all-zero map stays 0); `probs` `N x classes`, the model's outputs. The gradient is
        of the class score before the softmax when the model ends in one (a
        `Dense(activation="softmax")`, an `Activation`/`Softmax` layer), else of the output.

    Raises:
        ZooError: a bad layer name, image shape or class index.
        NoConvLayer: the model has no convolution.
    """
    return GradCam(model, layer)(images, classes, batch_size)


# -- maps on images -------------------------------------------------------------------------


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`cam` (h x w) resized to `size` (height, width), bilinear (cv2), float32."""
    import cv2

    height, width = size
    return cv2.resize(np.asarray(cam, dtype="float32"), (int(width), int(height)),
                      interpolation=cv2.INTER_LINEAR)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The jet-coloured map blended over an image.

    Args:
        image: uint8 `H x W x 3` (RGB), or grey `H x W` / `H x W x 1` (made RGB). Other
            dtypes are clipped to 0-255.
        cam: a map in [0, 1], any resolution (upsampled to the image).
        alpha: the weight of the map. Defaults to `0.45`.

    Returns:
        uint8 `H x W x 3` RGB: `(1 - alpha) * image + alpha * jet(map)`.
    """
    import cv2

    rgb = np.clip(np.asarray(image, dtype="float32"), 0, 255)
    if rgb.ndim == 3 and rgb.shape[-1] == 1:
        rgb = rgb[..., 0]
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ZooError(f"overlay takes an H x W, H x W x 1 or H x W x 3 image; got "
                       f"{'x'.join(map(str, np.shape(image)))}")
    heat = np.clip(upsample(cam, rgb.shape[:2]), 0.0, 1.0)
    jet = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    jet = cv2.cvtColor(jet, cv2.COLOR_BGR2RGB).astype("float32")
    return np.round((1 - alpha) * rgb + alpha * jet).clip(0, 255).astype(np.uint8)


def peak(cam: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """`(row, col)` of the map's maximum in pixels of an image of `size` (height, width): the
    centre of the map cell that holds it."""
    cam = np.asarray(cam)
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    height, width = size
    return (int((row + 0.5) * height / cam.shape[0]), int((col + 0.5) * width / cam.shape[1]))
