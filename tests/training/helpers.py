"""What the training tests share: a crash after a given epoch, and a checkpoint's weights."""

from __future__ import annotations


class Crash(Exception):
    pass


def crash_after(epochs: int):
    """A callback that raises `Crash` at the end of epoch `epochs` (after its checkpoint)."""
    import keras

    class CrashAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                raise Crash

    return CrashAfter()


def checkpoint_weights(run, epoch, kind="epoch"):
    """Weights of the checkpoint `checkpoint/{kind}-{epoch:04d}.keras` (epoch or periodic)."""
    import keras

    model = keras.saving.load_model(run / "checkpoint" / f"{kind}-{epoch:04d}.keras")
    return model.get_weights()
