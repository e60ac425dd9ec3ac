"""Overlap file I/O with processing: a reader thread ahead of the work, a writer thread behind.

soundfile and the C core release the GIL, so on two cores a render costs about its slowest
stage instead of the sum of all three. Queues are short, so memory stays a few blocks.
"""
import contextlib
import contextvars
import queue
import threading

_DONE = object()
# Off where whole files already run in parallel (a batch worker per core): the threads would
# only compete with the other workers for the same cores.
_THREADED = contextvars.ContextVar("pymaster_pipeline_threaded", default=True)


@contextlib.contextmanager
def threads(enabled):
    """Within the block, :func:`prefetch` and :class:`BackgroundWriter` use threads or not."""
    token = _THREADED.set(bool(enabled))
    try:
        yield
    finally:
        _THREADED.reset(token)


def prefetch(blocks, depth=3):
    """Iterate `blocks` in a background thread, `depth` items ahead; re-raises its errors here."""
    if not _THREADED.get():
        yield from blocks
        return
    q = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item):  # False once the consumer has gone away
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def run():
        try:
            for item in blocks:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    thread = threading.Thread(target=run, name="pymaster-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundWriter:
    """Calls ``write(block)`` for each :meth:`put` block in a worker thread.

    :meth:`close` waits for the queue to drain and re-raises the worker's first error; a put
    after a failure raises at once. The caller must not modify a block after putting it.
    """

    def __init__(self, write, depth=3):
        self._write = write
        self._queue = queue.Queue(maxsize=depth)
        self._error = None
        self._thread = None
        if _THREADED.get():
            self._thread = threading.Thread(target=self._run, name="pymaster-write", daemon=True)
            self._thread.start()

    def _run(self):
        while True:
            block = self._queue.get()
            if block is _DONE:
                return
            if self._error is None:
                try:
                    self._write(block)
                except BaseException as exc:
                    self._error = exc

    def put(self, block):
        if self._thread is None:  # inline
            self._write(block)
            return
        if self._error is not None:
            self.close()
        self._queue.put(block)

    def close(self):
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self.close()
        elif self._thread is not None and self._thread.is_alive():  # already failing: stop quietly, keep the original error
            self._error = self._error or RuntimeError("abandoned")  # skip the queued writes
            self._queue.put(_DONE)
            self._thread.join()
