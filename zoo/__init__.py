"""zoo: a Keras model zoo and training CLI."""

__version__ = "0.1.0"
