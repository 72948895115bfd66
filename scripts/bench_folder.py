"""Training from a folder of JPEG photos: `zoo train` against a plain Keras script and an HDF5 file.

Each runner is its own process, started by this script, and the runners alternate (the order
rotates every repeat), so all of them see the same machine state; each row is the median of
the repeats, with their min-max. Every `--image-size` gets its own rounds and its own table.

- plain: the script a Keras user would write: `keras.utils.image_dataset_from_directory(PHOTOS,
  validation_split=0.1, subset="both", seed=1, image_size=(S, S), batch_size=64,
  crop_to_aspect_ratio=True, label_mode="categorical")`, `.map(lambda x, y: (x / 255.0, y))`
  and `.prefetch(tf.data.AUTOTUNE)` on both, `zoo.models.build_model("minivggnet", ...)`
  with Keras' own batch normalisation (zoo's fused kernel off), `model.compile` with
  `SGD(0.01, momentum=0.9, nesterov=True)`, categorical cross-entropy
  and accuracy (so one step per compiled call, Keras' default), then
  `model.fit(train, validation_data=val, epochs=E)`. tf.data decodes, resizes and crops the
  JPEGs in its own threads, every epoch. Keras holds out the last 10% of the seed-shuffled file
  list (rounded down).
- zoo: the `zoo train --model minivggnet --dataset folder:PHOTOS --image-size S,S --val-split
  0.1 --epochs E --batch-size 64 --lr 0.01 --momentum 0.9 --nesterov --seed 1` command itself:
  it decodes the JPEGs in its loader threads, every epoch (Pillow, libjpeg scaling a large
  JPEG down by 2, 4 or 8 as it decodes, `zoo.data.images.open_image`), resizes them (OpenCV)
  aspect-aware with a centre crop, keeps them uint8 until it scales them, runs 8 steps per
  compiled call, writes its checkpoint, best model, history and monitor.png every epoch, and
  at the end evaluates the best model on the validation split (a flat class folder has no
  test split).
  It holds out 10% of the images (`--val-split 0.1`, zoo's default too; stratified by class,
  rounded up) for validation.
- hdf5: `zoo build-hdf5 --dataset folder:PHOTOS --image-size S,S` once per image size, before
  the repeats (timed and printed, not counted in any row), then `zoo train --dataset
  hdf5:FILE` with the same flags as zoo: the same images, decoded once, read back as uint8.

All use SGD 0.01, momentum 0.9, Nesterov, batch 64, seed 1 and validate every epoch on 10% of
the photos (Keras and zoo pick different images for it). Data: `--photos DIR`, a folder with
one sub-folder per class, or by default `--images` (2,000) synthetic photos of `--photo-size`
(1024x768) in two classes written with Pillow at JPEG quality 90: smooth random colour
gradients, a blurred texture, a filled ellipse (class `ellipse`) or triangle (class
`triangle`) of random colour, size and place inside the centre square, and Gaussian noise, so
they compress like photos (about 160 KB each at 1024x768) and the classes are learnable. They
are written once, before any run, so every runner reads them from the page cache.

Figures per run: images/s of the last epoch (training images / that epoch's seconds, from its
start to the end of its validation pass: zoo's `seconds` in history.json, the same span timed
by a callback in plain), seconds for the whole process (start-up, imports, listing the
folder, training, and zoo's final evaluation: wall time from spawn to exit), its peak RSS,
the cores it used on average and the cores every other process used meanwhile, and the last
epoch's validation accuracy.

    .venv/bin/python scripts/bench_folder.py --image-size 64 224 --repeats 3

On a shared machine: before each run the script waits (`--idle-wait`, up to 60 s) for a
second in which other processes use under a quarter of a core, and it prints the cores other
processes used during each run, so disturbed runs can be told apart.

Levers: `--runners` takes extra zoo (or hdf5) variants as `zoo:KEY=VALUE,...`: KEY `spe` for
`--steps-per-execution`, `workers` for the loader threads (ZOO_LOADER_WORKERS), anything else
an environment variable of that process, e.g. `zoo:workers=1 zoo:workers=2`, `zoo:spe=1`,
`hdf5:TF_NUM_INTEROP_THREADS=1`.
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fit import (  # noqa: E402
    START_ENV,
    cpu_model,
    epoch_clock,
    load,
    onednn_default,
    runner_settings,
    span,
    spawn,
    use_keras_batch_norm,
    wait_for_idle,
    zoo_executable,
)

LR, MOMENTUM, SEED, VAL_SPLIT = 0.01, 0.9, 1, 0.1
MARK = "BENCH_JSON "
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# ---------------------------------------------------------------------------------------------
# data (the machine's helpers, spawn and span are bench_fit's)


CLASSES = ("ellipse", "triangle")


def synthetic_photo(rng: np.random.Generator, label: int, width: int, height: int):
    """A photo-like RGB image: a smooth random colour gradient, a blurred texture, the class's
    shape (an ellipse or a triangle of random colour, size and place, inside the centre
    square that an aspect-aware resize keeps) and Gaussian noise."""
    from PIL import Image, ImageDraw, ImageFilter

    gradient = Image.fromarray(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8))
    x = np.asarray(gradient.resize((width, height), Image.BICUBIC), np.float32)
    texture = Image.fromarray(rng.integers(0, 256, (max(2, height // 16), max(2, width // 16)),
                                           dtype=np.uint8))
    x += (np.asarray(texture.resize((width, height), Image.BICUBIC), np.float32)[..., None]
          - 128) * 0.25
    image = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))
    side = min(width, height)
    r = side * rng.uniform(0.12, 0.25)
    cx = width / 2 + rng.uniform(-0.2, 0.2) * side
    cy = height / 2 + rng.uniform(-0.2, 0.2) * side
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    draw = ImageDraw.Draw(image)
    if label == 0:
        draw.ellipse([cx - r * 0.8, cy - r, cx + r * 0.8, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.5 * side / 768))
    x = np.asarray(image, np.float32) + rng.standard_normal((height, width, 3),
                                                           dtype=np.float32) * 5
    return Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))


def write_photos(root: Path, count: int, width: int, height: int, seed: int = 0) -> Path:
    """`count` synthetic JPEG photos (quality 90), half of each class, in
    `root/<class>/NNNNN.jpg`; written in threads (Pillow and numpy release the GIL)."""
    for name in CLASSES:
        (root / name).mkdir(parents=True)

    def one(i):
        label = i % len(CLASSES)
        rng = np.random.default_rng([seed, i])
        path = root / CLASSES[label] / f"{i:05d}.jpg"
        synthetic_photo(rng, label, width, height).save(path, quality=90)
        return path.stat().st_size

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        sizes = list(pool.map(one, range(count)))
    return root, sum(sizes)


def folder_facts(root: Path) -> dict:
    """Image files and bytes under each class folder of `root` (by suffix, as zoo lists)."""
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [f for c in classes for f in c.rglob("*")
             if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
    return {"classes": len(classes), "images": len(files),
            "bytes": sum(f.stat().st_size for f in files)}


# ---------------------------------------------------------------------------------------------
# the plain worker: its own process


def worker_plain(args) -> dict:
    import keras
    import tensorflow as tf

    from zoo.models import build_model

    use_keras_batch_norm()
    size = args.image_size[0]
    keras.utils.set_random_seed(SEED)
    train, val = keras.utils.image_dataset_from_directory(
        args.photos, validation_split=VAL_SPLIT, subset="both", seed=SEED,
        image_size=(size, size), batch_size=args.batch_size, crop_to_aspect_ratio=True,
        label_mode="categorical")
    count, held, classes = len(train.file_paths), len(val.file_paths), len(train.class_names)
    train = train.map(lambda x, y: (x / 255.0, y)).prefetch(tf.data.AUTOTUNE)
    val = val.map(lambda x, y: (x / 255.0, y)).prefetch(tf.data.AUTOTUNE)
    model = build_model("minivggnet", input_shape=(size, size, 3), num_classes=classes)
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM, nesterov=True),
                  loss="categorical_crossentropy", metrics=["accuracy"])

    clock = epoch_clock()
    history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=0,
                        callbacks=[clock])
    return {"epoch_seconds": clock.seconds, "val_accuracy": history.history["val_accuracy"][-1],
            "train_images": count, "val_images": held}


# ---------------------------------------------------------------------------------------------
# the driver


def parse_runner(name: str) -> tuple[str, list[str], dict]:
    """`zoo`, `plain`, `hdf5`, `zoo:spe=4,workers=2,TF_NUM_INTEROP_THREADS=1` or
    `plain:TF_ENABLE_ONEDNN_OPTS=1` -> kind, extra zoo flags, extra environment
    (`bench_fit.runner_settings`). Every runner starts from `bench_fit.START_ENV`, the
    environment before zoo was imported: plain keeps TensorFlow's own oneDNN default."""
    kind, _, spec = name.partition(":")
    if kind not in ("zoo", "plain", "hdf5"):
        raise SystemExit(f"bench_folder: unknown runner {name!r}")
    return (kind, *runner_settings(spec, name if kind == "plain" else None))


