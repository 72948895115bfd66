"""`zoo check`: the sanity checks to run before a long training run, one function each.

The recipe of Karpathy's "A Recipe for Training Neural Networks" (2019) and of CS231n's notes
("Neural Networks Part 3: sanity checks"), run on the model, data and optimizer of a
`zoo train` command line:

    initial_loss(model, batch, classes)       the fresh model's loss against ln(classes), and
                                              whether its outputs are one softmax's
    overfit_two_batches(model, config, ...)   100% training accuracy on 2 small batches
    data_report(splits)                       class counts, imbalance, train/test leaks by a
                                              hash of the pixels, image shapes
    lr_range(config, steps)                   Smith's range test (`zoo.training.lr_finder`)
    run_checks(config)                        all four, on what `zoo train` would build

Each returns a `Check`: its name, whether it passed, one line saying what it found (and, when
it failed, what to do), and its figures (JSON-ready).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from zoo.errors import ZooError

log = logging.getLogger("zoo")

CHECKS = ("initial_loss", "overfit", "data", "lr_range")  # the order run_checks runs them in

# initial_loss: a fresh softmax whose logits have spread `s` (std over classes) starts at a
# loss of about ln k + s^2 / 2 (the second-order expansion of the log-sum-exp around equal
# logits), so |loss - ln k| within half of ln k admits s up to about sqrt(ln k): 1.5 for 10
# classes, 2.6 for 1,000. Measured on digits (ln 10 = 2.30; the first step's loss, in
# training mode), the registered models without normalisation (lenet, lenet5, shallownet,
# vgg16, googlenet) start at 2.28 to 2.33; those with BatchNormalization at 2.2 to 9.7
# (their last features have unit variance: minivggnet 3.5 to 4.3, efficientnetb0 7.4,
# resnet110 9.7) and train well. So a loss above the bound is a warning, and only one below
# it (a fresh model that knows the labels) fails; the broken softmaxes are caught otherwise:
# outputs that are not probabilities, and `saturated_confidence` for a softmax of a softmax.
LOSS_TOLERANCE = 0.5  # times ln k
ROW_SUM_TOLERANCE = 1e-2  # probabilities sum to 1 within this (bfloat16 carries 3 digits)
# a softmax whose logits are scaled to a spread (std over classes) of SATURATED_SPREAD is
# confident: the median image's top probability is 1 to many digits. A softmax of a softmax
# (inputs in [0, 1]) cannot pass e / (e + k - 1) however its logits are scaled: 0.73 for 2
# classes, 0.23 for 10.
SATURATED_SPREAD = 50.0
CONFIDENT = 0.9
EPSILON = 1e-7  # Keras' cross-entropy clips probabilities to [EPSILON, 1 - EPSILON]

OVERFIT_BATCH = 16  # images in each of the two batches
# the bound: on digits with sgd at 0.01 (6 seeds) lenet took 97-110 steps, shallownet 53-69,
# minivggnet 18-46, minigooglenet 12-15, resnet20 6-12
OVERFIT_STEPS = 300
LOSS_BATCH = 64  # images the initial loss is the mean over
LR_STEPS = 60  # the range test's steps (zoo lr-find's 100 is the thorough one)
IMBALANCE_WARNING = 10.0  # the largest class over the smallest, above which check warns
HASH_BATCH = 256  # images hashed per load
EXAMPLES = 5  # leaked pairs named in the figures


@dataclass(frozen=True)
class Check:
    """The outcome of one check.

    Attributes:
        name: one of `CHECKS`.
        passed: whether the check passed (a warning passes; its words are in `summary`).
        summary: one line: what was found, and when it failed what is wrong and what to do.
        figures: every number the check measured, JSON-ready.
    """

    name: str
    passed: bool
    summary: str
    figures: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "passed": self.passed, "summary": self.summary,
                "figures": self.figures}

    def line(self) -> str:
        """`PASS name: summary` or `FAIL name: summary`."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.summary}"


# ---------------------------------------------------------------------------------------------
# 1. the initial loss


def _class_indices(y) -> np.ndarray:
    """Integer labels from one-hot rows or from integers."""
    y = np.asarray(y)
    return y.argmax(axis=-1) if y.ndim == 2 else y.astype(np.int64)


