"""Forward FLOPs per image, counted from the layer shapes (backend-agnostic).

Convention: FLOPs = 2 x multiply-accumulates of the convolution and dense layers, the
convention of the papers' tables (VGG16 at 224x224: 15.5 GMACs, 31 GFLOPs). Biases,
normalisation, activations and pooling are left out; together they are well under 1% for
the models here.
"""

import math


def _spatial(shape) -> int:
    return math.prod(int(d) for d in shape[1:-1])


def layer_macs(layer) -> int:
    """Multiply-accumulates of one call of `layer` for one image (0 for layers not counted)."""
    from keras import layers

    if isinstance(layer, layers.Layer) and hasattr(layer, "layers") and layer.layers:
        return sum(layer_macs(sub) for sub in layer.layers)  # a nested model
    try:
        in_shape, out_shape = layer.input.shape, layer.output.shape
    except (AttributeError, ValueError):
        return 0
    if isinstance(layer, layers.SeparableConv2D):
        c_in = int(in_shape[-1])
        depth = c_in * layer.depth_multiplier
        out = _spatial(out_shape)
        return out * depth * math.prod(layer.kernel_size) + out * depth * int(out_shape[-1])
    if isinstance(layer, layers.DepthwiseConv2D):
        return _spatial(out_shape) * int(out_shape[-1]) * math.prod(layer.kernel_size)
    if isinstance(layer, (layers.Conv2DTranspose, layers.Conv1DTranspose, layers.Conv3DTranspose)):
        return (
            _spatial(in_shape)
            * int(in_shape[-1])
            * math.prod(layer.kernel_size)
            * int(out_shape[-1])
        )
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        per_output = math.prod(layer.kernel_size) * int(in_shape[-1]) // layer.groups
        return _spatial(out_shape) * int(out_shape[-1]) * per_output
    if isinstance(layer, layers.Dense):
        rows = math.prod(int(d) for d in in_shape[1:-1])
        return rows * int(in_shape[-1]) * layer.units
    return 0


def count_flops(model) -> int:
    """Return the forward FLOPs of `model` for one input (2 x conv and dense MACs)."""
    return 2 * sum(layer_macs(layer) for layer in model.layers)


def human(number: float, unit: str = "") -> str:
    """`1_234_567` -> `"1.23M"`."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= factor:
            return f"{number / factor:.2f}{suffix}{unit}"
    return f"{number:g}{unit}"
