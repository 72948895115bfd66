"""Peak memory of `zoo evaluate` on an image folder and on one ten times larger.

Builds two image folders under --work (train/ and test/ of --classes class folders of
--photo-size JPEG photos cut from scikit-learn's two bundled sample photos, each shifted,
scaled and flipped at random so that no two files are alike): a small one with --test test
images and a large one with --scale times as many. Both have the same small train split, so
training is quick, and no --limit is used: zoo's --limit caps every split, the test split
included, and the evaluation must see the whole of it.

For each folder it trains one epoch of ShallowNet at --image-size, then runs
`zoo evaluate RUN` in a fresh process and reports that process's peak resident memory
(`ru_maxrss` of the child, from `os.wait4`) and its wall time. With --old SRC it does the same
with the zoo package at SRC (a `git worktree` of an older commit), run with this Python but
`PYTHONPATH=SRC` and cwd SRC, for a before/after comparison.

    .venv/bin/python scripts/bench_eval_memory.py --work /tmp/zoo-evalmem --old /tmp/zoo-old

Results are printed as a table and written to WORK/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return [np.asarray(image) for image in load_sample_images().images]


def make_image(
    rng: np.random.Generator, sources: list[np.ndarray], label: int, size: int
) -> np.ndarray:
    """A `size` x `size` photo: a random crop (scale 0.5-1 of the shorter side) of one of the
    sample photos, resized, maybe flipped, with a per-class tint so classes differ."""
    from PIL import Image

    source = sources[label % len(sources)]
    h, w = source.shape[:2]
    side = int(rng.uniform(0.5, 1.0) * min(h, w))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(source[top : top + side, left : left + side])
    image = np.asarray(crop.resize((size, size), Image.BILINEAR), dtype=np.float32)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    tint = np.array([(label * 37) % 61, (label * 53) % 61, (label * 71) % 61], np.float32) - 30
    return np.clip(image + tint, 0, 255).astype(np.uint8)


def build_folder(root: Path, train: int, test: int, classes: int, size: int, seed: int) -> None:
    """root/train/class_K/*.jpg and root/test/class_K/*.jpg, `train` and `test` images in all
    (split evenly over the classes); skipped when root/.complete says it is already built."""
    from PIL import Image

    marker = root / ".complete"
    wanted = {"train": train, "test": test, "classes": classes, "size": size, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return
    sources = photos()
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for i in range(count):
            label = i % classes
            folder = root / split / f"class_{label:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            image = make_image(rng, sources, label, size)
            Image.fromarray(image).save(folder / f"{i:06d}.jpg", quality=90)
    marker.write_text(json.dumps(wanted))


def run_measured(cmd: list[str], cwd: Path, env: dict, log: Path) -> tuple[int, float, float]:
    """(exit status, peak RSS in MiB, wall seconds) of `cmd` run as a fresh child process."""
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, usage.ru_maxrss / 1024, wall  # ru_maxrss is in KiB on Linux


def code_env(src: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONSTARTUP", None)
    return env


def check_import(src: Path) -> str:
    found = subprocess.run(
        [sys.executable, "-c", "import zoo; print(zoo.__file__)"],
        cwd=src,
        env=code_env(src),
        capture_output=True,
        text=True,
        check=True,
    )
    path = found.stdout.strip()
    if not Path(path).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"`import zoo` in {src} resolves to {path}, not to that tree")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/zoo-evalmem"))
    parser.add_argument("--old", type=Path, help="source tree of the code to compare with")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train", type=int, default=500, help="train images of each folder")
    parser.add_argument("--test", type=int, default=1000, help="test images of the small folder")
    parser.add_argument(
        "--scale",
        type=int,
        default=10,
        help="the large folder's test split is this many times the small one's",
    )
    parser.add_argument("--photo-size", type=int, default=256, help="side of the JPEG files")
    parser.add_argument("--image-size", default="128,128", help="the model's input size")
    parser.add_argument("--repeats", type=int, default=1, help="evaluations per run")
    args = parser.parse_args(argv)

    work = args.work.resolve()
    folders = {}
    for test in (args.test, args.test * args.scale):
        folder = work / f"folder-{test}"
        t0 = time.perf_counter()
        build_folder(folder, args.train, test, args.classes, args.photo_size, seed=test)
        print(
            f"{folder}: {args.train} train + {test} test images ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        folders[test] = folder

    codes = {"new": REPO}
    if args.old:
        codes["old"] = args.old.resolve()
    h, w = (int(v) for v in args.image_size.split(","))
    results = []
    for label, src in codes.items():
        print(f"{label}: import zoo -> {check_import(src)}", flush=True)
        env = code_env(src)
        for test, folder in folders.items():
            runs = work / f"runs-{label}"
            run = runs / folder.name
            logs = work / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            train_cmd = [
                sys.executable,
                "-m",
                "zoo",
                "train",
                "--model",
                "shallownet",
                "--dataset",
                f"folder:{folder}",
                "--image-size",
                args.image_size,
                "--epochs",
                "1",
                "--output",
                str(runs),
                "--name",
                folder.name,
            ]
            if run.exists():
                import shutil

                shutil.rmtree(run)
            rc, train_rss, train_wall = run_measured(
                train_cmd, src, env, logs / f"train-{label}-{test}.log"
            )
            if rc != 0:
                raise SystemExit(f"training failed ({rc}); see {logs}/train-{label}-{test}.log")
            for repeat in range(args.repeats):
                log = logs / f"evaluate-{label}-{test}-{repeat}.log"
                rc, rss, wall = run_measured(
                    [sys.executable, "-m", "zoo", "evaluate", str(run)], src, env, log
                )
                if rc != 0:
                    raise SystemExit(f"evaluation failed ({rc}); see {log}")
                images = json.loads((run / "metrics.json").read_text())["images"]
                row = {
                    "code": label,
                    "test_images": test,
                    "evaluated": images,
                    "peak_rss_mib": round(rss, 1),
                    "wall_s": round(wall, 2),
                    "train_peak_rss_mib": round(train_rss, 1),
                    "train_wall_s": round(train_wall, 2),
                    "split_at_input_size_mib": round(images * h * w * 3 * 4 / 2**20, 1),
                }
                results.append(row)
                print(json.dumps(row), flush=True)

    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nimage size {args.image_size}, {args.photo_size}px JPEGs, {args.classes} classes")
    print(
        "| code | test images | peak RSS of `zoo evaluate` (MiB) | wall (s) "
        "| the split as float32 at input size (MiB) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for row in results:
        print(
            f"| {row['code']} | {row['evaluated']:,} | {row['peak_rss_mib']:,.0f} "
            f"| {row['wall_s']:.1f} | {row['split_at_input_size_mib']:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
