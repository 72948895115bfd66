"""Smith's learning-rate range test (`zoo lr-find`, `zoo train --lr auto`).

Leslie N. Smith, "Cyclical Learning Rates for Training Neural Networks" (2015, arXiv:1506.01186),
section 3.3, as fastai's `Learner.lr_find` runs it (fastai/callback/schedule.py: `LRFinder`,
`SuggestionMethod.Valley`, `steep`; the smoothing is fastai's `AvgSmoothLoss`): train from fresh
weights for at most `steps` steps while the learning rate grows exponentially from `start` to
`end`, one rate per step; record each step's loss; stop once the smoothed loss passes 4x its
minimum (or is NaN); suggest a rate where the smoothed loss falls fastest (`suggest_steepest`)
and one in its longest valley (`suggest_valley`).

    lr_range_test(config)            the model and batches of `zoo train`, then range_test
    range_test(model, batch, ...)    a compiled model, a batch source: the steps, the finding
    run_schedule(train_step, lrs)    the loop and its stop, for any step function
    smooth / suggest_steepest / suggest_valley / suggestions    pure numpy, unit-tested

Each step is one `model.train_on_batch` after `model.optimizer.learning_rate` is set: the
rate is the optimizer's variable, read by every backend at each call (JAX's trainer reads its
state from the variables at each `train_on_batch`), and `train_on_batch` returns the loss of
that batch alone (its metrics reset), where a `fit` callback would see the epoch's running
mean. Nothing is written and the model is dropped; the caller draws the plot
(`zoo.plots.plot_lr_find`) or, for `--lr auto`, saves the finding in the run
(`LRFinding.save`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.config import AUTO, Config
from zoo.errors import ZooError

log = logging.getLogger("zoo")

START, END, STEPS = 1e-7, 10.0, 100  # fastai's lr_find defaults
BETA = 0.98  # fastai's AvgSmoothLoss (Recorder's smooth_loss)
DIVERGED = 4.0  # fastai's LRFinder: stop once the smoothed loss passes 4x its minimum
MIN_STEPS = 5

# what `zoo train --lr auto` leaves in the run directory beside config.yaml
LR_FIND_JSON = "lr_find.json"
LR_FIND_PNG = "lr_find.png"


@dataclass(frozen=True)
class LRFinding:
    """What a range test saw and suggests.

    `lrs[i]` is the rate of step `i` and `losses[i]` its batch's loss (computed before that
    step's update), `smoothed[i]` their running smoothed loss; a stopped test holds one step
    past the stop (the step that diverged). `suggested_lr` is the steepest descent of the
    smoothed loss, `valley_lr` fastai's valley; either is None where the curve has none.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float | None
    valley_lr: float | None
    stopped_early: bool
    start: float = START
    end: float = END
    steps: int = STEPS

    def choice(self) -> tuple[float, str]:
        """The rate `--lr auto` trains at and which suggestion it is: the valley (fastai's
        default) where there is one, else the steepest descent, to 3 significant digits
        (config.yaml reads `lr: 0.026`, not a grid point's 17 digits; 0.5% at most, where
        one step of the default grid is 20%). A one-line `ZooError` when the loss fell
        nowhere."""
        if self.valley_lr is not None:
            return float(f"{self.valley_lr:.3g}"), "valley"
        if self.suggested_lr is not None:
            return float(f"{self.suggested_lr:.3g}"), "steepest"
        raise ZooError(f"the learning-rate range test found no rate between {self.start:g} and "
                       f"{self.end:g} at which the loss fell; give --lr a number (or look at "
                       "'zoo lr-find' with a wider --start/--end)")

    def to_json(self) -> dict:
        """The finding as JSON: NaN and infinite losses become null."""
        def finite(values):
            return [v if math.isfinite(v) else None for v in values]

        return {"suggested_lr": self.suggested_lr, "valley_lr": self.valley_lr,
                "stopped_early": self.stopped_early, "start": self.start, "end": self.end,
                "steps": self.steps, "lrs": list(self.lrs), "losses": finite(self.losses),
                "smoothed": finite(self.smoothed)}

    def save(self, folder: str | Path, title: str = "") -> Path:
        """Write `lr_find.json` (`to_json`, plus `chose`, the suggestion `--lr auto` took, and
        `lr`, the rate it trains at) and `lr_find.png` (`zoo.plots.plot_lr_find`) into
        `folder`; return the JSON's path."""
        from zoo.io import write_json
        from zoo.plots import plot_lr_find

        folder = Path(folder)
        lr, chose = self.choice()
        data = {**self.to_json(), "chose": chose, "lr": lr}
        write_json(folder / LR_FIND_JSON, data)
        plot_lr_find(self, folder / LR_FIND_PNG, title=title)
        return folder / LR_FIND_JSON