def zoo_command(args, dataset: str, size: int, flags, out: Path, name: str) -> list[str]:
    return zoo_executable() + [
        "train", "--model", "minivggnet", "--dataset", dataset, "--image-size", f"{size},{size}",
        "--val-split", str(VAL_SPLIT), "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size), "--lr", str(LR), "--momentum", str(MOMENTUM),
        "--nesterov", "--seed", str(SEED), "--output", str(out), "--name", name] + flags


def build_hdf5(args, photos: Path, size: int, work: Path) -> tuple[Path, dict]:
    """`zoo build-hdf5` of the folder at `size`: the file and the build's figures."""
    path = work / f"photos-{size}.h5"
    command = zoo_executable() + ["build-hdf5", "--dataset", f"folder:{photos}",
                                  "--image-size", f"{size},{size}", "--output", str(path)]
    idle = wait_for_idle(args.idle_wait) if args.idle_wait else None
    seconds, rss, cores, others, done = spawn(command, dict(START_ENV))
    if done.returncode:
        raise SystemExit(f"bench_folder: build-hdf5 failed ({done.returncode}):\n"
                         f"{done.stdout[-3000:]}")
    return path, {"process_seconds": seconds, "peak_rss_mib": rss, "cores": cores,
                  "other_cores": others, "other_cores_before": idle,
                  "mib": path.stat().st_size / 2**20}


