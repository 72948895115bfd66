"""scripts/make_box_canvases.py: bad arguments are one usage line and exit 2, not a
traceback."""

from __future__ import annotations

import pytest

from tests.boxes.helpers import canvas_script


@pytest.mark.parametrize("argv, said", [
    (["--size", "6"], "--size must be at least 16"),
    (["--count", "0"], "--count must be at least 1"),
    (["--data-dir", "/nonexistent"], "pass --data-dir DIR"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, argv, said):
    with pytest.raises(SystemExit) as exit_:
        canvas_script().main([str(tmp_path / "out"), *argv])
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
