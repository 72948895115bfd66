"""ONNX files: run by onnxruntime; the model card is the `metadata_props` entry `zoo`."""

from __future__ import annotations

from pathlib import Path

from zoo.card import ModelCard
from zoo.errors import ZooError, first_line
from zoo.predict.exported import METADATA_KEY, ExportedModel, Format, read_card, require

FORMAT = Format("onnx", "ONNX", ".onnx", (("onnxruntime", "onnxruntime"),))


class OnnxModel(ExportedModel):
    format = FORMAT.key

    def __init__(self, path: Path, device: str = "auto"):
        require(FORMAT.runtime_packages, "running an ONNX file")
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
        self._one_input_and_output(inputs, outputs)
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape[1:])
        self.classes = outputs[0].shape[-1]
        self.card = read_card(
            self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), path)

    def _run(self, x):
        return self.session.run(None, {self.input_name: x})[0]


Model = OnnxModel


def check_graph(path: Path, name: str) -> None:
    """tf2onnx turns constants it fails to freeze into graph inputs (the mean and variance of
    Keras' Normalization layer, in the EfficientNets, for one): the file then needs values fed
    at run time that no user has. Refuse it, naming them."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    fed = {i.name for i in graph.initializer}
    extra = [i.name for i in graph.input if i.name not in fed][1:]
    if extra:
        raise ZooError(f"Keras' ONNX exporter (tf2onnx) cannot convert {name}: it left "
                       f"{len(extra)} constants of the model as graph inputs ("
                       f"{', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''}); "
                       "export it as tflite or savedmodel")


def write_card(path: Path, card: ModelCard) -> None:
    """Store `card` as the file's only `metadata_props` entry."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, card.dumps()
    onnx.save(model, str(path))
