"""zoo/run.py: the run directory, its paths and the typed reading and writing of its files."""

from zoo.config import resolve
from zoo.run import RunDir


def test_config_of_a_run_round_trips(tmp_path):
    config = resolve(None, {"model": "lenet", "epochs": 3})
    run = RunDir.create(tmp_path, "r")
    run.write_config(config)
    assert RunDir.open(run.path).read_config()["epochs"] == 3
