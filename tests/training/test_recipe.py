"""The modern recipe, optimizer side: `--clip-norm`, `--accumulate`, `--ema` and
`--lr-schedule onecycle`: each a saved plan key, each resumed exactly; what each does to one
step (a step bounded by the clip, two half batches as one batch, the moving average) and the
one-cycle rates."""

import json
import math
import os

import numpy as np
import pytest
import yaml

from tests.training.helpers import Crash, checkpoint_weights, crash_after, needs_jax
from zoo.config import resolve

U = 2.0 ** -24  # float32's unit roundoff


def _tiny(seed=0, classes=3, features=8):
    """A softmax regression (one Dense layer, no batch norm, no dropout): one step's
    arithmetic is a few sums of per-example terms, whose rounding is easy to bound."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((features,)),
                             keras.layers.Dense(classes, activation="softmax")])


def _data(n=32, classes=3, features=8, seed=1):
    """Inputs in [0, 1) and one-hot targets."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features), dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    return x, y


def _compiled(optimizer, seed=0):
    import keras

    model = _tiny(seed)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy())
    return model


def _optimizer(lr, **settings):
    from zoo.training.compile import create_optimizer

    config = resolve(None, {"model": "lenet", "optimizer": "sgd", "momentum": 0.0,
                            "lr": lr, **settings})
    return create_optimizer(config, lr)


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


# ---------------------------------------------------------------------------------------------
# settings: saved, refused on resume when changed, bad values in one line

RECIPE = {"ema": 0.9, "clip_norm": 2.0, "accumulate": 2, "lr_schedule": "onecycle"}


def test_each_setting_is_saved_reaches_the_optimizer_and_cannot_change_on_resume(
        zoo_cli, tmp_path, quick_runs):
    result = zoo_cli("train", "--model", "shallownet", "--epochs", "1", "--limit", "48",
                     "--batch-size", "16", "--ema", "0.9", "--clip-norm", "2",
                     "--accumulate", "2", "--lr-schedule", "onecycle", "--output", tmp_path,
                     "--name", "r")
    assert result.code == 0, result.err
    run = tmp_path / "r"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert {k: saved[k] for k in RECIPE} == RECIPE

    import keras

    # with --ema model.keras holds the averages, so the checkpoint is saved on its own
    assert not os.path.samefile(run / "checkpoint" / "epoch-0001.keras", run / "model.keras")
    optimizer = keras.saving.load_model(run / "checkpoint" / "epoch-0001.keras").optimizer
    assert optimizer.global_clipnorm == 2.0 and optimizer.clipnorm is None
    assert optimizer.gradient_accumulation_steps == 2
    # --ema is the decay per update; Keras averages at every batch, two per update here
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(0.9 ** 0.5)
    assert optimizer.get_config()["learning_rate"]["class_name"] == "OneCycle"

    for flag, value in (("--ema", "0.5"), ("--clip-norm", "1"), ("--accumulate", "4"),
                        ("--lr-schedule", "cosine")):
        result = zoo_cli("train", "--resume", run, "--epochs", "2", flag, value)
        assert result.code == 2 and f"{flag} cannot change" in result.err, (flag, result.err)
        assert result.err.count("\n") == 1
    assert yaml.safe_load((run / "config.yaml").read_text()) == saved


@pytest.mark.parametrize("argv, needle", [
    (["--ema", "1"], "ema must be a decay in (0, 1)"),
    (["--ema", "0"], "ema must be a decay in (0, 1)"),
    (["--ema", "-0.5"], "ema must be a decay in (0, 1)"),
    (["--clip-norm", "0"], "clip_norm must be positive"),
    (["--clip-norm", "-1"], "clip_norm must be positive"),
    (["--accumulate", "0"], "accumulate must be at least 1"),
    (["--ema", "x"], "argument --ema: invalid float value"),
    (["--lr-schedule", "onecycle", "--warmup-epochs", "1"], "onecycle warms up by itself"),
])
def test_bad_values_are_one_line_and_exit_2(zoo_cli, tmp_path, argv, needle):
    result = zoo_cli("train", "--model", "lenet", *argv, "--output", tmp_path)
    assert result.code == 2, result.err
    assert needle in result.err and result.err.count("\n") == 1, result.err
    assert result.err.startswith("zoo: error: ")
    assert not list(tmp_path.iterdir())  # refused before any run directory


