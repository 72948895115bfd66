"""The learning-rate range test (`zoo.training.lr_finder`): fastai's smoothing, stop and
suggestions on curves whose answer is known, and the suggestion of a real model following
its loss surface."""

import math

import numpy as np
import pytest

from zoo.config import resolve
from zoo.errors import ZooError
from zoo.training.lr_finder import (
    LRFinding,
    check_range,
    run_schedule,
    schedule,
    smooth,
    suggest_steepest,
    suggest_valley,
    suggestions,
)


def test_schedule_is_exponential_from_start_to_end():
    lrs = schedule(1e-6, 1.0, 7)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    assert np.diff(np.log10(lrs)) == pytest.approx(np.full(6, 1.0))  # one decade a step


def test_smoothing_is_fastais_bias_corrected_average():
    # avg_n = 0.98 avg_{n-1} + 0.02 loss_n, from 0; value = avg_n / (1 - 0.98**n)
    assert smooth([3.0, 3.0, 3.0]) == pytest.approx([3.0, 3.0, 3.0])
    assert smooth([2.0, 0.0]) == pytest.approx([2.0, 0.98 * 0.04 / (1 - 0.98**2)])
    assert math.isnan(smooth([1.0, float("nan"), 1.0])[2])


def test_the_test_stops_one_step_past_four_times_the_minimum():
    called = []

    def step(lr, i):  # flat at 1.0, then 5.0: the smoothed loss climbs past 4.0 slowly
        called.append(i)
        return 1.0 if i < 10 else 5.0

    losses, smoothed, stopped = run_schedule(step, schedule(1e-3, 1.0, 60))
    crossing = next(i for i, v in enumerate(smooth([1.0] * 10 + [5.0] * 50)) if v > 4.0)
    assert 15 < crossing < 59  # several steps of 5.0 before it, steps left after it
    assert stopped and len(losses) == len(smoothed) == crossing + 1 == len(called)
    assert smoothed[-1] > 4.0 * min(smoothed) and max(smoothed[:-1]) <= 4.0 * min(smoothed)


def test_a_nan_loss_stops_the_test_and_a_calm_one_runs_every_step():
    losses, smoothed, stopped = run_schedule(lambda lr, i: 1.0 if i < 5 else float("nan"),
                                             schedule(1e-3, 1.0, 20))
    assert stopped and len(losses) == 6 and math.isnan(smoothed[-1])
    losses, _, stopped = run_schedule(lambda lr, i: 1.0, schedule(1e-3, 1.0, 20))
    assert not stopped and len(losses) == 20


def test_steepest_is_where_the_smoothed_loss_falls_fastest_per_decade():
    lrs = schedule(1e-6, 1.0, 61)  # ten points a decade
    # a fall centred on 10**-3.05 (tanh is steepest at 0), then a rise after 1e-1
    x = np.log10(lrs)
    loss = 2.0 - np.tanh(2.0 * (x + 3.05)) + np.where(x > -1, 10.0 * (x + 1) ** 2, 0.0)
    # the segment 10**-3.1 .. 10**-3.0 straddles the centre; fastai names its left end
    assert suggest_steepest(lrs, loss) == pytest.approx(10 ** -3.1, rel=1e-6)
    assert suggest_steepest(lrs, np.linspace(1, 2, 61)) is None  # it never falls
    assert suggest_steepest(lrs[:1], loss[:1]) is None


def test_valley_follows_fastais_longest_valley():
    lrs = schedule(1e-6, 1.0, 50)
    # 10 equal points (no valley among them), 30 falling, 10 rising: the longest decreasing
    # run is one flat point and the 30 (31 long, ending at index 39); fastai's start is
    # 39 - 31 = 8 and its point 8 + int(31/3) + int(31/6) = 23
    loss = np.concatenate([np.full(10, 3.0), np.linspace(2.9, 0.0, 30),
                           np.linspace(0.5, 5.0, 10)])
    assert suggest_valley(lrs, loss) == pytest.approx(lrs[23])
    assert suggest_valley(lrs, np.linspace(1, 2, 50)) is None  # no loss below an earlier one


def test_suggestions_trim_the_warm_up_and_the_divergence_as_fastai_does():
    lrs = schedule(1e-6, 1.0, 100)
    # the steepest fall of all is in the first 10 points (dropped), a milder one later
    loss = np.concatenate([np.linspace(9.0, 3.0, 10), np.linspace(3.0, 2.0, 50),
                           np.linspace(2.0, 1.0, 10), np.linspace(1.0, 1.5, 30)])
    steep, valley = suggestions(lrs, loss, steps=100)
    assert lrs[60] <= steep <= lrs[68]  # in the fall from 2 to 1, not the one from 9
    assert valley is not None and lrs[10] <= valley <= lrs[70]
    nan_tail = np.concatenate([loss[:80], np.full(20, np.nan)])
    assert suggestions(lrs, nan_tail, steps=100)[0] == pytest.approx(steep)


