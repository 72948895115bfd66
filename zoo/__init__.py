"""zoo: a Keras model zoo and training CLI."""

from zoo.backend import prefer_onednn

__version__ = "0.1.0"

# Before anything of zoo can load TensorFlow: its oneDNN kernels on every x86 CPU, not only
# the AVX-512 ones (zoo.backend.prefer_onednn; TF_ENABLE_ONEDNN_OPTS=0 keeps Eigen's).
prefer_onednn()
