"""Bags of visual words (sift-bovw, rootsift-bovw, orb-bovw) on real photos: the codebook is
learned on the training split alone, stored with the features and the run, and `zoo predict`
assigns the very words the features were made of."""

import json
from pathlib import Path

import numpy as np
import pytest
import sklearn

from tests.fixtures import ODD_IMAGES
from zoo.features.bovw import NAMES, SIZE, BoVW, rootsift
from zoo.features.hdf5 import read_features
from zoo.run import RunDir

PHOTOS = Path(sklearn.__file__).parent / "datasets" / "images"


def photo(name: str) -> np.ndarray:
    """scikit-learn's china.jpg or flower.jpg, RGB uint8 (427x640)."""
    import cv2

    return cv2.cvtColor(cv2.imread(str(PHOTOS / name)), cv2.COLOR_BGR2RGB)


def crops(name: str, count: int, seed: int) -> list[np.ndarray]:
    """`count` random 200x200 crops of a photo, at SIZE x SIZE."""
    import cv2

    image, rng = photo(name), np.random.default_rng(seed)
    out = []
    for _ in range(count):
        top, left = rng.integers(0, image.shape[0] - 200), rng.integers(0, image.shape[1] - 200)
        out.append(cv2.resize(image[top : top + 200, left : left + 200], (SIZE, SIZE),
                              interpolation=cv2.INTER_AREA))
    return out