def test_the_choice_prefers_the_valley_and_refuses_a_curve_that_never_falls():
    def finding(steep, valley):
        return LRFinding([1e-3], [1.0], [1.0], steep, valley, False)

    assert finding(0.1, 0.01).choice() == (0.01, "valley")
    assert finding(0.1, None).choice() == (0.1, "steepest")
    assert finding(0.1, 0.025950242113997372).choice() == (0.026, "valley")
    with pytest.raises(ZooError, match="no rate .* at which the loss fell"):
        finding(None, None).choice()


@pytest.mark.parametrize("start, end, steps, needle", [
    (0.0, 1.0, 100, "--start must be a positive"),
    (1.0, 1.0, 100, "--end must be above --start"),
    (1e-3, 1e-4, 100, "--end must be above --start"),
    (1e-7, 10.0, 4, "--steps must be at least 5"),
])
def test_bad_ranges_are_one_line(start, end, steps, needle):
    with pytest.raises(ZooError, match=needle):
        check_range(start, end, steps)


def test_lr_is_a_number_or_auto_in_flags_and_yaml(tmp_path):
    (tmp_path / "auto.yaml").write_text("model: lenet\nlr: auto\n")
    assert resolve(tmp_path / "auto.yaml").lr == "auto"
    assert resolve(None, {"model": "lenet", "lr": "AUTO"}).lr == "auto"
    assert resolve(None, {"model": "lenet", "lr": "0.003"}).lr == 0.003
    with pytest.raises(ZooError, match="lr must be a number or 'auto'; got 'fast'"):
        resolve(None, {"model": "lenet", "lr": "fast"})
    with pytest.raises(ZooError, match="lr must be positive"):
        resolve(None, {"model": "lenet", "lr": -1})


def _softmax_regression_finding(scale: float):
    """The range test of a linear softmax classifier (plain SGD) on digits, the pixels
    (0..1) multiplied by `scale`, and the rate above which gradient descent diverges on it:
    2 / lambda_max of the loss's Hessian at zero weights, where the softmax's curvature is
    1/K in every direction of the K-1 that matter, so lambda_max = lambda_max(E[x x^T]) / K
    (x with the bias's 1)."""
    import keras
    from sklearn.datasets import load_digits

    from zoo.training.lr_finder import range_test

    digits = load_digits()
    x = (digits.data / 16.0 * scale).astype("float32")
    y = np.eye(10, dtype="float32")[digits.target]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(10, activation="softmax", name="linear")])
    model.compile(optimizer=keras.optimizers.SGD(1e-5), loss="categorical_crossentropy",
                  steps_per_execution=1)
    order = np.random.default_rng(0).permutation(len(x))
    per_epoch, size = len(x) // 64, 64

    def batch(i):
        rows = order[(i % per_epoch) * size:(i % per_epoch + 1) * size]
        return x[rows], y[rows]

    finding = range_test(model, batch, start=1e-5, end=100.0, steps=60)
    xb = np.c_[x, np.ones(len(x))]
    diverges = 2.0 / (np.linalg.eigvalsh(xb.T @ xb / len(x)).max() / 10)
    return finding, diverges


def test_the_suggestion_moves_with_the_loss_surface():
    # Inputs 10x larger make the loss 100x more curved (the Hessian goes as x x^T), so the
    # rate at which gradient descent diverges falls 100x (here 1.75 -> 0.019): both
    # suggestions must follow, by at least 10x, and stay in the stable range below it
    # (measured: steepest 1.66 -> 0.0092, valley 0.11 -> 0.0041; one grid step is 1.3x).
    plain, plain_limit = _softmax_regression_finding(1.0)
    scaled, scaled_limit = _softmax_regression_finding(10.0)
    assert plain_limit / scaled_limit == pytest.approx(100, rel=0.2)
    assert scaled.suggested_lr <= plain.suggested_lr / 10
    assert scaled.valley_lr <= plain.valley_lr / 10
    for finding, limit in ((plain, plain_limit), (scaled, scaled_limit)):
        assert limit / 100 <= finding.valley_lr <= limit
        assert limit / 30 <= finding.suggested_lr <= 2 * limit
        assert finding.stopped_early  # past the limit the loss blows up, and the test stops
        assert len(finding.losses) == len(finding.lrs) == len(finding.smoothed) < 60