def test_tensorflow_data_parallel_refuses_the_clip_and_accumulation_it_computes_otherwise():
    from zoo.errors import ZooError
    from zoo.training.compile import check_recipe
    from zoo.training.distribution import Distribution

    mirrored = Distribution("data-parallel", "tensorflow", ["cpu:0", "cpu:1"], 32)
    config = resolve(None, {"model": "lenet", "ema": 0.99})
    check_recipe(config, mirrored)  # the average is the same on two devices as on one
    for key, value, flag in (("clip_norm", 1.0, "--clip-norm"), ("accumulate", 2, "--accumulate")):
        with pytest.raises(ZooError, match=f"^{flag} does not work with --distribute "
                                           "data-parallel on TensorFlow"):
            check_recipe(config.replace(**{key: value}), mirrored)
        for other in (Distribution("data-parallel", "jax", ["cpu:0", "cpu:1"], 32),
                      Distribution("none", "tensorflow", ["cpu:0"], 32), None):
            check_recipe(config.replace(**{key: value}), other)


# ---------------------------------------------------------------------------------------------
# exact resume of each: a straight run against one crashed after epoch 1 and resumed


RESUME_CASES = {
    "ema": {"ema": 0.8},
    # 3 batches an epoch, 2 per update: an update spans epochs 1 and 2, its first half is in
    # the checkpoint's accumulators
    "accumulate": {"accumulate": 2},
    # both stateless but for the optimizer's step count, which the schedule reads
    "clip_norm-onecycle": {"clip_norm": 0.05, "lr_schedule": "onecycle", "lr": 0.1},
    # mirrors drawn per (seed, epoch, batch) like --augment's
    "flip": {"flip": True},
}


@pytest.fixture
def quick_runs(monkeypatch):
    """Runs without their report page and curves (their own tests draw them): on 2 busy
    cores they are two thirds of a tiny run's time, and nothing here reads them."""
    import zoo.report
    import zoo.training.callbacks

    monkeypatch.setattr(zoo.report, "write_page", lambda *args, **kwargs: None)
    monkeypatch.setattr(zoo.training.callbacks, "plot_training_curves",
                        lambda *args, **kwargs: None)


def _optimizer_state(run, epoch) -> list[np.ndarray]:
    import keras

    model = keras.saving.load_model(run / "checkpoint" / f"epoch-{epoch:04d}.keras")
    return [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]


@pytest.mark.parametrize("settings", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_a_crashed_run_resumes_to_the_same_weights(zoo_cli, tmp_path, settings, quick_runs):
    from zoo.training.trainer import train

    flags = {"model": "shallownet", "dataset": "digits", "epochs": 2, "batch_size": 16,
             "limit": 52, "seed": 3, "output": str(tmp_path), **settings}
    straight = train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[crash_after(1)])
    crashed = tmp_path / "crashed"
    result = zoo_cli("train", "--resume", crashed)
    assert result.code == 0, result.err

    runs = [json.loads((run / "history.json").read_text()) for run in (straight, crashed)]
    assert runs[0] == [{**row, "seconds": runs[0][i]["seconds"]} for i, row in
                       enumerate(runs[1])]  # every value of every epoch but the time it took
    for a, b in zip(checkpoint_weights(crashed, 2), checkpoint_weights(straight, 2),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_optimizer_state(crashed, 2), _optimizer_state(straight, 2), strict=True):
        np.testing.assert_array_equal(a, b)  # the averages and the accumulators too
    import keras

    best = [keras.saving.load_model(run / "model.keras").get_weights()
            for run in (straight, crashed)]
    for a, b in zip(*best, strict=True):
        np.testing.assert_array_equal(a, b)
    if settings.get("lr_schedule") == "onecycle":  # history's rates are the plan's, per epoch
        from zoo.training.schedules import OneCycle

        steps = json.loads((crashed / "checkpoint" / "state.json").read_text())["iterations"] // 2
        plan = OneCycle(0.1, 2 * steps)
        assert [row["lr"] for row in runs[1]] == pytest.approx(
            [float(plan(e * steps)) for e in range(2)], rel=1e-6)
        assert runs[1][0]["lr"] == pytest.approx(0.1 / 25)


# ---------------------------------------------------------------------------------------------
# onecycle


