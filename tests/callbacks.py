"""Keras callbacks that the training tests use to interrupt and observe a run."""

import keras


class StopAfterEpoch(keras.callbacks.Callback):
    """Simulate a disconnect: raise once `epoch` (0-based) has finished."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated disconnect")
