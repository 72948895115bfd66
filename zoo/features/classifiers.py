"""scikit-learn classifiers fitted on extracted features, and the run directory they write.

`fit_features` fits one of `CLASSIFIERS` on the train rows of a features file. With `grid`,
hyper-parameters are chosen by `GridSearchCV` over a `PredefinedSplit`: fitted on train,
scored on validation, then refitted on both; the test rows are used once, for the final
report. The run directory holds, beside metrics.json, classification_report.txt and
confusion_matrix.png:

    labels.json          class names and the extractor's input shape
    classifier.joblib    the fitted pipeline (scaler and classifier)
    extractor.keras      the feature model of a CNN extractor (classic ones need no file)
    extractor.npz        the fitted state of a bag of visual words (its codebook, and IDF):
                         the words `zoo predict` assigns are the ones the features used
    features.json        the extractor's description, the classifier and its parameters;
                         written last, it marks a features run (`zoo predict --model RUN`)

`linearsvm` has no probabilities: its class scores are the softmax of its decision function,
which ranks the classes as the SVM does (rank-1 and rank-5 accuracy are exact; the loss is
only indicative).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from zoo.choices import CLASSIFIERS
from zoo.errors import ZooError

log = logging.getLogger("zoo")

EXTRACTOR_STATE = "extractor.npz"  # in a features run, beside classifier.joblib


def make_pipeline(name: str, seed: int = 42):
    """The untrained pipeline of classifier `name`: standardised features for the linear
    models (their regularisation and solvers assume comparable scales), raw features for
    k-NN (its distances are the descriptor's own) and random forests (scale-free)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "logreg":
        steps = [("scaler", StandardScaler()),
                 ("classifier", LogisticRegression(C=1.0, max_iter=1000, random_state=seed))]
    elif name == "linearsvm":
        steps = [("scaler", StandardScaler()),
                 ("classifier", LinearSVC(C=1.0, max_iter=5000, random_state=seed))]
    elif name == "knn":
        steps = [("classifier", KNeighborsClassifier(n_neighbors=1))]
    elif name == "randomforest":
        steps = [("classifier", RandomForestClassifier(n_estimators=200, random_state=seed,
                                                       n_jobs=1))]
    else:
        raise ZooError(f"unknown classifier '{name}'; choose one of {', '.join(CLASSIFIERS)}")
    return Pipeline(steps)


def param_grid(name: str, train_rows: int) -> dict:
    """The hyper-parameters `--grid` searches for classifier `name`."""
    if name in ("logreg", "linearsvm"):
        return {"classifier__C": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]}
    if name == "knn":
        ks = [k for k in (1, 3, 5, 7, 9, 15) if k <= train_rows] or [1]
        return {"classifier__n_neighbors": ks,
                "classifier__metric": ["euclidean", "manhattan", "cosine"]}
    return {"classifier__n_estimators": [100, 300],
            "classifier__max_features": ["sqrt", "log2"]}