def run_one(args, runner: str, size: int, repeat: int, work: Path, photos: Path,
            hdf5: Path | None) -> dict:
    kind, flags, extra_env = parse_runner(runner)
    env = {**START_ENV, **extra_env}
    if kind == "plain":
        command = [sys.executable, __file__, "--worker", "plain", "--photos", str(photos),
                   "--image-size", str(size), "--epochs", str(args.epochs),
                   "--batch-size", str(args.batch_size)]
    else:
        out = work / "runs"
        name = f"{runner.replace(':', '_').replace(',', '_').replace('=', '')}-{size}-{repeat}"
        dataset = f"hdf5:{hdf5}" if kind == "hdf5" else f"folder:{photos}"
        command = zoo_command(args, dataset, size, flags, out, name)
    idle = wait_for_idle(args.idle_wait) if args.idle_wait else None
    seconds, rss, cores, others, done = spawn(command, env)
    if done.returncode:
        raise SystemExit(f"bench_folder: {runner} failed ({done.returncode}):\n"
                         f"{done.stdout[-3000:]}")
    if kind == "plain":
        line = [t for t in done.stdout.splitlines() if t.startswith(MARK)][-1]
        result = json.loads(line[len(MARK):])
    else:
        history = json.loads((out / name / "history.json").read_text())
        result = {"epoch_seconds": [row["seconds"] for row in history],
                  "val_accuracy": history[-1]["val_accuracy"]}
        # zoo's first line: "training minivggnet on ...: 1800 train / 200 val images of ..."
        said = re.search(r": (\d+) train / (\d+) val images", done.stdout)
        if said:
            result["train_images"], result["val_images"] = int(said[1]), int(said[2])
        shutil.rmtree(out / name)
    return {**result, "process_seconds": seconds, "peak_rss_mib": rss, "cores": cores,
            "other_cores": others, "other_cores_before": idle}