def checkerboard(seed: int) -> np.ndarray:
    """A pattern no photo holds: a black-and-white checkerboard of 16-pixel squares, shifted."""
    shift = seed % 16
    y, x = np.mgrid[:SIZE, :SIZE] + shift
    board = (((y // 16) + (x // 16)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def write_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))  # lossless
    return path


def photo_dataset(root: Path, train: int = 6, test: int = 3, test_pattern: bool = False):
    """train/ and test/ folders of classes china and flower, SIZE x SIZE PNG crops of the
    photos (so neither extraction nor prediction resizes them); with `test_pattern`, the
    test images are checkerboards instead, a pattern the training split lacks."""
    for c, name in enumerate(("china", "flower")):
        for i, image in enumerate(crops(f"{name}.jpg", train, seed=c)):
            write_png(root / "train" / name / f"{i}.png", image)
        tests = ([checkerboard(c * test + i) for i in range(test)] if test_pattern
                 else crops(f"{name}.jpg", test, seed=10 + c))
        for i, image in enumerate(tests):
            write_png(root / "test" / name / f"{i}.png", image)
    return root


def as_input(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32)[None]


@pytest.fixture(scope="module")
def fitted():
    """One extractor of each kind fitted on a few crops of china.jpg (16 words)."""
    images = np.stack([im.astype(np.float32) for im in crops("china.jpg", 4, seed=3)])
    return {name: BoVW(name, 16).fit(lambda: [images], 4, seed=0) for name in NAMES}


def test_rootsift_rows_are_hellinger_normalised_sift():
    sift, root = BoVW("sift-bovw"), BoVW("rootsift-bovw")
    gray = root._grays(as_input(crops("china.jpg", 1, seed=0)[0]))[0]
    plain, hellinger = sift.descriptors(gray), root.descriptors(gray)
    assert len(plain) > 20 and hellinger.shape == plain.shape  # a real photo has keypoints
    # each row: the L1-normalised SIFT histogram's square root, so its squares sum to 1
    # (float32 sums of 128 terms: within 128 * 6e-8 = 1e-5)
    np.testing.assert_allclose((hellinger ** 2).sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(hellinger ** 2, plain / plain.sum(axis=1, keepdims=True),
                               atol=1e-6)
    np.testing.assert_array_equal(rootsift(np.zeros((2, 128), np.float32)), 0)


def test_orb_descriptors_are_bits_whose_squared_distance_is_hamming():
    import cv2

    orb = BoVW("orb-bovw")
    gray = orb._grays(as_input(crops("china.jpg", 1, seed=0)[0]))[0]
    bits = orb.descriptors(gray)
    assert bits.shape[1] == 256 and len(bits) > 20
    assert set(np.unique(bits)) <= {0.0, 1.0}
    packed = np.packbits(bits[:2].astype(np.uint8), axis=1)
    hamming = cv2.norm(packed[0], packed[1], cv2.NORM_HAMMING)
    assert ((bits[0] - bits[1]) ** 2).sum() == hamming


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dense", [False, True])
def test_a_blank_image_is_an_all_zero_histogram_and_a_photo_a_unit_one(fitted, name, dense):
    extractor = fitted[name]
    extractor.dense = dense
    try:
        images = np.stack([np.full((SIZE, SIZE, 3), 128, np.float32),
                           crops("flower.jpg", 1, seed=5)[0].astype(np.float32)])
        features = extractor(images)
    finally:
        extractor.dense = False
    assert features.shape == (2, 16) and features.dtype == np.float32
    np.testing.assert_array_equal(features[0], 0)
    assert abs(float(np.linalg.norm(features[1])) - 1) < 1e-6  # L2-normalised


def test_the_odd_images_are_described_and_the_broken_ones_skipped(fitted, tmp_path, zoo_cli):
    if not ODD_IMAGES.is_dir():
        pytest.skip("shared/data/odd-images is missing")
    root = tmp_path / "odd"
    (root / "train" / "odd").mkdir(parents=True)
    for file in ODD_IMAGES.iterdir():
        if file.suffix != ".md":  # every good and broken file, for training
            (root / "train" / "odd" / file.name).write_bytes(file.read_bytes())
    write_png(root / "test" / "odd" / "0.png", photo("flower.jpg"))
    for split in ("train", "test"):
        write_png(root / split / "blank" / "0.png", np.zeros((40, 40, 3), np.uint8))
    out = tmp_path / "odd.h5"
    result = zoo_cli("extract", "--model", "sift-bovw", "--words", "8", "--dataset",
                     f"folder:{root}", "--val-split", "0", "--output", out)
    assert result.code == 0, result.err
    data = read_features(out)
    good = sum(1 for f in ODD_IMAGES.iterdir() if f.name.startswith("good"))
    assert len(data.features) == good + 3  # every good file, the flower, the blanks; no bad
    assert (data.split == "test").sum() == 2
    norms = np.linalg.norm(data.features, axis=1)
    blank = data.labels == data.label_names.index("blank")
    np.testing.assert_array_equal(norms[blank], 0)
    np.testing.assert_allclose(norms[~blank], 1, atol=1e-6)


def test_the_codebook_is_learned_on_the_training_split_alone(zoo_cli, tmp_path, monkeypatch):
    root = photo_dataset(tmp_path / "photos", test_pattern=True)
    test_images = {np.asarray(checkerboard(i), np.float32).tobytes() for i in range(6)}
    seen = []
    fit = BoVW.fit

    def spy(self, batches, count, seed):
        def recorded():
            for batch in batches():
                seen.extend(image.tobytes() for image in batch)
                yield batch
        return fit(self, recorded, count, seed)

    monkeypatch.setattr(BoVW, "fit", spy)
    out = tmp_path / "f.h5"
    result = zoo_cli("extract", "--model", "sift-bovw", "--words", "16", "--dataset",
                     f"folder:{root}", "--val-split", "0.2", "--output", out)
    assert result.code == 0, result.err
    data = read_features(out)
    train_rows = int((data.split == "train").sum())
    assert 0 < (data.split == "val").sum() and train_rows < 12  # validation held out
    assert len(seen) == len(set(seen)) == train_rows  # each training image, once
    assert not test_images & set(seen)  # the checkerboards never reached the codebook
    description = data.extractor
    assert description["fit_images"] == train_rows and description["words"] == 16
    assert data.arrays["codebook"].shape == (16, 128) and "idf" not in data.arrays
    # the stored codebook is the one its description names, and the features its words'
    rebuilt = BoVW.from_state(description, data.arrays)
    test_rows = data.split == "test"
    x = np.stack([checkerboard(i).astype(np.float32) for i in range(6)])
    stored = {row.tobytes() for row in data.features[test_rows]}
    assert {row.tobytes() for row in rebuilt(x)} == stored
    # fit-features on the file keeps those words in its run, for zoo predict
    result = zoo_cli("fit-features", out, "--classifier", "knn", "--output", tmp_path,
                     "--name", "run")
    assert result.code == 0, result.err
    with np.load(tmp_path / "run" / "extractor.npz") as saved:
        np.testing.assert_array_equal(saved["codebook"], data.arrays["codebook"])


def test_predict_through_a_baseline_run_uses_the_stored_words(zoo_cli, tmp_path):
    import joblib

    from zoo.predict.loaders import load_features_predictor
    from zoo.predict.loop import load_image

    root = photo_dataset(tmp_path / "photos")
    result = zoo_cli("baseline", "--features", "rootsift-bovw", "--words", "16", "--tfidf",
                     "--dataset", f"folder:{root}", "--val-split", "0", "--classifier",
                     "logreg", "--output", tmp_path, "--name", "run")
    assert result.code == 0, result.err
    run = RunDir(tmp_path / "run")
    data = read_features(run.features_file)
    with np.load(run.path / "extractor.npz") as saved:
        assert set(saved.files) == {"codebook", "idf"}
        for key in saved.files:
            np.testing.assert_array_equal(saved[key], data.arrays[key])
    assert run.read_metrics()["accuracy"] >= 5 / 6  # china against flower crops
    images = sorted(str(p) for p in (root / "test").rglob("*.png"))
    result = zoo_cli("predict", "--image", *images, "--model", run.path, "--json", "--top",
                     "2")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    # the words at predict time: the features of each image equal a stored test row exactly
    predictor = load_features_predictor(str(run.path))
    features = predictor.model.extractor(np.stack([load_image(p, (SIZE, SIZE, 3))
                                                   for p in images]))
    stored = data.features[data.split == "test"]
    pipeline = joblib.load(run.classifier_file)
    for line, row in zip(lines, features, strict=True):
        assert np.any(np.all(stored == row, axis=1)), line["image"]
        expected = pipeline.predict_proba(row[None])[0]
        got = {p["index"]: p["probability"] for p in line["predictions"]}
        # the same pipeline on the same row: float rounding of its sums alone
        np.testing.assert_allclose([got[0], got[1]], expected, rtol=1e-6)


def test_tfidf_weights_words_by_their_training_document_frequency(fitted):
    images = np.stack([im.astype(np.float32) for im in crops("china.jpg", 4, seed=3)])
    plain = fitted["sift-bovw"]
    weighted = BoVW("sift-bovw", 16, tfidf=True).fit(lambda: [images], 4, seed=0)
    np.testing.assert_array_equal(weighted.codebook, plain.codebook)  # same seed, same words
    documents = (plain._counts(images) > 0).sum(axis=0)
    np.testing.assert_allclose(weighted.idf, np.log(5 / (1 + documents)) + 1, rtol=1e-6)
    new = crops("flower.jpg", 2, seed=1)
    x = np.stack([im.astype(np.float32) for im in new])
    expected = plain._counts(x) * weighted.idf
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(weighted(x), expected, rtol=1e-6)


@pytest.mark.parametrize("words, message", [
    ("0", "--words must be at least 1; got 0"),
    ("-4", "--words must be at least 1; got -4"),
    ("100000", "--words 100000 is more than the"),
])
def test_bad_words_are_one_line_and_leave_nothing(zoo_cli, tmp_path, words, message):
    root = photo_dataset(tmp_path / "photos", train=2, test=1)
    result = zoo_cli("baseline", "--features", "orb-bovw", "--words", words, "--dataset",
                     f"folder:{root}", "--val-split", "0", "--classifier", "knn", "--output",
                     tmp_path / "runs", "--name", "b")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith("zoo: error: ") and message in result.err
    assert not (tmp_path / "runs" / "b").exists()


def test_words_apply_to_bags_of_words_only(zoo_cli, tmp_path):
    result = zoo_cli("extract", "--model", "hog", "--words", "8", "--dataset", "digits",
                     "--output", tmp_path / "f.h5")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--words applies to bags of visual words" in result.err and "not to hog" in result.err


def test_a_run_without_its_codebook_or_with_another_is_refused(zoo_cli, tmp_path):
    root = photo_dataset(tmp_path / "photos", train=2, test=1)
    result = zoo_cli("baseline", "--features", "orb-bovw", "--words", "8", "--dataset",
                     f"folder:{root}", "--val-split", "0", "--classifier", "knn", "--output",
                     tmp_path, "--name", "run")
    assert result.code == 0, result.err
    state = tmp_path / "run" / "extractor.npz"
    image = str(next((root / "test").rglob("*.png")))
    with np.load(state) as saved:
        codebook = saved["codebook"]
    np.savez(state, codebook=codebook[::-1])  # the same words in another order
    result = zoo_cli("predict", "--image", image, "--model", tmp_path / "run")
    assert result.code == 2 and "is not the one they were extracted with" in result.err
    state.unlink()
    result = zoo_cli("predict", "--image", image, "--model", tmp_path / "run")
    assert result.code == 2 and "no extractor.npz" in result.err
    assert result.err.count("\n") == 1
