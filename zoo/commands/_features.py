"""The flags that `zoo extract`, `zoo fit-features` and `zoo baseline` share, and the
extractor they name."""

from __future__ import annotations

from zoo.choices import CLASSIFIERS, POOLINGS
from zoo.commands._common import load_keras
from zoo.errors import ZooError


def add_extractor_args(p, flag: str) -> None:
    from zoo.features.bovw import DEFAULT_WORDS, DENSE_STEP

    p.add_argument(flag, required=True, metavar="NAME|RUN_DIR",
                   help="pixels, colorhist, hog, lbp, hu, sift-bovw, rootsift-bovw, orb-bovw, "
                   "an ImageNet model ('zoo models --pretrained') or a run directory of "
                   "'zoo train'")
    p.add_argument("--layer", help="CNN layer whose output is the feature; without it, "
                   "the input of the model's last Dense layer")
    p.add_argument("--pooling", choices=POOLINGS,
                   help="how a CNN layer's 4-D output becomes a vector; avg when not "
                   "given")
    p.add_argument("--weights", metavar="FILE",
                   help="local weights file of an ImageNet model; without it, the "
                   "ImageNet weights (downloaded once into the Keras cache)")
    p.add_argument("--words", type=int, metavar="K",
                   help="bag of visual words: the codebook's size, learned by k-means on the "
                   f"training split's descriptors; {DEFAULT_WORDS} when not given")
    p.add_argument("--tfidf", action="store_true",
                   help="bag of visual words: weight each word by its inverse document "
                   "frequency on the training split")
    p.add_argument("--dense", action="store_true",
                   help=f"bag of visual words: describe a grid of keypoints every {DENSE_STEP} "
                   "pixels instead of detected ones")


def add_data_args(p) -> None:
    from zoo.config import FIELDS_BY_NAME as F

    p.add_argument("--dataset", required=True, help=F["dataset"].help)
    p.add_argument("--data-dir", metavar="DIR", help=F["data_dir"].help)
    p.add_argument("--limit", type=int, metavar="N", help=F["limit"].help)
    p.add_argument("--classes", metavar="A,B,C", help=F["classes"].help)
    p.add_argument("--per-class", type=int, metavar="N", help=F["per_class"].help)
    p.add_argument("--val-split", type=float, default=F["val_split"].default,
                   help=F["val_split"].help)
    p.add_argument("--seed", type=int, default=F["seed"].default, help=F["seed"].help)
    p.add_argument("--batch-size", type=int, default=64, metavar="N",
                   help="images per extraction batch")


def add_classifier_args(p) -> None:
    p.add_argument("--classifier", required=True, choices=CLASSIFIERS,
                   help="scikit-learn classifier fitted on the features")
    p.add_argument("--grid", action="store_true",
                   help="choose hyper-parameters on the validation split (C; k and the "
                   "metric for knn), then refit on train and validation")


def add_run_args(p) -> None:
    from zoo.config import FIELDS_BY_NAME as F

    p.add_argument("--output", default=F["output"].default, metavar="DIR",
                   help=F["output"].help)
    p.add_argument("--name", help="run directory name (default "
                   "EXTRACTOR-CLASSIFIER-DATASET-YYYYmmdd-HHMMSS)")


def data_kwargs(args) -> dict:
    """What `add_data_args` gave, as `zoo.features.hdf5.extract` takes it."""
    return dict(seed=args.seed, val_split=args.val_split, limit=args.limit,
                data_dir=args.data_dir, classes=args.classes, per_class=args.per_class,
                batch_size=args.batch_size)


def extractor_from_args(name: str, args):
    """The extractor `add_extractor_args` named; Keras loads only for a CNN."""
    from zoo.features.bovw import NAMES as BOVW
    from zoo.features.extractors import CLASSIC, get_extractor

    key = name.lower()
    classic = key in CLASSIC or key in BOVW
    if args.pooling is not None and classic:
        raise ZooError(f"--pooling applies to CNN extractors, not to {key}")
    if key not in BOVW:
        for flag, given in (("--words", args.words is not None), ("--tfidf", args.tfidf),
                            ("--dense", args.dense)):
            if given:
                raise ZooError(f"{flag} applies to bags of visual words ({', '.join(BOVW)}), "
                               f"not to {key if classic else name}")
    elif args.words is not None and args.words < 1:
        raise ZooError(f"--words must be at least 1; got {args.words}")
    if not classic:
        load_keras()
    return get_extractor(name, layer=args.layer, pooling=args.pooling or "avg",
                         weights=args.weights, words=args.words, tfidf=args.tfidf,
                         dense=args.dense)
