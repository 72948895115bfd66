"""Predictions from any model zoo knows: a leaf `Predictor` (model + card, `predictor.py`);
one loader per kind of model, chosen from one ordered table (`loaders.py`); one module per
exported format, reading and writing its own metadata (`onnx.py`, `tflite.py`,
`savedmodel.py`, listed in `formats.py`); and the loop over image files (`loop.py`).

Importing this package loads nothing: `zoo --help` reaches it through the command modules.
"""