def _predict(model, x, training: bool = False) -> np.ndarray:
    """`model`'s outputs on `x` as float64. With `training`, as a training step computes them
    (batch statistics in BatchNormalization, dropout on), and with every non-trainable
    variable (BatchNormalization's moving statistics) left as it was."""
    import keras

    if not training:
        return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), np.float64)
    kept = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    try:
        out = model(x, training=True)
    finally:
        for v, value in zip(model.non_trainable_variables, kept, strict=True):
            v.assign(value)
    return np.asarray(keras.ops.convert_to_numpy(out), np.float64)


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """The mean categorical cross-entropy as Keras computes it from probabilities (each row
    divided by its sum, then clipped to `[EPSILON, 1 - EPSILON]`): the loss a fit would see."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a linear head's rows sum to ~0
        rows = probs / probs.sum(axis=1, keepdims=True)
        picked = np.clip(rows[np.arange(len(labels)), labels], EPSILON, 1 - EPSILON)
        return float(np.mean(-np.log(picked)))


def _last_kernel(model):
    """The kernel of the model's last Dense or convolution (the classifier), or None."""
    return next((v for v in reversed(model.weights)
                 if v.path.rsplit("/", 1)[-1] == "kernel"), None)


def _spread(probs: np.ndarray) -> np.ndarray:
    """Each row's standard deviation over classes of the log-probabilities: of one softmax,
    its logits' (a softmax subtracts one number from every logit of a row)."""
    return np.log(np.clip(probs, 1e-30, None)).std(axis=1)


def saturated_confidence(model, x) -> tuple[float | None, float | None]:
    """The median top probability of `model` on `x` with its last kernel scaled until the
    logits' spread is `SATURATED_SPREAD` (restored after), and that scale: about 1 when the
    outputs are one softmax of the logits, at most e / (e + k - 1) for a softmax of a
    softmax. The scale adapts because fresh logits range from hundredths (GoogLeNet, 22
    ReLU layers without normalisation) to tens (a ResNet in inference mode).

    Returns:
        `(median top probability, scale)`; `(None, None)` when the model has no kernel, its
        outputs do not vary over classes, or the scaled outputs are not finite.
    """
    kernel = _last_kernel(model)
    if kernel is None:
        return None, None
    import keras

    # inference mode first: a fresh BatchNormalization after the kernel is then an identity
    # (moving mean 0, variance 1) that passes the scale on, where its batch statistics
    # would divide it away. Training mode where inference mode's outputs do not vary (a
    # fresh MobileNet's at 32x32 are equal for every class).
    for training in (False, True):
        spread = float(np.median(_spread(_predict(model, x, training))))
        if spread > 0 and math.isfinite(spread):
            break
    else:
        return None, None
    scale = max(1.0, SATURATED_SPREAD / spread)
    saved = keras.ops.convert_to_numpy(kernel)
    try:
        kernel.assign(saved * scale)
        probs = _predict(model, x, training)
    finally:
        kernel.assign(saved)
    if not np.all(np.isfinite(probs)):
        return None, None
    return float(np.median(probs.max(axis=1))), scale