def check_range(start: float, end: float, steps: int) -> None:
    """A one-line `ZooError` unless `0 < start < end` and `steps >= 5` (the smoothing and
    fastai's trimming need a few points)."""
    if not start > 0 or not math.isfinite(start):
        raise ZooError(f"--start must be a positive learning rate; got {start}")
    if not end > start or not math.isfinite(end):
        raise ZooError(f"--end must be above --start ({start:g}); got {end}")
    if steps < MIN_STEPS:
        raise ZooError(f"--steps must be at least {MIN_STEPS}; got {steps}")


def schedule(start: float, end: float, steps: int) -> np.ndarray:
    """The rate of each step: `start * (end / start) ** (i / (steps - 1))`, `start` at the
    first step and `end` at the last (fastai's `SchedExp`)."""
    return start * (end / start) ** (np.arange(steps) / (steps - 1))


def smooth(losses: Sequence[float], beta: float = BETA) -> np.ndarray:
    """fastai's `AvgSmoothLoss`: an exponential moving average of the losses with `beta`,
    bias-corrected (`avg / (1 - beta ** n)` after `n` losses), so the first value is the
    first loss. A NaN loss makes every later value NaN."""
    out = np.empty(len(losses))
    avg = 0.0
    for n, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * float(loss)
        out[n - 1] = avg / (1 - beta ** n)
    return out


def run_schedule(train_step: Callable[[float, int], float], lrs: Sequence[float],
                 on_step: Callable[[int, float, float], None] | None = None,
                 beta: float = BETA) -> tuple[list[float], list[float], bool]:
    """Call `train_step(lr, i)` (which returns the step's loss) for each rate of `lrs` until
    the smoothed loss passes `DIVERGED` x its minimum so far or is NaN (fastai's
    `LRFinder.after_batch`: the step that crosses is recorded, none after it).

    Args:
        train_step: one training step at rate `lr` (the `i`-th); returns its loss.
        lrs: the rates, one per step.
        on_step: called as `on_step(i, lr, loss)` after each step (a progress bar).
        beta: the smoothing of `smooth`.

    Returns:
        `(losses, smoothed, stopped_early)`: one value per step taken.
    """
    losses: list[float] = []
    smoothed: list[float] = []
    best, avg = math.inf, 0.0
    for i, lr in enumerate(lrs):
        loss = float(train_step(float(lr), i))
        avg = beta * avg + (1 - beta) * loss
        value = avg / (1 - beta ** (i + 1))
        losses.append(loss)
        smoothed.append(value)
        if on_step is not None:
            on_step(i, float(lr), loss)
        best = min(best, value)
        if math.isnan(value) or value > DIVERGED * best:
            return losses, smoothed, i + 1 < len(lrs)
    return losses, smoothed, False


def suggest_steepest(lrs: Sequence[float], smoothed: Sequence[float]) -> float | None:
    """The rate at the steepest descent of the smoothed loss against log(rate): fastai's
    `steep`, `lrs[argmin(diff(loss) / diff(log lr))]` (the left end of the steepest
    segment). None with fewer than 2 points or where the loss never falls."""
    lrs, smoothed = np.asarray(lrs, float), np.asarray(smoothed, float)
    if len(lrs) < 2:
        return None
    grads = np.diff(smoothed) / np.diff(np.log(lrs))
    i = int(np.argmin(grads))
    return float(lrs[i]) if grads[i] < 0 else None


def suggest_valley(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """fastai's `valley` ("the longest valley", its default suggestion since 2.5): the
    longest run of ever-lower losses (a longest strictly decreasing subsequence, `lds[i]`
    its length ending at `i`), then the point `int(n/3) + int(n/6)` of its `n` steps past
    the start fastai takes for it (`end - n`): about half-way down the valley, where fastai's
    documentation says "2/3" and its code lands at 1/3 + 1/6; clamped to the curve here.

    Args:
        lrs: the rates, increasing.
        losses: the (smoothed, as fastai's recorder holds them) losses at those rates.

    Returns:
        The suggested rate, or None where no loss is below an earlier one.
    """
    losses = [float(v) for v in losses]
    n = len(losses)
    if n < 2:
        return None
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
        if lds[max_end] < lds[i]:
            max_end = i
            max_start = max_end - lds[max_end]
    if lds[max_end] < 2:
        return None
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[min(max(idx, 0), n - 1)])


