"""Bags of visual words against HOG on a Fashion-MNIST subset: k-NN and linear-SVM accuracy.

For each extractor the script runs what `zoo baseline` runs, in-process (so the timings hold
no start-up): `zoo.features.hdf5.extract` on `fashion_mnist` with `--per-class` training
images of each class and `--limit` test images (a seeded stratified sample; `--val-split 0`,
no validation), which for a bag of visual words first learns the codebook on the training
images alone; then `zoo.features.classifiers.fit_features` with `knn` (1 nearest neighbour,
Euclidean) and `linearsvm` (standardised features, C=1), no grid search, each scored once on
the test images.

Figures per row: the words K, the input size, the seconds to learn the codebook (describing
every training image, then MiniBatchKMeans), the seconds to describe every image (train and
test) with the learned words and its images/s, the mean number of descriptors of an image,
the share of images without any, and each classifier's test accuracy and fit seconds.

    nice -n 15 .venv/bin/python scripts/bench_bovw.py --per-class 200 --limit 2000

(2,000 training and 2,000 test images; Fashion-MNIST from Debian's files in
/usr/share/datasets/fashion-mnist, which `zoo datasets` lists as `fashion_mnist`.) Variants:
`--extractors` takes `NAME[:dense][:tfidf][:K]` items, e.g. `sift-bovw:dense:512`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# hog last: the linear SVM on its 1,764 standardised values takes minutes to converge
DEFAULT_EXTRACTORS = ("sift-bovw", "rootsift-bovw", "orb-bovw", "sift-bovw:dense",
                      "orb-bovw:dense", "rootsift-bovw:dense", "rootsift-bovw:tfidf", "hog")


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown")


def make(item: str):
    """The extractor an `--extractors` item names."""
    from zoo.features.extractors import get_extractor

    name, *options = item.split(":")
    words = next((int(o) for o in options if o.isdigit()), None)
    return get_extractor(name, words=words, tfidf="tfidf" in options, dense="dense" in options)


def batches(extractor, data: dict, which: str, size: int = 256):
    """The images of split `which`, at the extractor's size, as `extract` reads them."""
    from zoo.data.datasets import load_dataset
    from zoo.data.pipeline import Transform, load_batch

    shape = extractor.input_shape[:2]
    split = getattr(load_dataset("fashion_mnist", **data, image_size=shape, channels=3), which)
    transform = Transform(size=shape, channels=3, mode="raw")
    for start in range(0, len(split), size):
        yield load_batch(split, split.indices[start : start + size], transform)[0]


def descriptor_counts(extractor, data: dict) -> tuple[float, float]:
    """Mean descriptors of a test image and the share of test images without any."""
    import numpy as np

    counts = np.array([len(extractor.descriptors(gray)) for x in batches(extractor, data, "test")
                       for gray in extractor._grays(x)])
    return float(counts.mean()), float((counts == 0).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=200,
                        help="training images of each class")
    parser.add_argument("--limit", type=int, default=2000, help="test images (at most)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--extractors", nargs="+", default=list(DEFAULT_EXTRACTORS))
    parser.add_argument("--json", metavar="FILE", help="also write the rows to FILE")
    args = parser.parse_args()

    from zoo.backend import load_keras

    load_keras()  # quietly, as the CLI does, before fit_features' report imports it
    from zoo.features.classifiers import fit_features
    from zoo.features.hdf5 import extract, read_features

    data = dict(seed=args.seed, val_split=0.0, limit=args.limit, per_class=args.per_class)
    print(f"# {cpu_model()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"fashion_mnist --per-class {args.per_class} --limit {args.limit} --val-split 0 "
          f"--seed {args.seed}", flush=True)
    header = ("| extractor | K | input | codebook s | describe s | images/s | descriptors "
              "| none | k-NN | linear SVM |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, item in enumerate(args.extractors):
            extractor = make(item)
            out = Path(tmp) / f"{i}.h5"
            fitted = getattr(extractor, "needs_fit", False)
            fit_seconds = 0.0
            if fitted:  # the codebook, timed on its own (extract would fit it first)
                started = time.perf_counter()
                count = sum(len(x) for x in batches(extractor, data, "train"))
                extractor.fit(lambda e=extractor: batches(e, data, "train"), count=count,
                              seed=args.seed)
                fit_seconds = time.perf_counter() - started
            started = time.perf_counter()
            extract(extractor, "fashion_mnist", out, batch_size=256, **data)
            describe_seconds = time.perf_counter() - started
            features = read_features(out)
            images = len(features.features)
            row = {"extractor": item, "words": extractor.dim, "input":
                   "x".join(map(str, extractor.input_shape[:2])),
                   "codebook_seconds": round(fit_seconds, 1),
                   "describe_seconds": round(describe_seconds, 1),
                   "images_per_second": round(images / describe_seconds, 1),
                   "train": int((features.split == "train").sum()),
                   "test": int((features.split == "test").sum())}
            if fitted:
                row["descriptors"], row["none"] = descriptor_counts(extractor, data)
            for classifier in ("knn", "linearsvm"):
                _, metrics = fit_features(out, classifier, output=tmp,
                                          name=f"{i}-{classifier}", seed=args.seed)
                row[classifier] = round(metrics["accuracy"], 4)
                row[f"{classifier}_fit_seconds"] = metrics["fit_seconds"]
            rows.append(row)
            cells = [item, row["words"], row["input"], row["codebook_seconds"],
                     row["describe_seconds"], row["images_per_second"],
                     f"{row['descriptors']:.1f}", f"{row['none']:.1%}"] if fitted else \
                [item, "-", row["input"], "-", row["describe_seconds"],
                 row["images_per_second"], "-", "-"]
            cells += [f"{row['knn']:.4f}", f"{row['linearsvm']:.4f}"]
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
