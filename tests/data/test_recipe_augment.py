"""The modern recipe, data side (`zoo.data.recipe` in `zoo.data.pipeline`): MixUp and CutMix,
RandAugment and random erasing, draws fixed by (seed, epoch, batch) so a resumed run is the
same to the bit, the class weights and the balanced sampler."""

import json

import numpy as np
import pytest

from tests.training.helpers import Crash, checkpoint_weights, crash_after
from zoo.config import resolve
from zoo.data.datasets import load_dataset
from zoo.data.pipeline import Transform, make_sequence
from zoo.data.recipe import (
    Recipe,
    apply_mix,
    balanced_order,
    batch_generator,
    class_weights,
    draw_mix,
    parse_randaugment,
)
from zoo.data.sources import ArraySource
from zoo.data.splits import Split
from zoo.errors import ZooError

FULL = Recipe(mixup=0.2, cutmix=1.0, randaugment=(2, 9), random_erasing=0.25)


def _batch(n=16, size=(12, 12), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *size, 3), dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    return x, y


def test_mixup_blends_images_and_labels_with_one_lambda():
    x, y = _batch()
    for index in range(5):
        mix = draw_mix(Recipe(mixup=0.2), batch_generator(1, 0, index), x.shape[1:3])
        assert mix.kind == "mixup" and 0 <= mix.lam <= 1
        mixed, labels = apply_mix(mix, x, y, x[::-1], y[::-1])
        lam = np.float32(mix.lam)
        np.testing.assert_allclose(mixed, lam * x + (1 - lam) * x[::-1], rtol=1e-6)
        np.testing.assert_allclose(labels, lam * y + (1 - lam) * y[::-1], rtol=1e-6)
        assert labels.min() >= 0
        np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)


def test_cutmix_label_weight_is_the_pasted_area_fraction():
    size = (10, 14)
    zeros, ones = np.zeros((4, *size, 3), np.float32), np.ones((4, *size, 3), np.float32)
    y = np.eye(4, dtype=np.float32)
    fractions = []
    for index in range(40):
        mix = draw_mix(Recipe(cutmix=1.0), batch_generator(2, 0, index), size)
        assert mix.kind == "cutmix"
        mixed, labels = apply_mix(mix, zeros, y, ones, y[::-1])
        pasted = mixed[..., 0].mean(axis=(1, 2))  # the partner's pixels are the ones
        np.testing.assert_allclose(pasted, 1 - mix.lam, rtol=1e-6)
        np.testing.assert_allclose(labels, mix.lam * y + (1 - mix.lam) * y[::-1], rtol=1e-6)
        np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
        fractions.append(1 - mix.lam)
    assert len(set(fractions)) > 10 and max(fractions) > 0.3  # boxes of many sizes


def test_both_on_each_batch_picks_one_and_alpha_zero_is_off():
    kinds = {draw_mix(Recipe(mixup=0.2, cutmix=1.0), batch_generator(0, 0, i), (8, 8)).kind
             for i in range(30)}
    assert kinds == {"mixup", "cutmix"}
    assert Recipe.from_config({"mixup": 0.0, "cutmix": 0.0, "randaugment": None,
                               "random_erasing": 0.0}) is None
    splits = load_dataset("digits", seed=1, val_split=0.2)
    plain = Transform(size=(8, 8), channels=1, augment=splits.augmentation)
    off = Transform(size=(8, 8), channels=1, augment=splits.augmentation, recipe=Recipe())
    a = make_sequence(splits.train, plain, 10, 32, shuffle=True, seed=3)
    b = make_sequence(splits.train, off, 10, 32, shuffle=True, seed=3)
    for index in (0, 5):
        for left, right in zip(a[index], b[index], strict=True):
            np.testing.assert_array_equal(left, right)