def initial_loss(model, batch: tuple, classes: int) -> Check:
    """The mean cross-entropy of the fresh `model` on `batch` against ln(`classes`), the loss
    of a uniform guess, and whether its outputs are one softmax.

    The outputs are computed as the first training step computes them (batch statistics in
    BatchNormalization, dropout on; the moving statistics are left as they were). Fails when
    the outputs are not probabilities (a row's sum off 1 by more than `ROW_SUM_TOLERANCE`, or
    values outside [0, 1]: the last layer lacks its softmax), when the outputs cannot become
    confident (a softmax of a softmax, whose loss at initialisation is ln k to a hundredth and
    so no loss bound can catch: `saturated_confidence` below `CONFIDENT`), or when the loss
    is below `ln k - LOSS_TOLERANCE * ln k` (a fresh model that knows the labels). A loss
    above `ln k + LOSS_TOLERANCE * ln k` passes with a warning: networks with
    BatchNormalization often start there and train well (see `LOSS_TOLERANCE`).

    Args:
        model: a model with fresh weights, its outputs the probabilities of `classes`.
        batch: `(x, y)`, inputs as the model takes them and labels (integers or one-hot).
        classes: the number of classes, k.

    Returns:
        The `Check`; figures `loss`, `expected` (ln k), `tolerance`, `classes`, `images`,
        `row_sum_min`, `row_sum_max`, `output_min`, `output_max`, `logit_spread` (the mean
        over images of the standard deviation over classes of the log-probabilities, which
        is the logits'), `median_top_probability`, `saturated_top_probability` and
        `saturation_scale` (`saturated_confidence`), `warning` (or None).
    """
    x, y = batch
    labels = _class_indices(y)
    probs = _predict(model, x, training=True)
    if probs.ndim != 2 or probs.shape[-1] != classes:
        return Check("initial_loss", False, f"the model's outputs have shape "
                     f"{tuple(probs.shape[1:])} for {classes} classes: end it with "
                     f"{classes} softmax outputs", {"classes": int(classes),
                                                    "output_shape": list(probs.shape[1:])})
    expected = math.log(classes)
    tolerance = LOSS_TOLERANCE * expected
    rows = probs.sum(axis=1)
    finite = bool(np.all(np.isfinite(probs)))
    loss = cross_entropy(probs, labels) if finite else float("nan")
    spread = float(np.mean(_spread(probs))) if finite and probs.min() >= 0 else None
    figures = {"loss": _num(loss), "expected": expected, "tolerance": tolerance,
               "classes": int(classes), "images": len(labels),
               "row_sum_min": _num(rows.min()), "row_sum_max": _num(rows.max()),
               "output_min": _num(probs.min()), "output_max": _num(probs.max()),
               "logit_spread": spread,
               "median_top_probability": _num(np.median(probs.max(axis=1))),
               "saturated_top_probability": None, "saturation_scale": None, "warning": None}
    if not finite:
        return Check("initial_loss", False, "the fresh model's outputs are not finite (NaN or "
                     "inf): look for a division or a log in the model, or inputs out of range",
                     figures)
    stated = f"loss {loss:.3f} vs ln({classes}) = {expected:.3f}"
    probabilities = (probs.min() >= -1e-6 and probs.max() <= 1 + 1e-6
                     and np.all(np.abs(rows - 1) <= ROW_SUM_TOLERANCE))
    if not probabilities:
        return Check("initial_loss", False, f"the outputs are not probabilities (rows sum to "
                     f"{rows.min():.3g}..{rows.max():.3g}, values {probs.min():.3g}.."
                     f"{probs.max():.3g}; {stated}): end the model with a softmax "
                     "(zoo's loss expects probabilities)", figures)
    confident, scale = saturated_confidence(model, x)
    figures["saturated_top_probability"], figures["saturation_scale"] = confident, scale
    if confident is not None and confident < CONFIDENT:
        return Check("initial_loss", False, f"{stated}, but the outputs cannot become "
                     f"confident (with the last kernel x{scale:.3g} the median top "
                     f"probability is {confident:.3f}; one softmax reaches 1): a softmax "
                     "applied twice? end the model with exactly one", figures)
    if loss < expected - tolerance:
        return Check("initial_loss", False, f"{stated}, below it by more than "
                     f"{tolerance:.3f} (half of ln k): the fresh model already knows the "
                     "labels; check that they do not leak into the inputs", figures)
    if loss > expected + tolerance:
        figures["warning"] = (f"above ln k by more than {tolerance:.3f} (half of ln k): the "
                              f"fresh logits spread {spread:.2f} (median top probability "
                              f"{figures['median_top_probability']:.2f})")
        return Check("initial_loss", True, f"{stated}; warning: {figures['warning']}; "
                     "networks with BatchNormalization often start so and train well, one "
                     "without has unscaled inputs or a last layer initialised too large",
                     figures)
    return Check("initial_loss", True, f"{stated} (within {tolerance:.3f}) over "
                 f"{len(labels)} images", figures)


# ---------------------------------------------------------------------------------------------
# 2. overfitting two batches


