"""Images/s of `zoo train` on one device, on two devices of one process, and in two processes,
side by side in one run (alternated, medians of --repeats).

    python scripts/bench_distribute.py                       # JAX: 1 vs 2 devices vs 2 processes
    python scripts/bench_distribute.py --backend tensorflow  # TF: 1 vs 2 (logical) devices

On a CPU the "devices" are the CPU split in two (XLA_FLAGS / ZOO_CPU_DEVICES), so the same
cores do the same work: expect no speed-up, only the cost of the all-reduce. The point on a
CPU is correctness (tests/training/test_distribution.py); on a GPU box, run it there.
The figure is the last epoch's images/s (the first includes compilation) and the whole
process's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(kind: str, backend: str, out: Path, name: str, plan: list[str]) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("XLA_FLAGS", None)
    argv = [sys.executable, "-m", "zoo", "train", *plan, "--output", str(out), "--name", name]
    commands = []
    if kind == "1 device":
        commands.append(argv)
    elif kind == "2 devices":
        env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", ZOO_CPU_DEVICES="2")
        commands.append([*argv, "--distribute", "data-parallel"])
    else:
        port = free_port()
        for i in range(2):
            commands.append([*argv, "--distribute", "data-parallel", "--coordinator",
                             f"127.0.0.1:{port}", "--num-processes", "2", "--process-id",
                             str(i)])
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for c in commands]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"{kind} failed: {errors[0][-1500:]}")
    history = json.loads((out / name / "history.json").read_text())
    images = json.loads((out / name / "metrics.json").read_text())
    train_images = images["images_per_second"] * images["train_seconds"] / images["epochs"]
    return {"images_per_s": train_images / history[-1]["seconds"], "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="jax", choices=("jax", "tensorflow"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="minivggnet")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--limit", default="6000")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--batch-size", default="64")
    parser.add_argument("--kinds", default="1 device,2 devices,2 processes",
                        help="which runners, comma-separated (2 processes: JAX only)")
    args = parser.parse_args()
    plan = ["--model", args.model, "--dataset", args.dataset, "--limit", args.limit,
            "--epochs", args.epochs, "--batch-size", args.batch_size]
    kinds = [k.strip() for k in args.kinds.split(",")
             if args.backend == "jax" or k.strip() != "2 processes"]
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for kind in kinds:
                name = f"{kind.replace(' ', '-')}-{repeat}"
                results[kind].append(launch(kind, args.backend, Path(tmp), name, plan))
                print(f"{kind:12s} run {repeat + 1}: "
                      f"{results[kind][-1]['images_per_s']:.0f} images/s, "
                      f"{results[kind][-1]['wall_s']:.1f} s", file=sys.stderr)
    print(f"{args.backend}, {args.model} on {args.dataset} (limit {args.limit}), batch "
          f"{args.batch_size}, {args.epochs} epochs; median (min-max) of {args.repeats}, "
          f"{os.cpu_count()} cores")
    print("| runner | images/s, last epoch | process wall s |")
    print("|---|---|---|")
    for kind, rows in results.items():
        speed = [r["images_per_s"] for r in rows]
        wall = [r["wall_s"] for r in rows]
        print(f"| {kind} | {statistics.median(speed):.0f} ({min(speed):.0f}-{max(speed):.0f}) "
              f"| {statistics.median(wall):.1f} ({min(wall):.1f}-{max(wall):.1f}) |")


if __name__ == "__main__":
    main()
