"""scripts/bench_gpu.py --tiny: every part of the GPU benchmark run on the CPU, on tiny data,
as on the GPU machine (no TensorFlow in the parts), so the script is known to work before
device time is spent on it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_gpu.py"
PARTS = ["fast_preset", "float32", "mixed_bfloat16", "memory_zoo", "memory_plain",
         "folder_zoo_16", "folder_plain_16"]


def test_tiny_run_reports_every_part(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--without-tensorflow",
                           "--out", str(tmp_path), "--work", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    report = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert list(report["parts"]) == PARTS
    for name, part in report["parts"].items():
        if part["status"] == "skipped":
            assert part["reason"], name
            continue
        assert part["status"] == "ok", (name, part.get("reason"), part.get("output_tail"))
        assert part["images_per_second"] > 0 and part["wall_s"] > 0, name
        assert part["gpu_whole"] is None  # no nvidia-smi here: n/a, not zeros
    fast = report["parts"]["fast_preset"]
    assert fast["accuracy_key"] == "val_accuracy" and 0 < fast["best_accuracy"] <= 1
    assert fast["epochs_done"] == 2 and len(fast["epoch_seconds"]) == 2
    if fast["time_to_target_s"] is not None:  # reached: within the process, at its epoch
        assert 0 < fast["time_to_target_s"] < fast["wall_s"]
        assert fast["epoch_to_target"] in (1, 2)
    assert report["parts"]["memory_plain"]["backend"] == "jax"
    assert report["parts"]["folder_plain_16"]["format"] in ("tf", "grain")
    assert report["environment"]["backend"] == "jax"

    table = (tmp_path / "bench_gpu.md").read_text()
    assert "| part | images/s | wall s | GPU util % median / p10, last epoch |" in table
    for name in PARTS:
        assert re.search(rf"^\| {name} \| [\d,]+ \| [\d.,]+ \| n/a \|", table, re.MULTILINE), name
    assert "bench_gpu.md" in done.stdout


def test_device_command_fits_the_tool():
    """The docstring's command for the device tool is one line under its 2,000 characters
    and installs the wheels that --prepare downloads into the carried folder."""
    text = SCRIPT.read_text()
    block = text.split("and this command:\n\n", 1)[1].split("\n\n", 1)[0]
    command = " ".join(line.strip() for line in block.splitlines())
    assert len(command) < 2000
    assert command.startswith("python3 -m pip install") and ".bench_gpu/wheels/*.whl" in command
    assert "KERAS_BACKEND=jax" in command and "--out $OUT" in command
    assert 'carry=[".bench_gpu"]' in text