def overfit_config(config):
    """`config` as the overfitting test compiles it: a constant rate (`lr`, or the default
    0.01 when it is "auto"), no schedule, no warm-up, one step per call."""
    from zoo.config import AUTO, FIELDS_BY_NAME

    lr = FIELDS_BY_NAME["lr"].default if config.lr == AUTO else config.lr
    return config.replace(lr=lr, lr_schedule="none", warmup_epochs=0, steps_per_execution=1)


def overfit_two_batches(model, config, batches: Sequence[tuple],
                        max_steps: int = OVERFIT_STEPS) -> Check:
    """Train the fresh `model` on the same two batches, alternately, until the training
    accuracy of both is 100% or `max_steps` steps are taken.

    The optimizer and its settings are `config`'s, at a constant rate (`overfit_config`); no
    augmentation (the batches are what they are), dropout as in training. The accuracy is
    the one `train_on_batch` reports, of each batch just before its step; it is reached when
    the last step on each batch saw every image right. A model that cannot memorise 32
    images cannot learn the dataset: its labels or its architecture are broken (or the rate
    is far off).

    Args:
        model: a model with fresh weights (it is compiled and trained here).
        config: the run's settings (`zoo.config.Config`).
        batches: two `(x, y)` batches, labels integers or one-hot.
        max_steps: the most steps. Defaults to `OVERFIT_STEPS`.

    Returns:
        The `Check`; figures `steps`, `max_steps`, `reached`, `loss`, `accuracy` (each the mean
        of the two batches' last), `eval_accuracy` (inference mode, after the last step:
        BatchNormalization's moving statistics lag so few steps behind, so it is low for
        such networks whatever they learnt), `lr`, `optimizer`, `images`, `batch_sizes`,
        `losses` (every step's).
    """
    from zoo.training.compile import compile_model

    if len(batches) != 2:
        raise ValueError(f"overfit_two_batches takes 2 batches. Received: {len(batches)}")
    if max_steps < 2:
        raise ZooError(f"the overfitting test needs at least 2 steps; got {max_steps}")
    classes = int(model.outputs[0].shape[-1])
    plan = overfit_config(config)
    compile_model(model, plan, 2, classes)
    data = [(x, np.eye(classes, dtype=np.float32)[_class_indices(y)]) for x, y in batches]
    losses: list[float] = []
    last = [{"loss": math.nan, "accuracy": 0.0}, {"loss": math.nan, "accuracy": 0.0}]
    steps, reached, diverged = 0, False, False
    for step in range(max_steps):
        x, y = data[step % 2]
        logs = model.train_on_batch(x, y, return_dict=True)
        last[step % 2] = {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])}
        losses.append(float(logs["loss"]))
        steps = step + 1
        if not math.isfinite(losses[-1]):
            diverged = True
            break
        if step >= 1 and all(b["accuracy"] >= 1.0 for b in last):
            reached = True
            break
    eval_correct = sum(int((_predict(model, x).argmax(axis=1) == _class_indices(y)).sum())
                       for x, y in data)
    images = sum(len(x) for x, _ in data)
    loss = float(np.mean([b["loss"] for b in last]))
    accuracy = float(np.mean([b["accuracy"] for b in last]))
    figures = {"steps": steps, "max_steps": max_steps, "reached": reached, "loss": _num(loss),
               "accuracy": accuracy, "eval_accuracy": eval_correct / images,
               "lr": float(plan.lr), "optimizer": plan.optimizer, "images": images,
               "batch_sizes": [len(x) for x, _ in data], "losses": [_num(v) for v in losses]}
    where = f"2 batches of {len(data[0][0])}"
    if diverged:
        return Check("overfit", False, f"the loss became {losses[-1]} at step {steps} on "
                     f"{where}: lower --lr ({plan.lr:g}) or look for a log of zero or a "
                     "division by zero in the model", figures)
    if not reached:
        return Check("overfit", False, f"{where} not memorised in {steps} steps (accuracy "
                     f"{accuracy:.3f}, loss {loss:.3g}): the model or the labels are broken, "
                     f"or --lr {plan.lr:g} ({plan.optimizer}) is far off: look at the labels "
                     "of a few images, try the rate 'zoo lr-find' suggests", figures)
    return Check("overfit", True, f"{where} memorised (100% training accuracy) in {steps} "
                 f"steps, loss {loss:.3g}", figures)