def test_draws_are_a_function_of_seed_epoch_and_batch():
    splits = load_dataset("digits", seed=1, val_split=0.2)
    transform = Transform(size=(8, 8), channels=1, augment=splits.augmentation, recipe=FULL)
    a = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=1)
    b = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=0)
    b.on_epoch_end()
    xa, ya = a[4]
    xb, yb = b[4]
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert ya.dtype == np.float32 and ya.shape == (32, 10)
    np.testing.assert_allclose(ya.sum(axis=1), 1.0, atol=1e-6)
    assert (ya.max(axis=1) < 1).any()  # soft labels: the batch was mixed
    x5, _ = a[5]
    assert not np.array_equal(xa, x5)
    first, second = FULL.draw(batch_generator(3, 1, 4), 32, (8, 8)), \
        FULL.draw(batch_generator(3, 1, 5), 32, (8, 8))
    assert not np.array_equal(first.seeds, second.seeds)
    again = FULL.draw(batch_generator(3, 1, 4), 32, (8, 8))
    np.testing.assert_array_equal(first.seeds, again.seeds)
    assert first.mix == again.mix


def test_data_parallel_shares_mix_with_partners_of_the_whole_batch():
    """Two processes' shares, each mixing with rows it had to load from the other's share,
    make the batch one process makes, bit for bit."""
    splits = load_dataset("digits", seed=1, val_split=0.2)
    transform = Transform(size=(8, 8), channels=1, augment=splits.augmentation, recipe=FULL)
    common = dict(shuffle=True, seed=7, epoch=2, multiple=2)
    whole = make_sequence(splits.train, transform, 10, 32, **common)
    parts = [make_sequence(splits.train, transform, 10, 32, shard=(i, 2), **common)
             for i in range(2)]
    for index in (0, 3, len(whole) - 1):
        x, y = whole[index]
        shares = [part[index] for part in parts]
        np.testing.assert_array_equal(np.concatenate([s[0] for s in shares]), x)
        np.testing.assert_array_equal(np.concatenate([s[1] for s in shares]), y)


def test_randaugment_and_erasing_change_images_and_keep_dtype_and_shape():
    rng = np.random.default_rng(0)
    for shape in ((8, 20, 20, 3), (8, 8, 8, 1)):
        images = rng.integers(0, 256, shape, dtype=np.uint8)
        seeds = np.arange(len(images), dtype=np.uint64)
        for recipe in (Recipe(randaugment=(2, 9)), Recipe(random_erasing=1.0)):
            out = recipe.augment(images, seeds)
            assert out.dtype == np.uint8 and out.shape == images.shape
            changed = (out != images).any(axis=(1, 2, 3))
            assert changed.mean() >= 0.5, (recipe, shape)
            np.testing.assert_array_equal(out, recipe.augment(images, seeds))
    assert parse_randaugment("2,9") == (2, 9) and parse_randaugment(None) is None
    for bad in ("2", "0,9", "2,11", "a,b"):
        with pytest.raises(ZooError, match="randaugment"):
            parse_randaugment(bad)


def test_random_erasing_erases_about_p_of_the_images():
    images = np.full((2000, 16, 16, 3), 128, np.uint8)
    seeds = batch_generator(0, 0, 0).integers(0, 2**32, len(images), dtype=np.uint64)
    out = Recipe(random_erasing=0.25).augment(images, seeds)
    erased = (out != images).any(axis=(1, 2, 3)).mean()
    assert abs(erased - 0.25) < 0.04  # 4 standard deviations of 2,000 draws