def suggestions(lrs: Sequence[float], smoothed: Sequence[float],
                steps: int) -> tuple[float | None, float | None]:
    """`(steepest, valley)` on the smoothed curve as fastai's `lr_find` trims it: from the
    first NaN on dropped, then the first `steps // 10` points (the smoothing's warm-up) and
    the last 5 (the divergence); a curve too short for that is used whole."""
    lrs, smoothed = np.asarray(lrs, float), np.asarray(smoothed, float)
    bad = np.flatnonzero(~np.isfinite(smoothed))
    if len(bad):
        lrs, smoothed = lrs[:bad[0]], smoothed[:bad[0]]
    skip = steps // 10
    if len(lrs) - skip - 5 >= 3:
        lrs, smoothed = lrs[skip:len(lrs) - 5], smoothed[skip:len(smoothed) - 5]
    return suggest_steepest(lrs, smoothed), suggest_valley(lrs, smoothed)


def range_test(model, batch: Callable[[int], tuple], start: float = START, end: float = END,
               steps: int = STEPS, console=None) -> LRFinding:
    """Run the range test on a compiled `model`: step `i` trains on `batch(i)` at
    `schedule(start, end, steps)[i]`. The model is trained (it is the caller's to drop).

    Args:
        model: a compiled Keras model; its optimizer's rate must be a float (a variable),
            not a schedule.
        batch: `batch(i) -> (x, y)`, the batch of step `i`; fetched one step ahead in a
            thread, so loading overlaps training.
        start: the first rate. Defaults to `1e-7`.
        end: the last rate. Defaults to `10.0`.
        steps: the most steps. Defaults to `100`.
        console: a rich console for the progress bar (transient; shown only on a
            terminal). Defaults to stderr's.

    Returns:
        The `LRFinding`.
    """
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    check_range(start, end, steps)
    lrs = schedule(start, end, steps)
    console = console or Console(stderr=True)
    with ThreadPoolExecutor(max_workers=1) as pool, \
            Progress(TextColumn("lr range test"), BarColumn(), MofNCompleteColumn(),
                     TextColumn("lr {task.fields[lr]:.1e}  loss {task.fields[loss]:.4g}"),
                     console=console, transient=True,
                     disable=not console.is_terminal) as bar:
        task = bar.add_task("lr", total=steps, lr=start, loss=float("nan"))
        ahead = pool.submit(batch, 0)

        def train_step(lr: float, i: int) -> float:
            nonlocal ahead
            x, y = ahead.result()
            if i + 1 < steps:
                ahead = pool.submit(batch, i + 1)
            model.optimizer.learning_rate = lr
            logs = model.train_on_batch(x, y, return_dict=True)
            return float(logs["loss"])

        def on_step(i: int, lr: float, loss: float) -> None:
            bar.update(task, advance=1, lr=lr, loss=loss)

        losses, smoothed, stopped = run_schedule(train_step, lrs, on_step)
    taken = [float(v) for v in lrs[:len(losses)]]
    steep, valley = suggestions(taken, smoothed, steps)
    return LRFinding(taken, losses, smoothed, steep, valley, stopped, float(start), float(end),
                     int(steps))


