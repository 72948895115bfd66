"""scripts/bench_gpu.py --tiny: every part of the GPU benchmark run on the CPU, on tiny data,
without TensorFlow as on the GPU machine (but for the plain folder script where grain is not
installed: it keeps tf.data), with a stand-in nvidia-smi, so that the script is known to work
before device time is spent on it."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_gpu.py"
# A stand-in for nvidia-smi: its two queries, the sampling one printing a line every 0.2 s
FAKE_SMI = """#!/bin/sh
case "$*" in
  *name,driver_version*) echo "Fake GPU, 999.1, 1024" ;;
  *utilization.gpu*) while :; do echo "37, 512"; echo "[N/A], [N/A]"; sleep 0.2; done ;;
  *) exit 9 ;;
esac
"""
PARTS = ["fast_preset", "float32", "mixed_bfloat16", "memory_zoo", "memory_plain",
         "folder_zoo_16", "folder_plain_16"]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="the parts run on JAX: pip install -e '.[dev]'")
def test_tiny_run_reports_every_part(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           # tiny steps compile fast unoptimised, and the parts that compile the same steps
           # reuse them: 91 -> 67 s on 2 cores (the device run has neither)
           "XLA_FLAGS": "--xla_backend_optimization_level=0",
           "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--without-tensorflow",
                           "--out", str(tmp_path), "--work", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    report = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert list(report["parts"]) == PARTS
    for name, part in report["parts"].items():
        if part["status"] == "skipped":
            assert part["reason"], name
            continue
        assert part["status"] == "ok", (name, part.get("reason"), part.get("output_tail"))
        assert part["images_per_second"] > 0 and part["wall_s"] > 0, name
        # the sampler read the fake nvidia-smi's lines (its "[N/A]" ones skipped)
        assert part["gpu_whole"]["util_median"] == 37 and part["gpu_whole"]["util_p10"] == 37
        assert part["gpu_whole"]["memory_mib_max"] == 512 and part["gpu_whole"]["samples"] > 1
    fast = report["parts"]["fast_preset"]
    # the preset holds out no validation images: its final test accuracy is the figure
    assert fast["accuracy_key"] == "test_accuracy"
    assert fast["best_accuracy"] == fast["test_accuracy"] and 0 < fast["best_accuracy"] <= 1
    assert fast["epochs_done"] == 2 and len(fast["epoch_seconds"]) == 2
    if fast["time_to_target_s"] is not None:  # reached: at the end of the process
        assert fast["time_to_target_s"] == fast["wall_s"]
        assert fast["epoch_to_target"] in (1, 2)
    assert report["parts"]["memory_plain"]["backend"] == "jax"
    assert report["parts"]["folder_plain_16"]["format"] in ("tf", "grain")
    assert report["environment"]["backend"] == "jax"
    assert report["environment"]["gpu"] == {"name": "Fake GPU", "driver": "999.1",
                                            "memory_mib": 1024}

    table = (tmp_path / "bench_gpu.md").read_text()
    assert "| part | images/s | wall s | GPU util % median / p10, last epoch |" in table
    for name in PARTS:
        row = rf"^\| {name} \| [\d,]+ \| [\d.,]+ \| (37 / 37|n/a) \| 37 \| 512 \|"
        assert re.search(row, table, re.MULTILINE), name
    assert "Device: Fake GPU (1024 MiB, driver 999.1)" in table
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
