"""Single-image latency (cold: a new `zoo predict` process, start-up included) and batch
throughput of ImageNet models on this machine, with random weights saved to a temp file
(ImageNet weights cannot be downloaded here; the arithmetic is the same).

    .venv/bin/python scripts/bench_predict.py --models vgg16 resnet50 mobilenetv2
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50", "mobilenetv2"])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    import numpy as np
    import sklearn

    from zoo.backend import load_keras

    keras = load_keras()
    from zoo.models import build_model
    from zoo.predict.loaders import load_predictor

    image = str(Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg")
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs")
    print(f"{'model':14s} {'cold single image (s)':>22s} {'batch images/s':>16s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            weights = Path(tmp) / f"{name}.weights.h5"
            build_model(name).save_weights(weights)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "zoo", "predict", "--image", image, "--model",
                            name, "--weights", str(weights), "--device", "cpu"], check=True,
                           capture_output=True)
            cold = time.perf_counter() - start
            predictor = load_predictor(name, str(weights))
            # the warm rate is model.predict's, as BENCHMARKS.md recorded it: zoo predict calls
            # the model directly for its first images (CALL_DIRECTLY), which this would time
            predictor.model.seen_all()
            batch = np.random.default_rng(0).uniform(0, 255, (args.batch,
                                                               *predictor.input_shape))
            predictor.predict(batch.astype("float32"), args.batch)  # warm-up
            start = time.perf_counter()
            predictor.predict(batch.astype("float32"), args.batch)
            rate = args.batch / (time.perf_counter() - start)
            print(f"{name:14s} {cold:22.2f} {rate:16.1f}", flush=True)
            keras.backend.clear_session()


if __name__ == "__main__":
    main()
