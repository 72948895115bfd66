import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from zoo.backend import load_keras  # noqa: E402

load_keras()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def zoo_cli(capsys):
    """Run the real entry point in-process: `zoo_cli("models", "--json")`."""
    from zoo.cli import main

    def run(*argv) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def zoo_subprocess(tmp_path):
    """Run `python -m zoo` as a separate process, as a user would."""

    def run(*argv, cwd=None, timeout=300, env=None) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "zoo", *map(str, argv)],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


needs_graphviz = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz 'dot' is not installed (apt-get install graphviz)"
)


def pytest_collection_finish(session):
    """Start tests/test_backends.py's subprocesses (one per backend) as soon as the tests are
    known, so that they run beside the tests before them instead of after."""
    if session.config.option.collectonly or os.environ.get("PYTEST_XDIST_WORKER"):
        return  # under pytest-xdist each worker collects every test: the fixture starts it
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        module = getattr(item, "module", None)
        if module is not None and module.__name__.endswith("test_backends") and \
                "backend" in params:
            item.module.launch(params["backend"])


@pytest.fixture(scope="session", autouse=True)
def _freeze_what_imports_made():
    """Move every object made by the imports and the collection (TensorFlow's and Keras' own
    included) out of the garbage collector's sight, once: they live as long as the session,
    and walking them made each test's `gc.collect()` (in `clear_session`) cost 0.6 s. The
    collector still frees everything a test makes."""
    import gc

    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Each test starts from a blank Keras state: layer names, the dtype policy and the TF
    graph are reset, and the test's models are garbage-collected (cheaply: see above)."""
    yield
    import keras

    keras.backend.clear_session()


TRAINED_RUN_FLAGS = ("--model", "shallownet", "--dataset", "digits", "--epochs", "1",
                     "--seed", "1", "--checkpoint-every", "1")


def train_in_process(root: Path, name: str, *flags: str) -> Path:
    """`zoo train ... --output root --name name` through the real entry point, in this
    process; its output is kept only to explain a failure."""
    import contextlib
    import io

    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", *flags, "--output", str(root), "--name", name])
    assert code == 0, err.getvalue() or out.getvalue()
    assert out.getvalue().splitlines()[-1] == str(root / name)
    return root / name


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One real run, trained once per session through the real CLI (`TRAINED_RUN_FLAGS`):
    shallownet on the whole of digits (1077 train / 360 val / 360 test images of 8x8x1, ten
    classes "0".."9", scale preprocessing), one epoch, seed 1, with every file `zoo train`
    writes plus the periodic checkpoint `checkpoint/periodic-0001.keras`.

    Read it only: a test that changes a run works on `trained_run_copy`."""
    return train_in_process(tmp_path_factory.mktemp("trained"), "run", *TRAINED_RUN_FLAGS)


@pytest.fixture
def trained_run_copy(trained_run, tmp_path) -> Path:
    """A copy of `trained_run` in this test's `tmp_path` (as `tmp_path / "run"`), to change."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))