# ---------------------------------------------------------------------------------------------
# 3. the data


def _digest(image: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(image.shape).encode())  # a 4x8 and an 8x4 of the same bytes differ
    h.update(np.ascontiguousarray(image).tobytes())
    return h.digest()


def _hash_split(split, workers: int = 4) -> tuple[list[bytes | None], int]:
    """The digest of every image of `split`, in its order (None for an unreadable file),
    and how many were unreadable. Streams `HASH_BATCH` images per load, a few loads at a
    time in threads (decoding releases the GIL); only the digests are kept."""
    chunks = [split.indices[i : i + HASH_BATCH] for i in range(0, len(split), HASH_BATCH)]

    def hashed(chunk):
        images, ok = split.source.load(chunk)
        return [_digest(im) if good else None for im, good in zip(images, ok, strict=True)]

    out: list[bytes | None] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(chunks), workers):  # a window: memory stays bounded
            for digests in pool.map(hashed, chunks[start : start + workers]):
                out.extend(digests)
    return out, sum(d is None for d in out)


def _name(split, position: int) -> str:
    """An image as a user finds it: its file's path, or `#index` in the dataset's arrays."""
    index = int(split.indices[position])
    paths = getattr(split.source, "paths", None)
    return paths[index] if paths is not None else f"#{index}"


def _file_shapes(split) -> dict[str, int] | None:
    """{"HxWxC": files} of a split of image files, from their headers (nothing decoded),
    or None for arrays. C is the channels of the file's mode (`L` 1, `RGB` 3, `RGBA` 4)."""
    paths = getattr(split.source, "paths", None)
    if paths is None:
        return None
    from PIL import Image

    found: Counter = Counter()
    for index in split.indices:
        try:
            with Image.open(paths[int(index)]) as im:
                found[f"{im.height}x{im.width}x{len(im.getbands())}"] += 1
        except Exception:  # noqa: BLE001 - unreadable files are the loader's to report
            found["unreadable"] += 1
    return dict(found.most_common())