def class_scores(model, features: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) probabilities (or softmaxed decision scores) of a fitted pipeline,
    with a column for every class, including those the training rows lacked."""
    if hasattr(model, "predict_proba"):
        scores = model.predict_proba(features)
    else:
        d = np.asarray(model.decision_function(features), dtype=np.float64)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1)
        d = np.exp(d - d.max(axis=1, keepdims=True))
        scores = d / d.sum(axis=1, keepdims=True)
    full = np.zeros((len(features), num_classes))
    full[:, np.asarray(model.classes_, dtype=np.int64)] = scores
    return full


def fit(name: str, train: tuple, val: tuple | None, grid: bool, seed: int = 42):
    """Fit classifier `name` on `train` `(X, y)`; with `grid`, choose its hyper-parameters
    on `val` and refit on train and validation together. Only these rows are seen.

    Returns:
        The fitted pipeline, the chosen parameters and the validation accuracy (or `None`).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    x_train, y_train = train
    pipeline = make_pipeline(name, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if grid:
            if val is None or not len(val[0]):
                raise ZooError("--grid chooses hyper-parameters on the validation split, and "
                               "these features have none: extract with --val-split above 0")
            x = np.concatenate([x_train, val[0]])
            y = np.concatenate([y_train, val[1]])
            folds = np.r_[np.full(len(x_train), -1), np.zeros(len(val[0]), dtype=int)]
            search = GridSearchCV(pipeline, param_grid(name, len(x_train)),
                                  cv=PredefinedSplit(folds), scoring="accuracy", refit=True,
                                  n_jobs=1, error_score="raise")
            search.fit(x, y)
            model, params = search.best_estimator_, dict(search.best_params_)
            val_accuracy = float(search.best_score_)
        else:
            model = pipeline.fit(x_train, y_train)
            params = {}
            val_accuracy = (float(model.score(*val)) if val is not None and len(val[0])
                            else None)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("%s did not fully converge; --grid may find a better regularisation", name)
    chosen = {k.removeprefix("classifier__"): v for k, v in params.items()}
    return model, chosen, val_accuracy


def new_run(output: str | Path, name: str):
    """A new, empty run directory `output/name` (`zoo.run.RunDir.create`), refused in this
    command's words when it exists."""
    from zoo.run import RunDir

    path = Path(output) / name
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ZooError(f"run directory {path} already exists; choose another --name or "
                       "--output")
    return RunDir.create(output, name)


def default_name(description: dict, classifier: str, dataset: str) -> str:
    kind = dataset.split(":")[0]
    return f"{description['name']}-{classifier}-{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def fit_features(features_file: str | Path, classifier: str, *, grid: bool = False,
                 output: str | Path = "output", name: str | None = None, run=None,
                 seed: int = 42, extractor=None, console=None) -> tuple:
    """Fit `classifier` on a features file (`zoo extract`), evaluate it once on the test split
    (validation when there is none) and write a features run directory.

    Args:
        features_file: the `.h5` file of `zoo extract`.
        classifier: one of `CLASSIFIERS`.
        grid: choose hyper-parameters on the validation split. Defaults to `False`.
        output: the parent of the run directory. Defaults to `"output"`.
        name: the run directory's name. Defaults to `EXTRACTOR-CLASSIFIER-DATASET-TIME`.
        run: an existing `RunDir` to write into instead (`zoo baseline`).
        seed: seeds the classifiers that draw random numbers. Defaults to `42`.
        extractor: the extractor the features came from, when the caller has it (`zoo
            baseline`). Defaults to `None` (rebuilt from the file's description).
        console: a rich console for the summary table. Defaults to `None` (no table).

    Returns:
        The `RunDir` and the metrics written to its metrics.json.
    """
    import joblib

    from zoo.card import ModelCard
    from zoo.evaluation import evaluate_predictions, print_summary, write_report
    from zoo.features.extractors import from_description
    from zoo.features.hdf5 import read_features
    from zoo.io import atomic_path, write_json

    if classifier not in CLASSIFIERS:
        raise ZooError(f"unknown classifier '{classifier}'; choose one of "
                       f"{', '.join(CLASSIFIERS)}")
    data = read_features(features_file)
    description = data.extractor
    if extractor is None:  # before fitting: fail fast if its source is gone
        extractor = from_description(description, arrays=data.arrays)
    if extractor.dim != data.features.shape[1]:
        raise ZooError(f"{features_file}: features have {data.features.shape[1]} values, the "
                       f"extractor {description['name']} gives {extractor.dim}")
    train, val, test = (data.part(which) for which in ("train", "val", "test"))
    if not len(train[0]):
        raise ZooError(f"{features_file} has no training rows")
    if run is None:  # before fitting: a name already taken fails at once
        run = new_run(output, name or default_name(description, classifier,
                                                   str(data.attrs.get("dataset", ""))))
    started = time.perf_counter()
    model, params, val_accuracy = fit(classifier, train, val if len(val[0]) else None, grid,
                                      seed)
    fit_seconds = time.perf_counter() - started
    which, (x_eval, y_eval) = ("test", test) if len(test[0]) else ("val", val)
    if which == "val":
        log.warning("%s has no test split: reporting on validation%s", features_file,
                    " (which --grid chose on: optimistic)" if grid else "")
    if not len(x_eval):
        raise ZooError(f"{features_file} has neither test nor validation rows to evaluate on")
    probs = class_scores(model, x_eval, len(data.label_names))
    result = evaluate_predictions(probs, y_eval, data.label_names)

    try:
        with atomic_path(run.classifier_file) as tmp:
            joblib.dump(model, tmp)
    except BaseException:
        run.discard_if_empty()  # the run's first file: a full disk leaves no empty run
        raise
    if description["kind"] == "cnn":
        with atomic_path(run.extractor_model) as tmp:
            extractor.model.save(tmp)
    if data.arrays:  # the fitted state the features were made with, not a refit
        with atomic_path(run.path / EXTRACTOR_STATE) as tmp, open(tmp, "wb") as out:
            np.savez(out, **data.arrays)
    preprocessing = description["preprocessing"] if description["kind"] == "cnn" else "raw"
    run.write_card(ModelCard(list(data.label_names), tuple(extractor.input_shape),
                             preprocessing=preprocessing, mean=None,
                             dataset=str(data.attrs.get("dataset") or "") or None))
    extra = {"split": which, "model": f"{description['name']}+{classifier}",
             "extractor": description["name"], "layer": description.get("layer"),
             "pooling": description.get("pooling"), "classifier": classifier,
             "params": params, "grid": grid, "val_accuracy": val_accuracy,
             "features_file": str(Path(features_file).resolve()),
             "dataset": data.attrs.get("dataset"), "fit_seconds": round(fit_seconds, 3),
             "train_rows": int(len(train[0])), "dim": int(data.features.shape[1])}
    metrics = write_report(run, result, extra, data.label_names)
    # written last: its presence says the run is whole and is a features run
    write_json(run.features_json, {"extractor": description, "classifier": classifier,
                                   "params": params, "dim": int(data.features.shape[1])})
    from zoo.report import features_evaluated, write_page

    write_page(run, lambda: features_evaluated(run, which, probs))
    if console is not None:
        print_summary(metrics, console)
    return run, metrics


