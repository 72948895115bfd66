import pytest


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """tests/conftest.py's fixture of the same name, without its full garbage collection:
    `clear_session()` runs `gc.collect()`, which walks every object TensorFlow and Keras
    allocated at import (0.6 s a test, most of this folder's time), while the state a test
    can leak behind it (layer names, the TF graph, kernel caches) is reset all the same."""
    yield
    import keras

    keras.backend.clear_session(free_memory=False)
