"""Bags of visual words: local descriptors (SIFT, RootSIFT, ORB) pooled over a codebook.

Unlike the other extractors a bag of visual words must be fitted before it describes
anything: `BoVW.fit` learns the codebook (scikit-learn's `MiniBatchKMeans`, seeded) on the
descriptors of the TRAINING images only, and, with `tfidf`, the inverse document frequency
of each word on the same images. `zoo.features.hdf5.extract` calls it on the train split
before it extracts any row. The fitted arrays (`state()`: `codebook` and `idf`) are stored
with the features (the features file's `extractor` group) and with a features run
(`extractor.npz`), and `describe()` carries their SHA-256, so that `zoo fit-features` and
`zoo predict --model RUN` rebuild the very same words (`from_state` refuses other arrays).

    sift-bovw       SIFT (Lowe 2004) on the 128x128 gray image: 128 values a keypoint
    rootsift-bovw   RootSIFT (Arandjelovic & Zisserman 2012): each SIFT descriptor
                    L1-normalised, then its square root, so that Euclidean distances between
                    them are Hellinger distances between the SIFT histograms
    orb-bovw        ORB (Rublee et al. 2011), 15-pixel patches: its 256 binary tests
                    unpacked to 0/1 values. k-means on binary descriptors treated as floats
                    is the common approximation (centroids are fractional, not binary
                    strings); on 0/1 vectors the squared Euclidean distance equals the
                    Hamming distance, so the assignment is the one ORB's own metric makes

Input: every image is described at 128x128 gray. Fashion-MNIST's 28x28 images yield about
1 SIFT keypoint at their own size and about 33 once upscaled (113 ORB keypoints), while
larger sizes add time but few keypoints. `dense` replaces the detector by a grid of upright
keypoints every 8 pixels, whose descriptors read a 32x32 window (SIFT, RootSIFT) or ORB's
15x15 patch, and stay inside the image: up to 169 a 128x128 image; those on a flat window
(no gradient: a zero descriptor) are left out, as a detector would, so a blank image has
none. On 500 Fashion-MNIST images against 500 (128 words), dense SIFT's k-NN accuracy was
0.68, 0.71, 0.73, 0.74 and 0.74 with windows of 16, 24, 32, 48 and 64 pixels, against 0.35
for detected keypoints; ORB's 0.59 dense (0.60 with 31-pixel patches) against 0.38.

Histogram: the count of each word among the image's descriptors (times its IDF with
`tfidf`), L2-normalised. L2, not L1: k-NN on L2-normalised histograms ranks by cosine
similarity, the usual comparison of bags of words (Sivic & Zisserman 2003), and an image's
vector no longer depends on how many keypoints it has; the linear SVM standardises its
inputs anyway. An image with no keypoint (a blank one) gets an all-zero histogram.

The codebook is learned on at most `MAX_FIT_DESCRIPTORS` descriptors: when the training
images hold more, each contributes at most its even share, drawn with the seed, which keeps
memory bounded (100,000 x 128 floats = 51 MB) whatever the dataset's size.

This module imports numpy, OpenCV and scikit-learn only when it describes or fits, so that
the command parsers can read its names and defaults (`zoo --help` answers at once).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from zoo.errors import ZooError

if TYPE_CHECKING:  # imported where used: the command parsers import this module
    import numpy as np

NAMES = ("sift-bovw", "rootsift-bovw", "orb-bovw")
DEFAULT_WORDS = 256
SIZE = 128  # the side of the gray image every descriptor is computed on
DENSE_STEP = 8  # pixels between dense keypoints
DENSE_SUPPORT = 32  # the side of a dense SIFT descriptor's window in pixels
ORB_PATCH = 15  # ORB's patch (and edge threshold): 31, its default, leaves 5% of
# upscaled Fashion-MNIST images without a keypoint at 128x128; 15 leaves under 1%
MAX_FIT_DESCRIPTORS = 100_000
IDF_NAME, CODEBOOK_NAME = "idf", "codebook"
DESCRIPTORS = {"sift-bovw": "SIFT", "rootsift-bovw": "RootSIFT", "orb-bovw": "ORB"}


class BoVW:
    """A bag of visual words over SIFT, RootSIFT or ORB descriptors (see the module).

    Args:
        name: one of `NAMES`.
        words: the codebook's size K, the features' length. Defaults to `DEFAULT_WORDS`.
        tfidf: weight each word by its inverse document frequency on the training images.
            Defaults to `False`.
        dense: describe a grid of keypoints every `DENSE_STEP` pixels instead of detected
            ones. Defaults to `False`.
    """

    needs_fit = True

    def __init__(self, name: str, words: int = DEFAULT_WORDS, tfidf: bool = False,
                 dense: bool = False):
        if name not in NAMES:
            raise ZooError(f"unknown bag of visual words '{name}'; choose one of "
                           f"{', '.join(NAMES)}")
        if isinstance(words, bool) or not isinstance(words, int) or words < 1:
            raise ZooError(f"--words must be a whole number of at least 1; got {words}")
        self.name, self.words, self.tfidf, self.dense = name, words, bool(tfidf), bool(dense)
        self.input_shape = (SIZE, SIZE, 3)
        self.dim = words
        self.codebook: np.ndarray | None = None  # (K, descriptor length) float32
        self.idf: np.ndarray | None = None  # (K,) float32, with tfidf
        self.seed: int | None = None
        self.fit_descriptors = 0  # how many descriptors the codebook was learned on
        self.fit_images = 0
        self._detector = None

    # -- descriptors ------------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return self.codebook is not None

    def _make_detector(self):
        import cv2

        if self._detector is None:
            if self.name == "orb-bovw":
                self._detector = cv2.ORB_create(nfeatures=500, edgeThreshold=ORB_PATCH,
                                                patchSize=ORB_PATCH)
            else:
                self._detector = cv2.SIFT_create()
        return self._detector

    def _grid(self, gray: np.ndarray) -> list:
        """The dense keypoints of `gray` whose support is not flat: a flat patch has no
        gradient (a zero SIFT descriptor) and is no keypoint, so a blank image has none."""
        import cv2
        import numpy as np

        if self.name == "orb-bovw":
            # ORB drops keypoints whose rotated patch would leave the image: keep inside
            margin, half, size = ORB_PATCH, ORB_PATCH // 2 + 1, ORB_PATCH
        else:
            # OpenCV's SIFT descriptor spans 4 cells of 3 x size / 2 pixels: size / 6 makes
            # them span the window (a keypoint of size 32 would read a 192-pixel one)
            margin = half = DENSE_SUPPORT // 2
            size = DENSE_SUPPORT / 6
        return [cv2.KeyPoint(float(x), float(y), size, 0)
                for y in range(margin, SIZE - margin + 1, DENSE_STEP)
                for x in range(margin, SIZE - margin + 1, DENSE_STEP)
                if np.ptp(gray[max(0, y - half) : y + half, max(0, x - half) : x + half]) > 0]

    def descriptors(self, gray: np.ndarray) -> np.ndarray:
        """The float32 descriptors `(n, length)` of one uint8 gray image at `SIZE`; `(0,
        length)` when it has no keypoint."""
        import numpy as np

        detector = self._make_detector()
        if self.dense:
            grid = self._grid(gray)
            _, found = detector.compute(gray, grid) if grid else (grid, None)
        else:
            _, found = detector.detectAndCompute(gray, None)
        length = 256 if self.name == "orb-bovw" else 128
        if found is None or not len(found):
            return np.zeros((0, length), np.float32)
        if self.name == "orb-bovw":
            # 32 bytes of binary tests -> 256 values of 0/1 (squared distance = Hamming)
            return np.unpackbits(found, axis=1).astype(np.float32)
        found = found.astype(np.float32)
        if self.name == "rootsift-bovw":
            found = rootsift(found)
        return found

    def _grays(self, images: np.ndarray) -> np.ndarray:
        from zoo.features.extractors import _gray

        gray = _gray(images)
        if gray.shape[1:] != (SIZE, SIZE):
            raise ZooError(f"{self.name} takes {SIZE}x{SIZE} images; got "
                           f"{gray.shape[2]}x{gray.shape[1]}")
        return gray

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, batches: Callable[[], Iterable[np.ndarray]], count: int, seed: int) -> BoVW:
        """Learn the codebook (and the IDF with `tfidf`) on training images.

        Args:
            batches: called with no argument, yields float32 0-255 batches `(n, SIZE, SIZE,
                3)` of the training images; called twice with `tfidf` (the IDF needs the
                words, which need the codebook).
            count: how many training images `batches` yields, which sets each image's share
                of `MAX_FIT_DESCRIPTORS`.
            seed: seeds the share drawn and `MiniBatchKMeans`.

        Returns:
            `self`, fitted.

        Raises:
            ZooError: the training images hold fewer descriptors than `words`.
        """
        import numpy as np
        from sklearn.cluster import MiniBatchKMeans

        share = max(1, math.ceil(MAX_FIT_DESCRIPTORS / max(count, 1)))
        rng = np.random.default_rng(seed)
        kept, images = [], 0
        for batch in batches():
            for gray in self._grays(batch):
                found = self.descriptors(gray)
                if len(found) > share:
                    found = found[np.sort(rng.choice(len(found), share, replace=False))]
                kept.append(found)
                images += 1
        sample = np.concatenate(kept) if kept else np.zeros((0, 1), np.float32)
        if len(sample) < self.words:
            raise ZooError(f"--words {self.words} is more than the {len(sample)} "
                           f"{DESCRIPTORS[self.name]} descriptors of the "
                           f"{images} training images; give fewer words (or more images)")
        # distinct descriptors fewer than K leave duplicate centres: scikit-learn says so
        kmeans = MiniBatchKMeans(n_clusters=self.words, random_state=seed, n_init=3,
                                 batch_size=2048)
        with _one_thread():
            kmeans.fit(sample)
        self.codebook = kmeans.cluster_centers_.astype(np.float32)
        self.seed, self.fit_descriptors, self.fit_images = seed, len(sample), images
        self.idf = None
        if self.tfidf:
            documents = np.zeros(self.words, np.float64)
            for batch in batches():
                documents += (self._counts(batch) > 0).sum(axis=0)
            # scikit-learn's smooth IDF: finite for a word no image holds, 1 for one all hold
            self.idf = (np.log((1 + images) / (1 + documents)) + 1).astype(np.float32)
        return self

    def _words(self, found: np.ndarray) -> np.ndarray:
        """The index of the nearest codeword of each descriptor."""
        import numpy as np

        if not len(found):
            return np.zeros(0, np.int64)
        # in float64: a product's rounding may depend on how many rows it has (BLAS blocks
        # by size), and a batch of extraction and one of zoo predict differ; 1e-16 relative
        # errors leave only exact ties to chance, so an image gets the same words in both
        codebook = self.codebook.astype(np.float64)
        # |d - c|^2 = |d|^2 - 2 d.c + |c|^2; |d|^2 is the same for every c of one d
        distances = (codebook * codebook).sum(axis=1) - 2.0 * (found @ codebook.T)
        return np.argmin(distances, axis=1)

    # -- describing -------------------------------------------------------------------------

    def _counts(self, images: np.ndarray) -> np.ndarray:
        """(N, words) counts of each word among each image's descriptors."""
        import numpy as np

        found = [self.descriptors(gray) for gray in self._grays(np.asarray(images))]
        owner = np.repeat(np.arange(len(found)), [len(d) for d in found])
        # one assignment for the whole batch: a matrix product per image costs more in calls
        words = (self._words(np.concatenate(found).astype(np.float64)) if len(owner)
                 else owner)
        counts = np.zeros((len(found), self.words), np.float32)
        np.add.at(counts, (owner, words), 1.0)
        return counts

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features `(N, words)` of float32 0-255 images `(N, SIZE, SIZE, C)`: each image's
        word counts (times the IDF with tfidf), L2-normalised; all zero without keypoints."""
        import numpy as np

        if not self.fitted:
            raise ZooError(f"{self.name} has no codebook yet: it is learned on a training "
                           "split by 'zoo extract' or 'zoo baseline'")
        with _one_thread():
            counts = self._counts(images)
        if self.idf is not None:
            counts *= self.idf
        norms = np.linalg.norm(counts, axis=1, keepdims=True)
        return (counts / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays that `from_state` takes back: `codebook`, and `idf` with tfidf."""
        if not self.fitted:
            return {}
        arrays = {CODEBOOK_NAME: self.codebook}
        if self.idf is not None:
            arrays[IDF_NAME] = self.idf
        return arrays

    def describe(self) -> dict:
        detector = DESCRIPTORS[self.name]
        keypoints = f"dense every {DENSE_STEP} px" if self.dense else "detected keypoints"
        return {"kind": "bovw", "name": self.name, "input_shape": list(self.input_shape),
                "dim": self.dim, "layer": None, "pooling": None, "words": self.words,
                "tfidf": self.tfidf, "dense": self.dense, "seed": self.seed,
                "fit_images": self.fit_images, "fit_descriptors": self.fit_descriptors,
                "state_sha256": state_digest(self.state()) if self.fitted else None,
                "preprocessing": f"{SIZE}x{SIZE} gray, {detector} on {keypoints}, "
                f"{self.words} words{', TF-IDF' if self.tfidf else ''}, L2"}

    @classmethod
    def from_state(cls, description: dict, arrays: dict) -> BoVW:
        """The fitted extractor that `describe()` described, from its `state()` arrays;
        a one-line `ZooError` when they are missing or are not the ones it was fitted with."""
        import numpy as np

        extractor = cls(description["name"], int(description["words"]),
                        bool(description["tfidf"]), bool(description["dense"]))
        if CODEBOOK_NAME not in arrays or (extractor.tfidf and IDF_NAME not in arrays):
            raise ZooError(f"the {description['name']} features came without their codebook "
                           "(extract them again with 'zoo extract')")
        state = {key: np.asarray(arrays[key], np.float32) for key in (CODEBOOK_NAME, IDF_NAME)
                 if key in arrays}
        if state_digest(state) != description.get("state_sha256"):
            raise ZooError(f"the codebook beside the {description['name']} features is not "
                           "the one they were extracted with (extract them again)")
        extractor.codebook = state[CODEBOOK_NAME]
        extractor.idf = state.get(IDF_NAME) if extractor.tfidf else None
        extractor.seed = description.get("seed")
        extractor.fit_images = int(description.get("fit_images") or 0)
        extractor.fit_descriptors = int(description.get("fit_descriptors") or 0)
        return extractor


def _one_thread():
    """BLAS and OpenMP on one thread: the products here are small (a batch's descriptors
    against K words) and k-means' mini-batches too, and threads woken for each cost more
    than they save; on a busy 2-core machine, 300 Fashion-MNIST images took 5.2 s to
    describe with 2 threads and 0.3 s with one (ORB, 64 words)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def rootsift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT of SIFT descriptors `(n, 128)`: each row L1-normalised, then its element-wise
    square root, so each non-zero row has unit L2 norm (a zero row stays zero)."""
    import numpy as np

    sums = np.abs(descriptors).sum(axis=1, keepdims=True)
    return np.sqrt(descriptors / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def state_digest(arrays: dict) -> str:
    """SHA-256 of fitted arrays (name, shape and float32 bytes, in name order)."""
    import numpy as np

    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key], dtype=np.float32)
        digest.update(f"{key}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