def held_out(count: int, fraction: float = VAL_SPLIT) -> tuple[int, int]:
    """zoo's split of `count` images: (train, val); val is rounded up, as zoo rounds it."""
    val = math.ceil(fraction * count) if fraction > 0 else 0
    return count - val, val


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", help="an existing folder with one sub-folder per class "
                        "(default: generate --images synthetic photos)")
    parser.add_argument("--images", type=int, default=2000, help="synthetic photos to write")
    parser.add_argument("--photo-size", default="1024x768", help="synthetic photos: WxH")
    parser.add_argument("--image-size", type=int, nargs="+", default=[64],
                        help="training size S (S,S); several: one table each")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--runners", nargs="+", default=["plain", "zoo", "hdf5"],
                        help="plain, zoo, hdf5, or zoo:KEY=VALUE,... / hdf5:KEY=VALUE,... "
                        "(spe=N, workers=N or ENV=VALUE) / plain:ENV=VALUE")
    parser.add_argument("--idle-wait", type=float, default=60,
                        help="before each run, wait up to this many seconds for other "
                        "processes to use under a quarter of a core (0: don't)")
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument("--worker", choices=("plain",), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker_plain(args)
        print(MARK + json.dumps(result), flush=True)
        return
    if args.epochs < 2:
        print("note: with --epochs 1 the last epoch includes tracing and the first fill of "
              "the pipelines")
    try:
        width, height = (int(v) for v in args.photo_size.lower().split("x"))
    except ValueError:
        parser.error(f"--photo-size: expected WxH, e.g. 1024x768; got {args.photo_size!r}")
    for runner in args.runners:
        parse_runner(runner)

    print(f"CPU: {cpu_model()}; {os.cpu_count()} CPUs; ONEDNN_MAX_CPU_ISA="
          f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; TF_ENABLE_ONEDNN_OPTS for plain: "
          f"{START_ENV.get('TF_ENABLE_ONEDNN_OPTS', '(unset: TensorFlow default, ')}"
          f"{'' if 'TF_ENABLE_ONEDNN_OPTS' in START_ENV else onednn_default() + ')'}, for zoo: "
          f"{START_ENV.get('TF_ENABLE_ONEDNN_OPTS', '1')}; {load()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench_folder-") as tmp:
        work = Path(tmp)
        if args.photos:
            photos = Path(args.photos).expanduser().resolve()
            if not photos.is_dir():
                parser.error(f"--photos: no such directory: {photos}")
        else:
            start = time.perf_counter()
            photos, _ = write_photos(work / "photos", args.images, width, height)
            print(f"wrote {args.images} synthetic {width}x{height} JPEG photos (quality 90) in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
        facts = folder_facts(photos)
        if facts["classes"] < 2 or not facts["images"]:
            raise SystemExit(f"bench_folder: {photos}: expected class sub-folders of images")
        print(f"photos: {facts['images']} images in {facts['classes']} classes, "
              f"{facts['bytes'] / 2**20:.1f} MiB ({facts['bytes'] / facts['images'] / 1024:.0f} "
              f"KiB each) in {photos}{'' if args.photos else ' (synthetic)'}; batch "
              f"{args.batch_size}, {args.epochs} epochs x {args.repeats}", flush=True)

        runners, results = list(args.runners), {}
        for size in args.image_size:
            hdf5, built = None, None
            if any(parse_runner(r)[0] == "hdf5" for r in runners):
                hdf5, built = build_hdf5(args, photos, size, work)
                print(f"\nbuild-hdf5 {size}x{size}: {built['process_seconds']:.1f} s process, "
                      f"{built['peak_rss_mib']:.0f} MiB, {built['mib']:.1f} MiB file; cores "
                      f"used {built['cores']:.2f}, by others {built['other_cores']:.2f} (not "
                      f"counted)", flush=True)
            else:
                print()
            runs = {r: [] for r in runners}
            for repeat in range(args.repeats):
                order = runners[repeat % len(runners):] + runners[: repeat % len(runners)]
                for runner in order:
                    result = run_one(args, runner, size, repeat, work, photos, hdf5)
                    train = result.get("train_images", held_out(facts["images"])[0])
                    result["train_images"] = train
                    result["images_per_second"] = train / result["epoch_seconds"][-1]
                    result["load"] = os.getloadavg()[0]
                    runs[runner].append(result)
                    print(f"{size}x{size} repeat {repeat + 1} {runner:>12s}: "
                          f"{result['images_per_second']:6.1f} images/s last epoch, "
                          f"{result['process_seconds']:5.1f} s process, "
                          f"{result['peak_rss_mib']:5.0f} MiB, val acc "
                          f"{result['val_accuracy']:.3f}; cores used {result['cores']:.2f}, "
                          f"by others {result['other_cores']:.2f}; {load()}", flush=True)
            results[size] = {"hdf5_build": built, "runs": runs}

    for size, entry in results.items():
        runs = entry["runs"]
        print(f"\n{size}x{size}, {facts['images']} photos, {args.epochs} epochs x "
              f"{args.repeats}:\n\n| runner | images/s, last epoch | process s | peak RSS MiB | "
              f"cores used | cores used by others | val acc |\n"
              f"| --- | --- | --- | --- | --- | --- | --- |")
        for runner, rows in runs.items():
            print(f"| {runner} | {span([r['images_per_second'] for r in rows])} | "
                  f"{span([r['process_seconds'] for r in rows])} | "
                  f"{span([r['peak_rss_mib'] for r in rows], 0)} | "
                  f"{span([r['cores'] for r in rows], 2)} | "
                  f"{span([r['other_cores'] for r in rows], 2)} | "
                  f"{span([r['val_accuracy'] for r in rows], 3)} |")
        if entry["hdf5_build"]:
            print(f"\nbuild-hdf5 (once, not counted): "
                  f"{entry['hdf5_build']['process_seconds']:.1f} s")
        base = "plain" if "plain" in runs else runners[0]
        base_s = statistics.median(r["process_seconds"] for r in runs[base])
        base_ips = statistics.median(r["images_per_second"] for r in runs[base])
        for runner in (r for r in runners if r != base):
            seconds = statistics.median(r["process_seconds"] for r in runs[runner])
            ips = statistics.median(r["images_per_second"] for r in runs[runner])
            print(f"ratio {runner}/{base} process s ({base}/{runner}): {base_s / seconds:.3f}; "
                  f"images/s ({runner}/{base}): {ips / base_ips:.3f}")
    print(load())
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"cpu": cpu_model(), "cpus": os.cpu_count(), "photos": facts,
             "env": {k: os.environ.get(k) for k in ("ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE")},
             "sizes": {str(s): e for s, e in results.items()}}, indent=1))


if __name__ == "__main__":
    main()
