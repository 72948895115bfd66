"""TFLite files: run by the LiteRT interpreter on the CPU; the model card is the flatbuffer
metadata entry `zoo`, read and written with LiteRT's own schema."""

from __future__ import annotations

from pathlib import Path

from zoo.card import ModelCard
from zoo.errors import ZooError, first_line
from zoo.predict.exported import METADATA_KEY, ExportedModel, Format, read_card, require, threads

FORMAT = Format("tflite", "TFLite", ".tflite", (("ai_edge_litert", "ai-edge-litert"),))


class TFLiteModel(ExportedModel):
    format = FORMAT.key

    def __init__(self, path: Path, device: str = "auto"):
        if device == "gpu":
            raise ZooError("--device gpu: zoo runs TFLite files with the LiteRT interpreter "
                           "on the CPU; use --device cpu or auto")
        require(FORMAT.runtime_packages, "running a TFLite file")
        from importlib.metadata import version

        from ai_edge_litert.interpreter import Interpreter

        from zoo.backend import quiet_native_logs

        try:
            data = path.read_bytes()
            text = _metadata_text(data)
            with quiet_native_logs():
                self.interpreter = Interpreter(model_content=data, num_threads=threads())
        except Exception as exc:
            raise ZooError(f"{path} is not a readable TFLite model: {first_line(exc)}") from None
        self.card = read_card(text, path)
        self.path, self.runtime = path, f"ai-edge-litert {version('ai-edge-litert')}"
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        self._one_input_and_output(inputs, outputs)
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


Model = TFLiteModel


def _metadata_text(data: bytes) -> bytes | None:
    """The zoo entry of a TFLite flatbuffer's metadata, read with LiteRT's own schema."""
    from ai_edge_litert import schema_py_generated as schema

    if data[4:8] != b"TFL3":
        raise ValueError("no TFLite file identifier (TFL3)")
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode() == METADATA_KEY:
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def write_card(path: Path, card: ModelCard) -> None:
    """Append `card` as a buffer and a metadata entry `zoo` of the flatbuffer."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(card.dumps().encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    path.write_bytes(flatbuffer_utils.convert_object_to_bytearray(model))