def data_report(splits) -> Check:
    """Class counts per split, the training split's imbalance, images shared by train and
    test (and by train and validation) by a blake2b hash of their uint8 pixels, and the
    image shapes.

    Fails when a test image's pixels equal a training image's (the test measures memory, not
    generalisation) or a class has no training image. Warns, and passes, when the largest
    training class is more than `IMBALANCE_WARNING` times the smallest, and when validation
    shares images with train. Folder images are hashed as decoded at the size the model is
    fed (so byte-identical files and exact copies are found), and their stored sizes and
    channels are read from the file headers.

    Args:
        splits: a loaded dataset (`zoo.data.splits.Splits`).

    Returns:
        The `Check`; figures `classes`, `counts` ({split: {class: n}}), `imbalance` (train's
        max/min, null with an empty class), `image_shape` (as loaded), `file_shapes` (folder
        datasets: {"HxWxC": files} per split), `unreadable`, `duplicates` (within each split,
        and how many of them carry another label), `leaks` ({"test"|"val": {"count",
        "conflicting_labels", "examples": [[image, its training twin], ...]}}).
    """
    names = list(splits.label_names)
    present = {s: getattr(splits, s) for s in ("train", "val", "test")
               if getattr(splits, s) is not None and len(getattr(splits, s))}
    counts = {s: np.bincount(split.labels, minlength=len(names)) for s, split in
              present.items()}
    figures: dict = {"classes": names,
                     "counts": {s: {n: int(c) for n, c in zip(names, v, strict=True)}
                                for s, v in counts.items()},
                     "image_shape": [int(v) for v in splits.image_shape]}
    train_counts = counts["train"]
    empty = [names[i] for i in np.flatnonzero(train_counts == 0)]
    imbalance = None if empty else float(train_counts.max() / train_counts.min())
    figures["imbalance"] = imbalance
    shapes = {s: _file_shapes(split) for s, split in present.items()}
    if any(v is not None for v in shapes.values()):
        figures["file_shapes"] = shapes

    digests, unreadable = {}, {}
    for s, split in present.items():
        digests[s], unreadable[s] = _hash_split(split)
    figures["unreadable"] = unreadable
    train_labels = present["train"].labels
    first: dict[bytes, int] = {}  # a training image's digest -> its first position
    duplicates = {}
    for s, split in present.items():
        seen: dict[bytes, int] = {}
        labels = split.labels
        repeated = conflicting = 0
        for position, d in enumerate(digests[s]):
            if d is None:
                continue
            if d in seen:
                repeated += 1
                conflicting += int(labels[position] != labels[seen[d]])
            else:
                seen[d] = position
        duplicates[s] = {"count": repeated, "conflicting_labels": conflicting}
        if s == "train":
            first = seen
    figures["duplicates"] = duplicates
    leaks = {}
    for s in ("val", "test"):
        if s not in present:
            continue
        split = present[s]
        hits = [(p, first[d]) for p, d in enumerate(digests[s]) if d is not None and d in first]
        leaks[s] = {"count": len(hits),
                    "conflicting_labels": sum(int(split.labels[p] != train_labels[t])
                                              for p, t in hits),
                    "examples": [[_name(split, p), _name(present["train"], t)]
                                 for p, t in hits[:EXAMPLES]]}
    figures["leaks"] = leaks

    sizes = ", ".join(f"{s} {len(split)}" for s, split in present.items())
    shape = "x".join(map(str, splits.image_shape))
    found = f"{len(names)} classes ({sizes}), images {shape}"
    test_leak = leaks.get("test", {}).get("count", 0)
    if test_leak:
        example = leaks["test"]["examples"][0]
        return Check("data", False, f"{test_leak} test image{_s(test_leak)} also in train "
                     f"(same pixels; e.g. {example[0]} = {example[1]}): remove them from one "
                     "side, or the test accuracy measures memory", figures)
    if empty:
        return Check("data", False, f"class{_s(len(empty))} {', '.join(empty[:5])} "
                     f"{'has' if len(empty) == 1 else 'have'} no training image: add images "
                     "or leave the class out (--classes)", figures)
    notes = []
    if imbalance > IMBALANCE_WARNING:
        notes.append(f"warning: imbalance {imbalance:.1f} (largest class / smallest) > "
                     f"{IMBALANCE_WARNING:g}: consider --class-weight balanced or --sampler "
                     "balanced")
    else:
        notes.append(f"imbalance {imbalance:.2f}")
    val_leak = leaks.get("val", {}).get("count", 0)
    if val_leak:
        notes.append(f"warning: {val_leak} validation image{_s(val_leak)} also in train")
    if duplicates["train"]["conflicting_labels"]:
        notes.append(f"warning: {duplicates['train']['conflicting_labels']} training "
                     "images repeat another with a different label")
    notes.append("no test image in train" if "test" in present else "no test split")
    if sum(unreadable.values()):
        notes.append(f"{sum(unreadable.values())} unreadable files")
    return Check("data", True, f"{found}; {'; '.join(notes)}", figures)


# ---------------------------------------------------------------------------------------------
# 4. the learning-rate range test


def lr_range(config, steps: int = LR_STEPS, console=None) -> Check:
    """Smith's range test of `config`'s run (`zoo.training.lr_finder.lr_range_test`, from
    1e-7 to 10 in `steps` steps): passes when it suggests a rate.

    Args:
        config: the run's settings.
        steps: the most steps. Defaults to `LR_STEPS`.
        console: where the test says what it tests, and its progress bar.

    Returns:
        The `Check`; figures `suggested_lr` (steepest descent), `valley_lr`, `lr` (the
        config's), `steps`, `steps_taken`, `stopped_early`, `min_loss`.
    """
    from zoo.training.lr_finder import END, START, lr_range_test

    finding = lr_range_test(config, START, END, steps, console=console)
    finite = [v for v in finding.smoothed if math.isfinite(v)]
    figures = {"suggested_lr": finding.suggested_lr, "valley_lr": finding.valley_lr,
               "lr": config.lr, "start": START, "end": END, "steps": steps,
               "steps_taken": len(finding.lrs), "stopped_early": finding.stopped_early,
               "min_loss": min(finite) if finite else None}
    if finding.suggested_lr is None and finding.valley_lr is None:
        return Check("lr_range", False, f"the loss fell nowhere from {START:g} to {END:g} in "
                     f"{steps} steps: if the overfitting test failed too the model cannot "
                     "learn; else try more steps ('zoo lr-find --steps 200')", figures)
    rate = f"--lr {config.lr:g}" if isinstance(config.lr, float) else f"--lr {config.lr}"
    return Check("lr_range", True, f"steepest descent {_rate(finding.suggested_lr)}, valley "
                 f"{_rate(finding.valley_lr)} (what --lr auto takes; this run: {rate})",
                 figures)