def baseline(extractor, dataset: str, classifier: str, *, output: str | Path,
             name: str | None = None, grid: bool = False, seed: int, console=None,
             **extract_options) -> tuple:
    """Extract `dataset`'s features with `extractor` into a new run directory (kept there as
    `features.h5`), then `fit_features` on them into the same run: `zoo baseline`.

    `seed` serves both steps; `extract_options` are `zoo.features.hdf5.extract`'s (val_split,
    limit, data_dir, classes, per_class, batch_size), the others `fit_features`'. When the
    extraction fails before writing anything, the empty run directory is removed.

    Returns:
        The `RunDir` and the metrics written to its metrics.json.
    """
    from zoo.features.hdf5 import extract

    run = new_run(output, name or default_name(extractor.describe(), classifier, dataset))
    try:
        extract(extractor, dataset, run.features_file, seed=seed, **extract_options)
    except BaseException:
        run.discard_if_empty()  # nothing written: leave no half run behind
        raise
    return fit_features(run.features_file, classifier, grid=grid, run=run, seed=seed,
                        extractor=extractor, console=console)


class FeaturesModel:
    """An extractor and a fitted pipeline, with `predict` as a Keras model has it."""

    def __init__(self, extractor, pipeline, num_classes: int):
        self.extractor, self.pipeline, self.num_classes = extractor, pipeline, num_classes

    def predict(self, images: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        features = np.concatenate([self.extractor(images[start : start + batch_size])
                                   for start in range(0, len(images), batch_size)])
        return class_scores(self.pipeline, features, self.num_classes)


def is_features_run(path: str | Path) -> bool:
    from zoo.run import RunDir

    return Path(path).is_dir() and RunDir(path).features_json.is_file()


def open_features_run(run, classes: int) -> FeaturesModel:
    """The extractor and the fitted classifier of the features run `run` (a `RunDir`), as
    one model of `classes` outputs (`zoo.predict.loaders` gives it its card)."""
    import joblib

    from zoo.features.extractors import from_description

    info = json.loads(run.features_json.read_text())
    if not run.classifier_file.is_file():
        raise ZooError(f"{run}: no {run.classifier_file.name} (a features run of "
                       "'zoo fit-features' that did not finish?)")
    description = info["extractor"]
    model_file = run.extractor_model if description["kind"] == "cnn" else None
    if model_file is not None and not model_file.is_file():
        raise ZooError(f"{run}: no {model_file.name}, the feature model its classifier needs")
    arrays = None
    if description["kind"] == "bovw":
        state_file = run.path / EXTRACTOR_STATE
        if not state_file.is_file():
            raise ZooError(f"{run}: no {EXTRACTOR_STATE}, the codebook its classifier needs")
        with np.load(state_file, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
    extractor = from_description(description, model_file, arrays)
    return FeaturesModel(extractor, joblib.load(run.classifier_file), classes)
