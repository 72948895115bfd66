"""Exported models run by their own runtimes: ONNX by onnxruntime, TFLite by the LiteRT
interpreter, SavedModel by `tf.saved_model.load`, each with the metadata `zoo export` put in
the file (class names, input shape, preprocessing).

Importing this module loads numpy only. A runtime is imported when a file of its format is
opened, and the ONNX and TFLite paths never import TensorFlow or Keras (the ImageNet
preprocessing is `zoo.data.preprocessing.scale_pixels`, numpy), so `zoo predict --model
FILE.onnx` starts in a fraction of a second.

The metadata is one JSON object (`METADATA_KEY`): in an ONNX file an entry of the model's
`metadata_props`; in a TFLite file an entry of the flatbuffer's `metadata`; in a SavedModel
directory the file `assets.extra/zoo.json` (the folder TensorFlow leaves to other tools).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from zoo.errors import ZooError, first_line

METADATA_KEY = "zoo"
SAVEDMODEL_METADATA = Path("assets.extra") / "zoo.json"
METADATA_VERSION = 1
FORMAT_NAMES = {"onnx": "ONNX", "tflite": "TFLite", "savedmodel": "SavedModel"}
# The import and pip names of what runs each format.
RUNTIME_PACKAGES = {
    "onnx": (("onnxruntime", "onnxruntime"),),
    "tflite": (("ai_edge_litert", "ai-edge-litert"),),
    "savedmodel": (("tensorflow", "tensorflow"),),
}
INSTALL_EXTRA = "pip install 'zoo[export]' (in a checkout: pip install -e '.[export]')"


def exported_format(path: str | Path) -> str | None:
    """`onnx`, `tflite` or `savedmodel` when `path` names an exported model, else None."""
    path = Path(path).expanduser()
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if path.suffix.lower() == ".tflite":
        return "tflite"
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "savedmodel"
    return None


def require(packages, what: str) -> None:
    """Raise a one-line `ZooError` (exit 2) naming the missing packages and the extra that
    brings them, unless every `(import name, pip name)` of `packages` is installed."""
    missing = [pip for module, pip in packages if importlib.util.find_spec(module) is None]
    if missing:
        raise ZooError(f"{what} needs {', '.join(missing)}, not installed here: "
                       f"{INSTALL_EXTRA}")


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class ExportedModel:
    """One exported model, opened by its runtime.

    Attributes:
        path: the file (or SavedModel directory).
        format: `onnx`, `tflite` or `savedmodel`.
        runtime: the runtime's name and version, e.g. `"onnxruntime 1.32.0"`.
        device: where it runs, `cpu` or `gpu`.
        metadata: the dict `zoo export` stored (`labels`, `input_shape`, `preprocessing`,
            `mean`, `name`, ...), or None for a file exported by another tool.
        input_shape: `(height, width, channels)` the model takes.
        classes: the length of its output.
    """

    path: Path
    format: str
    runtime: str
    device: str = "cpu"
    metadata: dict | None
    input_shape: tuple[int, ...]
    classes: int

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose=0) -> np.ndarray:
        """Outputs for the preprocessed float32 batch `x`, `batch_size` rows at a time (all
        at once when None), as Keras' `model.predict` gives them."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        size = batch_size or len(x)
        parts = [self._run(x[start : start + size]) for start in range(0, len(x), size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxModel(ExportedModel):
    format = "onnx"

    def __init__(self, path: Path, device: str = "auto"):
        require(RUNTIME_PACKAGES["onnx"], "running an ONNX file")
        import onnxruntime as ort

        available = ort.get_available_providers()
        if device == "gpu" and "CUDAExecutionProvider" not in available:
            raise ZooError("--device gpu: this onnxruntime has no CUDA provider (it has "
                           f"{', '.join(available)}); install onnxruntime-gpu, or use "
                           "--device cpu")
        use_gpu = device in ("gpu", "auto") and "CUDAExecutionProvider" in available
        providers = ["CUDAExecutionProvider"] * use_gpu + ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no provider notes on stderr
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            raise ZooError(f"{path} is not a readable ONNX model: {first_line(exc)}") from None
        self.path, self.runtime = path, f"onnxruntime {ort.__version__}"
        self.device = "gpu" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ZooError(f"{path}: expected one input and one output, found "
                           f"{len(inputs)} and {len(outputs)}")
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape[1:])
        self.classes = outputs[0].shape[-1]
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        self.metadata = json.loads(text) if text else None

    def _run(self, x):
        return self.session.run(None, {self.input_name: x})[0]


class TFLiteModel(ExportedModel):
    format = "tflite"

    def __init__(self, path: Path, device: str = "auto"):
        if device == "gpu":
            raise ZooError("--device gpu: zoo runs TFLite files with the LiteRT interpreter "
                           "on the CPU; use --device cpu or auto")
        require(RUNTIME_PACKAGES["tflite"], "running a TFLite file")
        from importlib.metadata import version

        from ai_edge_litert.interpreter import Interpreter

        from zoo.backend import quiet_native_logs

        try:
            data = path.read_bytes()
            self.metadata = _tflite_metadata(data)
            with quiet_native_logs():
                self.interpreter = Interpreter(model_content=data, num_threads=_threads())
        except Exception as exc:
            raise ZooError(f"{path} is not a readable TFLite model: {first_line(exc)}") from None
        self.path, self.runtime = path, f"ai-edge-litert {version('ai-edge-litert')}"
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ZooError(f"{path}: expected one input and one output, found "
                           f"{len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self.input_shape = tuple(int(d) for d in inputs[0]["shape_signature"][1:])
        self.classes = int(outputs[0]["shape_signature"][-1])
        self._allocated = None  # the batch shape the tensors are allocated for

    def _run(self, x):
        if self._allocated != x.shape:  # a new batch size: resize once, not every call
            from zoo.backend import quiet_native_logs

            self.interpreter.resize_tensor_input(self._input, x.shape)
            with quiet_native_logs():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                self.interpreter.allocate_tensors()
            self._allocated = x.shape
        self.interpreter.set_tensor(self._input, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output).copy()


def _tflite_metadata(data: bytes) -> dict | None:
    """The zoo entry of a TFLite flatbuffer's metadata, read with LiteRT's own schema."""
    from ai_edge_litert import schema_py_generated as schema

    if data[4:8] != b"TFL3":
        raise ValueError("no TFLite file identifier (TFL3)")
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode() == METADATA_KEY:
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


class SavedModel(ExportedModel):
    format = "savedmodel"

    def __init__(self, path: Path, device: str = "auto"):
        from zoo.backend import quiet_native_logs

        require(RUNTIME_PACKAGES["savedmodel"], "running a SavedModel")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_native_logs():
            import tensorflow as tf

            if device == "gpu" and not tf.config.list_physical_devices("GPU"):
                raise ZooError("--device gpu: TensorFlow sees no GPU on this machine; use "
                               "--device cpu or auto")
            try:
                self.loaded = tf.saved_model.load(str(path))
                self.serve = self.loaded.signatures["serving_default"]
            except Exception as exc:
                raise ZooError(f"{path} is not a readable SavedModel: "
                               f"{first_line(exc)}") from None
        self.tf, self.path, self.runtime = tf, path, f"tensorflow {tf.__version__}"
        gpu = device != "cpu" and bool(tf.config.list_physical_devices("GPU"))
        self.device = "gpu" if gpu else "cpu"
        (self._input, spec), = self.serve.structured_input_signature[1].items()
        (self._output, out), = self.serve.structured_outputs.items()
        self.input_shape = tuple(spec.shape[1:])
        self.classes = int(out.shape[-1])
        meta = path / SAVEDMODEL_METADATA
        self.metadata = json.loads(meta.read_text()) if meta.is_file() else None

    def _run(self, x):
        with self.tf.device("/GPU:0" if self.device == "gpu" else "/CPU:0"):
            return self.serve(**{self._input: self.tf.constant(x)})[self._output].numpy()


def open_exported(path: str | Path, device: str = "auto") -> ExportedModel:
    """Open an exported model with its runtime; an unreadable file is a one-line `ZooError`.

    Args:
        path: a `.onnx` or `.tflite` file, or a SavedModel directory.
        device: `auto`, `cpu` or `gpu` (ONNX with onnxruntime-gpu; TFLite runs on the CPU).
    """
    path = Path(path).expanduser()
    fmt = exported_format(path)
    if fmt is None:
        raise ZooError(f"{path}: not an exported model (.onnx, .tflite or a SavedModel "
                       "directory)")
    if fmt != "savedmodel" and not path.is_file():
        raise ZooError(f"model file not found: {path}")
    return {"onnx": OnnxModel, "tflite": TFLiteModel, "savedmodel": SavedModel}[fmt](
        path, device)


def check_metadata(model: ExportedModel) -> dict:
    """The model's zoo metadata, checked against the model itself; a file without it, or
    whose metadata does not describe it (another model's, edited), is a `ZooError`."""
    meta = model.metadata
    if meta is None:
        raise ZooError(f"{model.path} has no zoo metadata (class names, preprocessing); "
                       "export the model with 'zoo export'")
    missing = [k for k in ("labels", "input_shape", "preprocessing") if k not in meta]
    if missing:
        raise ZooError(f"{model.path}: its zoo metadata lacks {', '.join(missing)}")
    shape = tuple(meta["input_shape"])
    if shape != model.input_shape or len(meta["labels"]) != model.classes:
        raise ZooError(
            f"{model.path}: its metadata describes a model taking "
            f"{'x'.join(map(str, shape))} with {len(meta['labels'])} classes, but the model "
            f"takes {'x'.join(map(str, model.input_shape))} with {model.classes} outputs "
            "(a file edited, or another model's metadata)")
    return meta


def load_exported_predictor(path: str | Path, device: str = "auto"):
    """The `zoo.inference.Predictor` of an exported model: its runtime, its metadata's class
    names, and its preprocessing in numpy."""
    from zoo.data.preprocessing import scale_pixels
    from zoo.inference import Predictor

    model = open_exported(path, device)
    meta = check_metadata(model)
    mode, mean = meta["preprocessing"], meta.get("mean")
    name = f"{meta.get('name') or model.path.stem}.{model.format}"
    return Predictor(model, name, tuple(meta["input_shape"]), list(meta["labels"]),
                     meta.get("wnids"), lambda x: scale_pixels(x, mode, mean),
                     preprocessing=mode, mean=tuple(mean) if mean else None)
