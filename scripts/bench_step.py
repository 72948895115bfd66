"""MiniVGGNet's training step alone, in one process: images/s per wall second and per CPU-second.

    KERAS_BACKEND=tensorflow .venv/bin/python scripts/bench_step.py --spe 8
    KERAS_BACKEND=tensorflow .venv/bin/python scripts/bench_step.py --spe 8 --keras-bn
    KERAS_BACKEND=tensorflow .venv/bin/python scripts/bench_step.py --spe 8 --jit
    KERAS_BACKEND=jax .venv/bin/python scripts/bench_step.py --spe 8
    ONEDNN_MAX_CPU_ISA=AVX2 ...   # TensorFlow's oneDNN kernels limited to AVX2

`model.fit` on random float32 arrays of 32x32x3 (`--size` sets the side; `--images` of them a
window, batch 64, no validation, no callbacks), after a tracing pass, `--windows` times. Per
window it prints images per wall second and images per CPU-second of this process (user +
system): on a shared or preempted machine the wall rate halves when a core is taken, the
CPU-second rate does not, so it is the steadier figure for comparing two settings of the step.

`--keras-bn` trains with Keras' own batch normalisation arithmetic instead of zoo's fused
TensorFlow kernel (`zoo.models.layers.BatchNormalization`); `--jit` compiles with XLA.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1600, help="images a window")
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--spe", type=int, default=8, help="steps per compiled call")
    parser.add_argument("--size", type=int, default=32, help="image side (MiniVGGNet at SxSx3)")
    parser.add_argument("--jit", action="store_true", help="jit_compile=True (XLA)")
    parser.add_argument("--keras-bn", action="store_true",
                        help="Keras' batch normalisation arithmetic, not the fused kernel")
    args = parser.parse_args()

    from zoo.backend import load_keras

    keras = load_keras()
    from zoo.models import build_model

    if args.keras_bn:
        from bench_fit import use_keras_batch_norm  # this script's folder is on sys.path

        use_keras_batch_norm()
    rng = np.random.default_rng(0)
    x = rng.random((args.images, args.size, args.size, 3), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, args.images), 10)
    keras.utils.set_random_seed(1)
    model = build_model("minivggnet", input_shape=(args.size, args.size, 3), num_classes=10)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss="categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=True if args.jit else "auto", steps_per_execution=args.spe)
    trace = min(640, args.images)
    model.fit(x[:trace], y[:trace], batch_size=64, epochs=1, verbose=0)  # tracing
    wall, cpu = [], []
    for _ in range(args.windows):
        start, start_cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=64, epochs=1, verbose=0)
        wall.append(args.images / (time.perf_counter() - start))
        cpu.append(args.images / (time.process_time() - start_cpu))
    print(json.dumps({
        "backend": keras.backend.backend(), "size": args.size, "jit": args.jit, "spe": args.spe,
        "bn": "keras" if args.keras_bn else "zoo (fused on TensorFlow)",
        "isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "native"),
        "images_per_s": [round(r) for r in wall], "median_images_per_s": round(
            statistics.median(wall)),
        "images_per_cpu_s": [round(r) for r in cpu],
        "median_images_per_cpu_s": round(statistics.median(cpu))}))


if __name__ == "__main__":
    main()
