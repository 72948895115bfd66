"""`zoo lr-find` and `zoo train --lr auto`: the JSON and the plot, one-line refusals before any
data loads, and a run whose config.yaml holds the rate the range test chose."""

import json

import pytest
import yaml

TINY = ("--model", "shallownet", "--dataset", "digits", "--limit", "200", "--batch-size", "32")


def test_json_is_the_suggestions_and_the_plot_and_nothing_else_is_written(zoo_cli, tmp_path):
    plot = tmp_path / "plots" / "lr.png"
    result = zoo_cli("lr-find", *TINY, "--steps", "30", "--json", "-o", plot,
                     "--output", tmp_path / "unused")
    assert result.code == 0, result.err
    found = json.loads(result.out)  # the whole of stdout is one object
    assert set(found) == {"suggested_lr", "valley_lr", "plot"}
    assert found["plot"] == str(plot)
    for key in ("suggested_lr", "valley_lr"):  # each one of the rates tried, or null
        assert found[key] is None or 1e-7 <= found[key] <= 10
    assert found["suggested_lr"] is not None or found["valley_lr"] is not None
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.rglob("*")] == ["plots", "lr.png"]  # no model, no run


def test_text_output_ends_with_the_default_plot_path(zoo_cli, tmp_path):
    result = zoo_cli("lr-find", *TINY, "--steps", "20", "--start", "1e-4", "--end", "1",
                     "--output", tmp_path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    default = tmp_path / "lr-find-shallownet-digits.png"
    assert lines[-1] == str(default) and default.is_file()
    assert lines[0].startswith("steepest descent: ") and lines[1].startswith("valley: ")


@pytest.mark.parametrize("flags, needle", [
    (["--start", "1", "--end", "1"], "--end must be above --start"),
    (["--start", "0.1", "--end", "0.01"], "--end must be above --start"),
    (["--start", "0"], "--start must be a positive learning rate"),
    (["--start=-1e-3"], "--start must be a positive learning rate"),
    (["--steps", "4"], "--steps must be at least 5"),
])
def test_bad_ranges_exit_2_in_one_line_before_the_data_loads(zoo_cli, tmp_path, flags, needle):
    # a dataset that does not exist: had it been read first, the error would name it
    result = zoo_cli("lr-find", "--model", "lenet", "--dataset", f"folder:{tmp_path}/none",
                     *flags, "--output", tmp_path)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("zoo: error: ") and needle in result.err
    assert result.err.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("plot, needle", [
    ("lr", "the plot must end in .png, .svg, .pdf (got 'no suffix')"),
    ("x.txt", "the plot must end in .png, .svg, .pdf (got '.txt')"),
    ("folder", "(got 'no suffix')"),
    ("folder.png", "folder.png is a folder; give a file name ending in .png, .svg, .pdf"),
], ids=["no-suffix", "txt", "folder", "folder-named-png"])
def test_a_bad_plot_path_exits_2_in_one_line_before_the_data_loads(zoo_cli, tmp_path, plot,
                                                                   needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "folder").mkdir()
    (out / "folder.png").mkdir()
    result = zoo_cli("lr-find", "--model", "lenet", "--dataset", f"folder:{tmp_path}/none",
                     "-o", out / plot, "--output", out)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("zoo: error: -o ") and needle in result.err, result.err
    assert result.err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["folder", "folder.png"]
    assert not any((out / "folder").iterdir()) and not any((out / "folder.png").iterdir())


def test_train_lr_auto_saves_the_chosen_rate_and_its_config_repeats_the_run(zoo_cli, tmp_path):
    flags = (*TINY, "--epochs", "1", "--seed", "3", "--output", tmp_path)
    result = zoo_cli("train", *flags, "--lr", "auto", "--name", "auto")
    assert result.code == 0, result.err
    run = tmp_path / "auto"
    config = yaml.safe_load((run / "config.yaml").read_text())
    found = json.loads((run / "lr_find.json").read_text())
    assert isinstance(config["lr"], float) and 1e-7 <= config["lr"] <= 10
    chosen = found["valley_lr"] if found["chose"] == "valley" else found["suggested_lr"]
    assert found["chose"] in ("valley", "steepest") and config["lr"] == found["lr"]
    assert config["lr"] == pytest.approx(chosen, rel=5e-3)  # to 3 significant digits
    assert len(found["lrs"]) == len(found["losses"]) <= found["steps"] == 100
    assert (run / "lr_find.png").read_bytes()[:4] == b"\x89PNG"

    # the saved config is a plain one: the same run again, at that rate, without a test
    again = zoo_cli("train", "--config", run / "config.yaml", "--output", tmp_path,
                    "--name", "again")
    assert again.code == 0, again.err
    assert yaml.safe_load((tmp_path / "again" / "config.yaml").read_text()) == config
    assert not (tmp_path / "again" / "lr_find.json").exists()
    # the test before the auto run left the seed where a run given the rate starts from:
    # the same weights, the same batches, the same epoch (same process, same backend)
    history = json.loads((run / "history.json").read_text())
    repeated = json.loads((tmp_path / "again" / "history.json").read_text())
    assert [row["loss"] for row in repeated] == [row["loss"] for row in history]


def test_train_lr_auto_refuses_a_taken_name_before_the_range_test(zoo_cli, tmp_path,
                                                                  monkeypatch):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.yaml").write_text("model: lenet\n")

    def no_test(*args, **kwargs):
        raise AssertionError("the range test ran before the run name was checked")

    monkeypatch.setattr("zoo.training.lr_finder.choose_lr", no_test)
    result = zoo_cli("train", *TINY, "--epochs", "1", "--lr", "auto", "--output", tmp_path,
                     "--name", "taken")
    assert result.code == 2, result.err
    assert result.err == (f"zoo: error: run directory {taken} already exists; continue it "
                          f"with 'zoo train --resume {taken}' or choose another --name\n")
    assert [p.name for p in taken.iterdir()] == ["config.yaml"]


def test_resume_never_reruns_the_test():
    from zoo.config import resume_config
    from zoo.errors import ZooError

    saved = {"model": "shallownet", "dataset": "digits", "lr": 0.0123}
    with pytest.raises(ZooError, match="--lr cannot change when resuming"):
        resume_config(saved, {"lr": "auto"}, where="RUN")
    assert resume_config(saved, {}, where="RUN").lr == 0.0123