# ---------------------------------------------------------------------------------------------
# all of them


def sample_batch(split, transform, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images of `split` chosen by `seed` (all of a smaller split), transformed for
    the model without augmentation, and their integer labels; unreadable files dropped."""
    from zoo.data.pipeline import load_batch

    rng = np.random.default_rng([seed, 17])
    chosen = split.indices if len(split) <= count else rng.choice(split.indices, count,
                                                                  replace=False)
    return load_batch(split, np.asarray(chosen), transform)


def run_checks(config, console=None, lr_steps: int = LR_STEPS,
               overfit_steps: int = OVERFIT_STEPS, skip: Sequence[str] = (),
               on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """The checks of `CHECKS` for `config`'s run: its dataset and data settings, its model
    with fresh weights from `config.seed` (a `--pretrained` run's new head on its frozen
    base), its optimizer, loss, precision and batch size, as `zoo train` builds them. Runs on
    one device; writes nothing.

    Args:
        config: the run's settings (`zoo.config.Config`).
        console: where the range test says what it tests and shows its progress. Defaults
            to saying nothing.
        lr_steps: the range test's steps. Defaults to `LR_STEPS`.
        overfit_steps: the overfitting test's bound. Defaults to `OVERFIT_STEPS`.
        skip: names of `CHECKS` not to run.
        on_check: called with each `Check` as it is done (to print it at once).

    Returns:
        The `Check`s, in `CHECKS`' order, less those skipped.
    """
    from zoo.backend import load_keras

    unknown = [s for s in skip if s not in CHECKS]
    if unknown:
        raise ZooError(f"--skip {unknown[0]}: no such check (known: {', '.join(CHECKS)})")
    keras = load_keras()
    from zoo.training import distribution, transfer
    from zoo.training.lr_finder import fresh_inputs, fresh_model

    inputs = fresh_inputs(config)
    splits = inputs.splits
    results: list[Check] = []

    def done(check: Check) -> None:
        results.append(check)
        if on_check is not None:
            on_check(check)

    if "initial_loss" not in skip or "overfit" not in skip:
        x, labels = sample_batch(splits.train, inputs.eval_transform,
                                 max(LOSS_BATCH, 2 * OVERFIT_BATCH), config.seed)
        if len(x) < 2:
            raise ZooError(f"{splits.name}: fewer than 2 readable training images")
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(config.precision)
        try:
            with distribution.local():  # one device, whatever the run's distribution
                model = fresh_model(config, inputs)
                if "initial_loss" not in skip:
                    done(initial_loss(model, (x, labels), splits.num_classes))
                if "overfit" not in skip:  # the same fresh weights: the loss only looked
                    plan = (transfer.phase_config(config, transfer.HEAD) if config.pretrained
                            else config)
                    half = min(OVERFIT_BATCH, len(x) // 2)
                    batches = [(x[:half], labels[:half]), (x[half : 2 * half],
                                                           labels[half : 2 * half])]
                    done(overfit_two_batches(model, plan, batches, overfit_steps))
        finally:
            keras.config.set_dtype_policy(policy)
        del model
    if "data" not in skip:
        done(data_report(splits))
    if "lr_range" not in skip:
        done(lr_range(config, lr_steps, console=console))
    return results


def _num(value) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _rate(lr: float | None) -> str:
    return "none" if lr is None else f"{lr:.3g}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