def _pytorch_one_cycle(step, max_lr, total, pct_start=0.3, div=25.0, final_div=1e4):
    """PyTorch's `OneCycleLR.get_lr` with `anneal_strategy="cos"`, `three_phase=False`,
    transcribed: the reference the schedule must give."""
    initial = max_lr / div
    phases = [(float(pct_start * total) - 1, initial, max_lr),
              (total - 1, max_lr, initial / final_div)]
    start_step = 0.0
    for i, (end_step, start_lr, end_lr) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step)
            return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1)
        start_step = end_step


def test_onecycle_climbs_to_lr_at_30_percent_then_anneals_to_lr_over_25e4():
    from zoo.training.schedules import OneCycle, build_schedule

    config = {"lr_schedule": "onecycle", "lr": 0.1, "epochs": 10, "warmup_epochs": 0}
    schedule = build_schedule(config, 20)  # 200 steps
    assert isinstance(schedule, OneCycle) and schedule.total_steps == 200
    rates = np.array([float(schedule(s)) for s in range(200)])
    assert rates[0] == pytest.approx(0.1 / 25, rel=1e-6)
    assert rates.argmax() == 59 and rates[59] == pytest.approx(0.1, rel=1e-6)  # 0.3 * 200 - 1
    assert rates[-1] == pytest.approx(0.1 / 25e4, rel=1e-5)
    assert (np.diff(rates[:60]) > 0).all() and (np.diff(rates[59:]) < 0).all()
    # Relative, all the way down to lr/25e4: float32 against PyTorch's float64. The worst is
    # the first rates, peak - 0.96 peak, a difference that magnifies the rounding of its
    # terms (a few U each) 25 times: under 1e-5.
    reference = [_pytorch_one_cycle(s, 0.1, 200) for s in range(200)]
    np.testing.assert_allclose(rates, reference, rtol=1e-5, atol=0)
    assert float(schedule(250)) == pytest.approx(0.1 / 25e4, rel=1e-5)  # stays after the end
    for total in (1, 2, 3, 4, 7):  # plans too short to climb, or barely
        short = OneCycle(0.1, total)
        np.testing.assert_allclose([float(short(s)) for s in range(total)],
                                   [_pytorch_one_cycle(s, 0.1, total) for s in range(total)],
                                   rtol=1e-5, atol=0)


def test_onecycle_is_saved_with_the_model_and_runs_in_a_compiled_step(tmp_path):
    import keras

    from zoo.training.schedules import OneCycle

    schedule = OneCycle(0.2, 40)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(clone) is OneCycle and clone.get_config() == schedule.get_config()
    model = _compiled(keras.optimizers.SGD(learning_rate=schedule))
    x, y = _data(16)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0)  # the int iteration, traced
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras").optimizer
    assert int(loaded.iterations) == 16
    assert float(loaded.learning_rate) == pytest.approx(float(schedule(16)), rel=1e-6)


# ---------------------------------------------------------------------------------------------
# what each does to a step


def test_clip_norm_bounds_one_sgd_step_and_keeps_its_direction():
    x, y = _data()
    lr, clip = 0.5, 1e-3
    free, clipped = _compiled(_optimizer(lr)), _compiled(_optimizer(lr, clip_norm=clip))
    start = _weights(free)
    free.train_on_batch(x, y)
    clipped.train_on_batch(x, y)
    steps = [[a - b for a, b in zip(_weights(m), start, strict=True)] for m in (free, clipped)]
    norms = [math.sqrt(sum(float(np.sum(d.astype(np.float64) ** 2)) for d in s))
             for s in steps]
    # SGD without momentum moves by lr * gradient: clipped to global norm `clip`, at most
    # lr * clip. The unclipped step is far longer, so the clip is what bounds it.
    assert norms[0] > 100 * lr * clip
    # The weights are about 1 and their steps about 5e-4: each difference of float32 weights
    # is off by an ulp of the weight (2 ** -23), about 0.25% of a step element
    assert norms[1] <= lr * clip * 1.01
    assert norms[1] == pytest.approx(lr * clip, rel=0.01)
    # one norm over all the variables: every element shrinks by the same factor
    for a, b in zip(steps[0], steps[1], strict=True):
        np.testing.assert_allclose(b, a * (norms[1] / norms[0]), atol=4 * 2.0 ** -23)