def test_a_resumed_run_with_the_recipe_is_the_straight_run_to_the_bit(zoo_cli, tmp_path):
    from zoo.training.trainer import train

    flags = {"model": "shallownet", "dataset": "digits", "epochs": 2, "batch_size": 32,
             "limit": 96, "seed": 4, "augment": True, "mixup": 0.2, "cutmix": 1.0,
             "randaugment": "2,9", "random_erasing": 0.25, "output": str(tmp_path)}
    train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[crash_after(1)])
    result = zoo_cli("train", "--resume", tmp_path / "crashed", "--epochs", "2")
    assert result.code == 0, result.err
    runs = [json.loads((tmp_path / name / "history.json").read_text())
            for name in ("straight", "crashed")]
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
    for a, b in zip(checkpoint_weights(tmp_path / "crashed", 2),
                    checkpoint_weights(tmp_path / "straight", 2), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# imbalanced folders


def _imbalanced_folder(root, counts=(27, 9)):
    import cv2

    rng = np.random.default_rng(0)
    for name, count in zip(("common", "rare"), counts, strict=True):
        (root / name).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(root / name / f"{i}.png"),
                        rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return root


def test_balanced_class_weights_follow_the_formula(tmp_path):
    from zoo.inputs import prepare

    folder = _imbalanced_folder(tmp_path / "photos")
    config = resolve(None, {"model": "shallownet", "dataset": f"folder:{folder}",
                            "class_weight": "balanced"})
    inputs = prepare(config)
    labels = inputs.splits.train.labels
    counts = np.bincount(labels)
    n, k = len(labels), 2
    assert inputs.class_weight == pytest.approx({c: n / (k * counts[c]) for c in range(2)})
    assert inputs.class_weight[1] > 2.5 * inputs.class_weight[0]  # 27:9 in, 1:3 out
    names = list(inputs.splits.label_names)
    assert class_weights("balanced", np.array([0, 0, 0, 1]), names) == \
        pytest.approx({0: 4 / 6, 1: 2.0})


def test_a_weight_file_naming_an_unknown_class_is_one_line_and_no_run(zoo_cli, tmp_path):
    folder = _imbalanced_folder(tmp_path / "photos")
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"rare": 3.0, "unicorn": 2.0}))
    result = zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{folder}",
                     "--class-weight", weights, "--output", tmp_path / "out", "--name", "r")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "'unicorn' is not a class" in result.err
    assert not (tmp_path / "out" / "r").exists()
    (tmp_path / "ok.json").write_text('{"rare": 3}')  # classes left out weigh 1
    assert class_weights(str(tmp_path / "ok.json"), np.array([0, 1]),
                         ["common", "rare"]) == {0: 1.0, 1: 3.0}
    (tmp_path / "bad.json").write_text('{"rare": "heavy"}')
    with pytest.raises(ZooError, match="positive numbers"):
        class_weights(str(tmp_path / "bad.json"), np.array([0, 1]), ["common", "rare"])


def test_the_balanced_sampler_draws_classes_about_equally():
    labels = np.array([0] * 900 + [1] * 100)
    split = Split(ArraySource(np.zeros((1000, 2, 2, 1), np.uint8), labels), np.arange(1000))
    order = balanced_order(split.labels, split.indices, np.random.default_rng([1, 0]))
    assert len(order) == 1000
    rare = np.mean(labels[order] == 1)
    assert 0.45 < rare < 0.55  # 9:1 in, about 1:1 out (0.5 +- 5 standard deviations)
    transform = Transform(size=(2, 2), channels=1)
    seq = make_sequence(split, transform, 2, 100, shuffle=True, seed=1, sampler="balanced")
    drawn = np.concatenate([seq[i][1].argmax(axis=1) for i in range(len(seq))])
    assert len(drawn) == 1000 and 0.45 < drawn.mean() < 0.55
    shuffled = make_sequence(split, transform, 2, 100, shuffle=True, seed=1)
    plain = np.concatenate([shuffled[i][1].argmax(axis=1) for i in range(len(shuffled))])
    assert plain.mean() == pytest.approx(0.1)  # the default: each image once
    again = make_sequence(split, transform, 2, 100, shuffle=True, seed=1, sampler="balanced")
    np.testing.assert_array_equal(again[3][1], seq[3][1])  # the same (seed, epoch): same order
