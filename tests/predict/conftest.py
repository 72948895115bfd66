import pytest

from tests.predict.helpers import make_export_run, make_run


@pytest.fixture(scope="session")
def predict_run(tmp_path_factory):
    """One run made directly (`make_run`), shared by the tests that only read it: `(run,
    model)`."""
    return make_run(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """One run to export (`make_export_run`), exported by `zoo.export.export` once per format
    on demand: `(run, model, export)` with `export(fmt) -> path`. The tests only read the
    files (a test that edits one edits a copy)."""
    from zoo.export import export

    run, model = make_export_run(tmp_path_factory.mktemp("exported"))
    done = {}

    def export_once(fmt):
        if fmt not in done:
            done[fmt] = export(str(run.path), fmt).path
        return done[fmt]

    return run, model, export_once
