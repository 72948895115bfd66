import pytest

from zoo.config import resolve
from zoo.errors import ZooError


def test_precedence_defaults_then_file_then_flags(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("model: lenet\nepochs: 7\nlr: 0.5\n")
    config = resolve(file, {"lr": 0.1, "epochs": None})
    assert config["epochs"] == 7  # from the file
    assert config["lr"] == 0.1  # the flag wins
    assert config["batch_size"] == 64  # the default


def test_config_errors_are_one_line(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("model: lenet\nepohcs: 3\n")
    with pytest.raises(ZooError, match="did you mean epochs"):
        resolve(file, {})
    file.write_text("model: lenet\nepochs: many\n")
    with pytest.raises(ZooError, match="epochs must be a int"):
        resolve(file, {})
    with pytest.raises(ZooError, match="no model"):
        resolve(None, {})