def test_two_accumulated_half_batches_are_one_step_of_the_whole_batch():
    x, y = _data(32)
    lr = 0.5
    whole, halves = _compiled(_optimizer(lr)), _compiled(_optimizer(lr, accumulate=2))
    start = _weights(halves)
    halves.train_on_batch(x[:16], y[:16])
    for a, b in zip(_weights(halves), start, strict=True):  # the first half only accumulates
        np.testing.assert_array_equal(a, b)
    halves.train_on_batch(x[16:], y[16:])
    whole.train_on_batch(x, y)
    assert int(halves.optimizer.iterations) == 1 == int(whole.optimizer.iterations)
    moved = [a - b for a, b in zip(_weights(halves), start, strict=True)]
    assert min(float(np.abs(m).max()) for m in moved) > 1e-3  # a real step
    # Each gradient element is a mean of 32 per-example terms x_i * (p_i - y_i), each within
    # [-1, 1] (x in [0, 1), softmax minus one-hot in (-1, 1)): one mean of 32 against the mean
    # of two means of 16. A float32 sum of n terms is off by at most n * U * sum |terms|, so
    # either mean by 32 * U at most, and the two gradients by 64 * U. The logits (sums of 8
    # products) round alike in both, within the same bound again: 128 * U in the gradient,
    # lr * 128 * U in the step, plus one rounding of each new weight (half an ulp of it).
    for a, b in zip(_weights(halves), _weights(whole), strict=True):
        bound = lr * 128 * U + np.spacing(np.abs(b).max())
        np.testing.assert_allclose(a, b, rtol=0, atol=bound)
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(halves), start, strict=True))


def test_schedules_count_batches_under_accumulation():
    """An epoch of 10 batches with --accumulate 4 still moves the schedule by 10: the rate of
    an update is the plan's rate at its last batch."""
    x, y = _data(40)
    from zoo.training.schedules import OneCycle

    schedule = OneCycle(0.1, 20)
    model = _compiled(_optimizer(0.1, accumulate=4))
    model.optimizer.learning_rate = schedule
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 2  # updates: 10 batches // 4
    assert float(model.optimizer.learning_rate) == pytest.approx(float(schedule(10)), rel=1e-6)


def test_the_average_decays_by_the_ema_setting_per_update():
    """The raw weights after each batch, w_1, w_2, ...: the average is w_b through the first
    update's N batches, then a = m a + (1 - m) w_b at every batch, with m ** N = --ema: the
    decay per update, whatever --accumulate N is."""
    x, y = _data(64)
    d = 0.6
    for accumulate in (1, 2):
        model = _compiled(_optimizer(0.5, ema=d, accumulate=accumulate))
        m = model.optimizer.ema_momentum
        assert m ** accumulate == pytest.approx(d, rel=1e-12)
        average = None
        for batch in range(8):
            model.train_on_batch(x[batch * 8:(batch + 1) * 8], y[batch * 8:(batch + 1) * 8])
            w = [v.astype(np.float64) for v in _weights(model)]
            average = w if batch < accumulate else [m * a + (1 - m) * b
                                                    for a, b in zip(average, w, strict=True)]
        averages = model.optimizer._model_variables_moving_average
        # float32 averages of weights about 1, eight steps of two roundings each
        for mine, keras_average in zip(average, averages, strict=True):
            np.testing.assert_allclose(np.array(keras_average), mine, rtol=0, atol=32 * U)
        assert not np.allclose(np.array(averages[0]), _weights(model)[0], atol=1e-3)


