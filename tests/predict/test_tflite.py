"""TFLite files (`zoo.predict.tflite`): the card in the flatbuffer's metadata, written and
read with LiteRT's schema; a corrupt file refused in one line."""

import json

from tests.predict.helpers import needs, photos
from zoo.predict.exported import METADATA_KEY
from zoo.predict.formats import open_exported

pytestmark = needs("tflite")


def test_the_card_is_the_metadata_entry(exported):
    from ai_edge_litert.tools import flatbuffer_utils

    run, _, export = exported
    path = export("tflite")
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    (entry,) = [m for m in model.metadata if m.name.decode() == METADATA_KEY]
    card = open_exported(path).card
    assert json.loads(bytes(model.buffers[entry.buffer].data).decode()) == card.to_json()
    assert card.names == run.read_card().names and card.precision == "float32"


def test_a_corrupt_file_is_refused(exported, zoo_cli, tmp_path):
    _, _, export = exported
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 64 + export("tflite").read_bytes()[64:])
    result = zoo_cli("predict", "--image", photos()[0], "--model", garbage)
    assert result.code == 2 and result.out == "", result.err
    assert result.err.count("\n") == 1 and result.err.startswith("zoo: error: ")
    assert "is not a readable TFLite model" in result.err
