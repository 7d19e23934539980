"""Ctrl-C while training: a press is never lost.

Python turns Ctrl-C (SIGINT) into a KeyboardInterrupt wherever the main thread happens to be. Where
that is a finalizer (a weakref callback, ``__del__``), Python prints "Exception ignored" and drops
it; code that catches every exception while TensorFlow traces a function may drop it too — and the
run then trained every epoch to the end as if nothing was pressed. :func:`remembered` notes each
press before raising it, and :class:`CtrlC` (a Keras callback) raises it again at the next batch or
epoch boundary when it was dropped, so training always stops at the press (the epoch in progress
abandoned, every finished one kept, as ``layerkit train`` promises).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import keras


class CtrlC(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the next boundary once Ctrl-C was pressed."""

    def __init__(self) -> None:
        super().__init__()
        self.pressed = False

    def press(self, signum: int, frame: Any) -> None:
        """The SIGINT handler: remember the press, then interrupt as Python would."""
        self.pressed = True
        raise KeyboardInterrupt

    def check(self, *args: Any, **kwargs: Any) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    # not at validation batches: a hook there would make Keras call every callback's
    # on_test_batch_end in step (TerminateOnNaN already keeps the training batches in step)
    on_train_begin = on_epoch_begin = on_epoch_end = on_train_batch_end = on_test_begin = check


@contextlib.contextmanager
def remembered(callback: CtrlC) -> Iterator[None]:
    """Within this block Ctrl-C is remembered by ``callback`` — in the main thread only (Python
    delivers signals nowhere else, as in a Ray worker's thread), and not where SIGINT is ignored
    (a job started in the background by a script): there nothing changes."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGINT, callback.press)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