def test_ema_model_keras_holds_the_averages_and_the_evaluation_is_theirs(tmp_path, quick_runs):
    """model.keras is the checkpoint's averages (exactly), not its trained weights, and
    metrics.json measures model.keras."""
    import keras

    from zoo.evaluation import evaluate_predictions, predict_split, run_inputs
    from zoo.run import RunDir
    from zoo.training.trainer import train

    run = train(resolve(None, {"model": "shallownet", "dataset": "digits", "epochs": 1,
                               "batch_size": 16, "limit": 64, "seed": 1, "lr": 0.1,
                               "ema": 0.7, "output": str(tmp_path), "name": "ema"}))
    checkpoint = keras.saving.load_model(run / "checkpoint" / "epoch-0001.keras")
    best = keras.saving.load_model(run / "model.keras", compile=False)
    trained = [keras.ops.convert_to_numpy(v) for v in checkpoint.trainable_variables]
    averages = [keras.ops.convert_to_numpy(v)
                for v in checkpoint.optimizer._model_variables_moving_average]
    held = [keras.ops.convert_to_numpy(v) for v in best.trainable_variables]
    for a, b in zip(held, averages, strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(not np.allclose(a, b) for a, b in zip(held, trained, strict=True))

    metrics = json.loads((run / "metrics.json").read_text())
    runs = RunDir(run)
    inputs = run_inputs(runs, runs.read_card())
    which, split = inputs.splits.eval_split("test")
    names = runs.read_card().names
    scores = {}
    for name, model in (("average", best), ("trained", checkpoint)):
        probs, labels, _ = predict_split(model, split, inputs.eval_transform)
        scores[name] = evaluate_predictions(probs, labels, names)
    assert metrics["split"] == which
    assert metrics["loss"] == pytest.approx(scores["average"]["loss"], rel=1e-6)
    assert metrics["accuracy"] == scores["average"]["accuracy"]
    assert scores["trained"]["loss"] != pytest.approx(scores["average"]["loss"], rel=1e-4)
    # validation measured the averages too: the epoch's val_loss is model.keras' on val
    history = json.loads((run / "history.json").read_text())
    probs, labels, _ = predict_split(best, inputs.splits.val, inputs.eval_transform)
    assert history[0]["val_loss"] == pytest.approx(
        evaluate_predictions(probs, labels, names)["loss"], rel=1e-5)


JAX_EMA = """
import json, sys
import numpy as np
import keras
from zoo.config import resolve
from zoo.training.callbacks import AveragedWeights
from zoo.training.compile import create_optimizer

config = resolve(None, {"model": "lenet", "momentum": 0.0, "ema": 0.5, "lr": 0.5})
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer=create_optimizer(config, 0.5), loss="categorical_crossentropy")
rng = np.random.default_rng(0)
x = rng.random((32, 8), dtype=np.float32)
y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
seen = {"in": [], "out": []}

def look(key):
    class Look(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen[key].append([keras.ops.convert_to_numpy(v).tolist()
                              for v in self.model.trainable_variables])
    return Look()

ema = AveragedWeights()
history = model.fit(x, y, validation_data=(x, y), epochs=3, batch_size=8, verbose=0,
                    callbacks=[ema, look("in"), ema.raw, look("out")])
# fit ends with Keras' finalize_variable_values: the averages in the model
final = model.evaluate(x, y, verbose=0)
json.dump({"backend": keras.backend.backend(), "seen": seen, "final": final,
           "val_loss": history.history["val_loss"]}, sys.stdout)
"""


@needs_jax
def test_averaged_weights_on_jax(tmp_path):
    """On JAX the swap must hand the model copies: a variable assigned the average's own
    array shares its buffer, which the next step donates twice ("Array has been deleted")."""
    import subprocess
    import sys

    from tests.training.helpers import backend_env

    proc = subprocess.run([sys.executable, "-c", JAX_EMA], capture_output=True, text=True,
                          env=backend_env("jax"), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    facts = json.loads(proc.stdout)
    assert facts["backend"] == "jax"
    for averaged, trained in zip(facts["seen"]["in"], facts["seen"]["out"], strict=True):
        assert not np.allclose(averaged[0], trained[0])  # the span held other weights
    assert facts["final"] == pytest.approx(facts["val_loss"][-1], rel=1e-6)


def test_ema_fine_tuning_resumes_exactly_at_the_phase_boundary(tmp_path, quick_runs):
    """Keras ends each fit by putting the averages into the model, so a straight transfer
    run fine-tunes from the head phase's averages; one resumed at the boundary loads the
    trained weights of the checkpoint and must start from the same averages."""
    from zoo.models.registry import build_model
    from zoo.training.trainer import train

    build_model("shallownet", input_shape=(8, 8, 1), num_classes=10).save(tmp_path / "src.keras")
    flags = {"model": "shallownet", "dataset": "digits", "pretrained": str(tmp_path / "src.keras"),
             "epochs": 3, "head_epochs": 2, "limit": 48, "seed": 4, "lr": 0.05,
             "batch_size": 16, "ema": 0.7, "output": str(tmp_path)}
    straight = train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[crash_after(2)])
    crashed = tmp_path / "crashed"
    assert json.loads((crashed / "checkpoint" / "state.json").read_text())["transfer"] == {
        "phase": "head"}
    train(resolve(None, {**flags, "name": "crashed"}), resume=crashed)
    runs = [json.loads((run / "history.json").read_text()) for run in (straight, crashed)]
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
    for a, b in zip(checkpoint_weights(crashed, 3), checkpoint_weights(straight, 3),
                    strict=True):
        np.testing.assert_array_equal(a, b)