def lr_range_test(config: Config, start: float = START, end: float = END, steps: int = STEPS,
                  console=None) -> LRFinding:
    """The range test of `config`'s run: its dataset and data settings, model (fresh weights
    from `config.seed`; a `--pretrained` run's new head, its base frozen, as the first phase
    of `zoo train` trains it), optimizer and its settings, loss, precision and batch size, as
    `zoo train` builds them; the learning-rate schedule is the test's own. Runs on one device;
    writes nothing; the model is dropped. With `--accumulate N` the weights move at every
    N-th step only (at that step's rate), as Keras' gradient accumulation does in training.

    Args:
        config: the run's settings (`lr` may be "auto"; it plays no part).
        start: the first rate. Defaults to `1e-7`.
        end: the last rate. Defaults to `10.0`.
        steps: the most steps. Defaults to `100`.
        console: where to say what is tested, and the progress bar's console. Defaults to
            saying nothing, the bar on stderr.

    Returns:
        The `LRFinding`.
    """
    from zoo.backend import load_keras

    keras = load_keras()
    from zoo.data.pipeline import make_sequence
    from zoo.training import distribution, transfer
    from zoo.training.compile import compile_model

    check_range(start, end, steps)
    inputs = fresh_inputs(config)
    splits = inputs.splits
    # full batches only (one short one for a split smaller than a batch): every step sees
    # as many images, and TensorFlow traces the step once
    per_epoch = max(1, len(splits.train) // config.batch_size)
    sequences: dict[int, object] = {}

    def batch(i: int):
        epoch, index = divmod(i, per_epoch)
        if epoch not in sequences:  # the order of epoch `epoch` of the run, by its seed
            sequences.clear()
            sequences[epoch] = make_sequence(splits.train, inputs.train_transform,
                                             splits.num_classes, config.batch_size,
                                             shuffle=True, seed=config.seed, epoch=epoch)
        return sequences[epoch][index]

    plan = transfer.phase_config(config, transfer.HEAD) if config.pretrained else config
    plan = plan.replace(lr=start, lr_schedule="none", warmup_epochs=0, steps_per_execution=1)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        with distribution.local():  # one device, whatever the run's distribution
            model = fresh_model(config, inputs)
            compile_model(model, plan, per_epoch, splits.num_classes)
            if console is not None:
                console.print(f"lr range test: {inputs.spec.name} on {splits.name} "
                              f"({len(splits.train)} train images), {config.optimizer}, "
                              f"batch {config.batch_size}, up to {steps} steps from "
                              f"{start:g} to {end:g}")
            return range_test(model, batch, start, end, steps)
    finally:
        keras.config.set_dtype_policy(policy)


def choose_lr(config: Config, dist=None, console=None) -> tuple[Config, LRFinding]:
    """`--lr auto`: run `lr_range_test` for `config` (fastai's defaults, 1e-7 to 10 in 100
    steps) and return `config` with `lr` the valley (or, without one, the steepest
    descent), and the finding. A multi-process run is refused: its processes would each
    test, and might not agree.

    Args:
        config: a new run's settings, `lr` "auto".
        dist: the run's `zoo.training.distribution.Distribution`, or None.
        console: where the test says what it tests.

    Returns:
        `(config with the chosen lr, the LRFinding)`.
    """
    if config.lr != AUTO:
        raise ValueError(f"choose_lr needs lr='auto'. Received: lr={config.lr!r}")
    if dist is not None and dist.num_processes > 1:
        raise ZooError("--lr auto runs the range test in one process: run 'zoo lr-find' with "
                       "the same settings and give every process its --lr")
    finding = lr_range_test(config, console=console)
    lr, chose = finding.choice()
    if chose == "steepest":
        other = "the curve has no valley"
    elif finding.suggested_lr is None:
        other = "no steepest descent"
    else:
        other = f"steepest descent {finding.suggested_lr:.3g}"
    log.info("--lr auto: lr %.3g, the range test's %s (%s); %s and %s in the run show it",
             lr, chose, other, LR_FIND_JSON, LR_FIND_PNG)
    return config.replace(lr=lr), finding


def range_stop(finding: LRFinding) -> str | None:
    """Where and why a stopped test stopped, in words; None if it ran every step."""
    if not finding.stopped_early:
        return None
    last = finding.smoothed[-1]
    why = "the loss became NaN" if math.isnan(last) else (
        f"the smoothed loss passed {DIVERGED:g}x its minimum")
    return (f"stopped at step {len(finding.lrs)} of {finding.steps}, lr {finding.lrs[-1]:.3g}: "
            f"{why}")


def fresh_model(config, inputs):
    """The model a new run of `config` starts from, with fresh weights: the registered model,
    or with `--pretrained` the new head on its base (`zoo.training.transfer`)."""
    from zoo.models.registry import build_model
    from zoo.training import transfer

    classes = inputs.splits.num_classes
    if config.pretrained:
        return transfer.build_transfer_model(config, inputs.input_shape, classes)
    return build_model(inputs.spec.name, input_shape=inputs.input_shape, num_classes=classes)


def fresh_inputs(config):
    """The inputs a new run of `config` prepares, with the seed set as `zoo train` sets it
    (a `--pretrained` source's mean and preprocessing); one line for an empty training
    split."""
    from zoo.backend import load_keras, quiet_native_logs
    from zoo.inputs import prepare
    from zoo.training import transfer

    keras = load_keras()
    transfer.check(config)
    with quiet_native_logs():  # under jax this imports TensorFlow to seed it
        keras.utils.set_random_seed(config.seed)
    source = transfer.Source(config).labels() if config.pretrained else None
    inputs = prepare(config, mean=source.mean if source else None,
                     preprocessing=source.preprocessing if source else None)
    if not len(inputs.splits.train):
        raise ZooError(f"{inputs.splits.name}: the training split is empty")
    return inputs
