"""ONNX files (`zoo.predict.onnx`): the card in `metadata_props`, written and read; files
that are corrupt, or whose card is another model's or missing, refused in one line."""

import json

from tests.predict.helpers import EXPORT_NAMES, needs, photos
from zoo.card import ModelCard
from zoo.predict.exported import METADATA_KEY
from zoo.predict.formats import open_exported

pytestmark = needs("onnx")


def test_the_card_is_the_metadata_entry(exported, tmp_path):
    import onnx
    import onnxruntime

    from zoo.predict.onnx import write_card

    run, _, export = exported
    path = export("onnx")
    text = onnxruntime.InferenceSession(str(path)).get_modelmeta().custom_metadata_map[
        METADATA_KEY]
    card = open_exported(path).card
    assert json.loads(text) == card.to_json()
    assert card.replace(name=None, source=None, precision=None,
                        exported_by=None) == run.read_card()
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(path.read_bytes())
    write_card(copy, ModelCard.numbered(10, (24, 24, 3), name="other"))
    assert [p.key for p in onnx.load(str(copy)).metadata_props] == [METADATA_KEY]  # replaced
    assert open_exported(copy).card.name == "other"


def test_corrupt_and_mismatched_files_are_refused(exported, zoo_cli, tmp_path):
    import onnx

    _, _, export = exported
    onnx_path = export("onnx")
    cases = []
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(onnx_path.read_bytes()[:5000])
    cases.append((truncated, "is not a readable ONNX model"))
    model = onnx.load(str(onnx_path))
    entry = model.metadata_props[0]
    other = {**json.loads(entry.value), "labels": EXPORT_NAMES[:3]}  # another model's metadata
    entry.value = json.dumps(other)
    onnx.save(model, str(tmp_path / "mismatched.onnx"))
    cases.append((tmp_path / "mismatched.onnx",
                  "metadata describes a model taking 24x24x3 with 3 classes, but the model "
                  "takes 24x24x3 with 10 outputs"))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    cases.append((tmp_path / "bare.onnx", "has no zoo metadata"))
    for path, message in cases:
        result = zoo_cli("predict", "--image", photos()[0], "--model", path)
        assert result.code == 2 and result.out == "", (path, result.err)
        assert result.err.count("\n") == 1 and result.err.startswith("zoo: error: ")
        assert message in result.err
