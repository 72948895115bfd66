"""The transfer experiment of BENCHMARKS.md, on Debian's real Fashion-MNIST.

Source task: classes 0-4 (T-shirt, trouser, pullover, dress, coat) with all their training
images. Target task: classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) with 100 training
images per class, tested on all 5,000 of their test images. Every row runs a real `zoo`
command in its own process; the table gives test accuracy (rank-1, rank-5) and wall time.

    .venv/bin/python scripts/bench_transfer.py --work /tmp/zoo-transfer

Validation: zoo holds out 10% of the target classes' training images (3,000) before
`--per-class` picks the 500 training images; every row chooses its best epoch or its
hyper-parameters on that same split, and none of them trains on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TARGET = ["--dataset", "fashion_mnist", "--classes", "5,6,7,8,9", "--per-class", "100"]
SCRATCH = ["--model", "minivggnet", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "32"]


def zoo(*argv) -> float:
    """Run `zoo ARGV` and return its wall time; stop the benchmark if it fails."""
    command = [sys.executable, "-m", "zoo", *map(str, argv)]
    print("$ zoo " + " ".join(map(str, argv)), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--source-epochs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30, help="target-task training epochs")
    args = parser.parse_args()
    out = args.work / "runs"
    out.mkdir(parents=True, exist_ok=True)
    rows = []

    def row(name, seconds, run):
        m = metrics(run)
        rows.append({"row": name, "accuracy": m["accuracy"], "top5": m["top5_accuracy"],
                     "images": m["images"], "seconds": round(seconds, 1), "run": str(run)})
        print(f"  {name}: {m['accuracy']:.4f} on {m['images']} images, {seconds:.0f} s",
              flush=True)

    source = out / "source"
    seconds = zoo("train", *SCRATCH, "--dataset", "fashion_mnist", "--classes", "0,1,2,3,4",
                  "--epochs", args.source_epochs, "--output", out, "--name", "source")
    row("source network (classes 0-4, all images)", seconds, source)

    scratch_seconds = []
    for seed in (1, 2, 3):
        scratch_seconds.append(zoo("train", *SCRATCH, *TARGET, "--epochs", args.epochs,
                                   "--seed", seed, "--output", out, "--name", f"scratch{seed}"))
    row("MiniVGGNet from scratch on the 500", scratch_seconds[0], out / "scratch1")

    seconds = zoo("baseline", "--features", "pixels", "--classifier", "knn", "--grid", *TARGET,
                  "--output", out, "--name", "pixels-knn")
    row("raw-pixel k-NN (k and metric on val)", seconds, out / "pixels-knn")

    seconds = zoo("baseline", "--features", "hog", "--classifier", "logreg", "--grid", *TARGET,
                  "--output", out, "--name", "hog-logreg")
    row("HOG + logistic regression (C on val)", seconds, out / "hog-logreg")

    features = args.work / "source-features.h5"
    seconds = zoo("extract", "--model", source, *TARGET, "--output", features)
    seconds += zoo("fit-features", features, "--classifier", "logreg", "--grid", "--output",
                   out, "--name", "features-logreg")
    row("source network's features + logistic regression", seconds, out / "features-logreg")

    seconds = zoo("train", "--pretrained", source, *TARGET, "--optimizer", "adam", "--lr",
                  "0.001", "--batch-size", "32", "--epochs", args.epochs, "--head-epochs",
                  args.epochs // 3, "--output", out, "--name", "fine-tuned")
    row("source network fine-tuned (head, then all layers)", seconds, out / "fine-tuned")

    seconds = zoo("evaluate", "--ensemble", *(out / f"scratch{s}" for s in (1, 2, 3)),
                  "--output", out / "ensemble")
    row("ensemble of three scratch runs", seconds + sum(scratch_seconds), out / "ensemble")

    (args.work / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| row | test accuracy | top-5 | test images | wall time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['row']} | {r['accuracy']:.4f} | {r['top5']:.4f} | {r['images']} | "
              f"{r['seconds']} |")


if __name__ == "__main__":
    main()
